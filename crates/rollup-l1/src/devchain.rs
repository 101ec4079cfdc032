//! A local L1: a pinned `anvil` on a free loopback port, one per caller, stopped on drop, with
//! control over its clock. The devnet runs on it and every chain test gets its own.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use alloy::{
    primitives::{Address, U256},
    providers::{DynProvider, Provider},
    signers::local::PrivateKeySigner,
    transports::http::reqwest::Url,
};

/// The anvil release this project is tested with (npm `@foundry-rs/anvil-linux-amd64`).
pub const ANVIL_VERSION: &str = "1.7.1";
const ANVIL_PACKAGE: &str = "@foundry-rs/anvil-linux-amd64";

/// The private keys of anvil's default development accounts (its well-known test mnemonic).
/// They hold ETH on every anvil chain; never use them anywhere else.
pub const DEV_KEYS: [&str; 10] = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
];

/// Why a local chain could not be started or driven.
#[derive(Debug, thiserror::Error)]
pub enum DevChainError {
    /// The pinned anvil is not installed and installing it failed.
    #[error("cannot install anvil {ANVIL_VERSION} with npm: {0}")]
    Install(String),
    /// anvil did not start.
    #[error("anvil did not start: {0}")]
    Start(String),
    /// The port asked for is taken.
    #[error(
        "anvil cannot listen on 127.0.0.1:{port}: the port is in use{}; a devnet killed with SIGKILL leaves its anvil running: stop that process, or choose another port",
        match owner { Some(owner) => format!(" by {owner}"), None => String::new() }
    )]
    PortInUse {
        /// The port.
        port: u16,
        /// The process listening on it (`pid 123 (anvil --port …)`), when it can be found.
        owner: Option<String>,
    },
    /// A call to anvil failed.
    #[error("anvil RPC: {0}")]
    Rpc(#[from] alloy::transports::TransportError),
}

/// The folder the project's scripts and this module share for pinned tools.
fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PC_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    home.join(".cache/prover-coordination")
}

/// The folder `npm/<name>` of the tools cache, filled once by `fill` (given an empty folder to
/// fill, say with `npm install --prefix`): into a temporary folder renamed into place, so
/// concurrent callers do not collide.
pub fn cached_tool(name: &str, fill: impl FnOnce(&Path) -> Result<(), String>) -> Result<PathBuf, DevChainError> {
    let dir = cache_dir().join("npm").join(name);
    if dir.join(".installed").exists() {
        return Ok(dir);
    }
    let parent = dir.parent().ok_or_else(|| DevChainError::Install("no cache folder".into()))?;
    std::fs::create_dir_all(parent).map_err(|e| DevChainError::Install(e.to_string()))?;
    // Unique to this call: threads of one process may install at once.
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let staging = parent.join(format!(".staging-{}-{call}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(|e| DevChainError::Install(e.to_string()))?;
    if let Err(error) = fill(&staging) {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(DevChainError::Install(error));
    }
    let _ = std::fs::write(staging.join(".installed"), "");
    if std::fs::rename(&staging, &dir).is_err() {
        // Another process installed it first; use theirs.
        let _ = std::fs::remove_dir_all(&staging);
    }
    if dir.join(".installed").exists() {
        Ok(dir)
    } else {
        Err(DevChainError::Install(format!("{} is not a finished install", dir.display())))
    }
}

/// Runs `npm` with `args` in `dir`.
pub fn npm(dir: &Path, args: &[&str]) -> Result<(), String> {
    let status = Command::new("npm").args(args).current_dir(dir).status().map_err(|e| format!("npm: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("npm {} exited with {status}", args.join(" "))) }
}

/// The pinned anvil binary: `ANVIL_BIN` if set, else the cached npm package, installed on first
/// use.
pub fn anvil_binary() -> Result<PathBuf, DevChainError> {
    if let Some(bin) = std::env::var_os("ANVIL_BIN") {
        return Ok(PathBuf::from(bin));
    }
    let dir = cached_tool(&format!("{}-{ANVIL_VERSION}", ANVIL_PACKAGE.replace('/', "_")), |staging| {
        let prefix = staging.display().to_string();
        let package = format!("{ANVIL_PACKAGE}@{ANVIL_VERSION}");
        npm(staging, &["install", "--silent", "--no-audit", "--no-fund", "--prefix", &prefix, &package])
    })?;
    let bin = dir.join("node_modules").join(ANVIL_PACKAGE).join("bin/anvil");
    if bin.exists() { Ok(bin) } else { Err(DevChainError::Install(format!("{} missing after install", bin.display()))) }
}

/// The process listening on loopback TCP `port`, as `pid N (its command line)`, read from
/// `/proc` (Linux; `None` elsewhere, or when the process belongs to another user).
fn listener_on(port: u16) -> Option<String> {
    // The socket's inode, from the table of TCP sockets: local address `ADDR:PORT` in hex, state
    // 0A (listening), inode in the tenth column.
    let inode = ["/proc/net/tcp", "/proc/net/tcp6"].iter().find_map(|table| {
        std::fs::read_to_string(table).ok()?.lines().skip(1).find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local_port = u16::from_str_radix(fields.get(1)?.rsplit(':').next()?, 16).ok()?;
            (local_port == port && *fields.get(3)? == "0A").then(|| fields.get(9).map(|i| (*i).to_owned())).flatten()
        })
    })?;
    let socket = format!("socket:[{inode}]");
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        let owns = std::fs::read_dir(entry.path().join("fd"))
            .ok()?
            .flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target.as_os_str() == socket.as_str()));
        owns.then(|| {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let command = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            format!("pid {pid} ({})", command.trim())
        })
    })
}

/// How to start anvil.
#[derive(Clone, Debug)]
pub struct AnvilOptions {
    /// The chain id.
    pub chain_id: u64,
    /// Also mine a block every this many seconds (transactions are still mined at once).
    pub block_time: Option<u64>,
    /// Loopback port; 0 picks a free one.
    pub port: u16,
}

impl Default for AnvilOptions {
    fn default() -> Self {
        Self { chain_id: 31337, block_time: None, port: 0 }
    }
}

/// A running anvil. Dropping it stops the process.
#[derive(Debug)]
pub struct Anvil {
    child: Child,
    endpoint: Url,
    chain_id: u64,
    provider: DynProvider,
}

impl Anvil {
    /// Starts anvil on a free loopback port with the default options.
    pub async fn spawn() -> Result<Self, DevChainError> {
        Self::spawn_with(AnvilOptions::default()).await
    }

    /// Starts anvil with `options` and waits until it listens.
    pub async fn spawn_with(options: AnvilOptions) -> Result<Self, DevChainError> {
        tokio::task::spawn_blocking(move || Self::spawn_blocking(options))
            .await
            .map_err(|e| DevChainError::Start(e.to_string()))?
    }

    fn spawn_blocking(options: AnvilOptions) -> Result<Self, DevChainError> {
        if options.port != 0
            && let Err(error) = std::net::TcpListener::bind(("127.0.0.1", options.port))
            && error.kind() == std::io::ErrorKind::AddrInUse
        {
            return Err(DevChainError::PortInUse { port: options.port, owner: listener_on(options.port) });
        }
        let bin = anvil_binary()?;
        let mut command = Command::new(&bin);
        command
            .args(["--host", "127.0.0.1", "--port", &options.port.to_string()])
            .args(["--chain-id", &options.chain_id.to_string(), "--accounts", "10", "--balance", "1000000"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(seconds) = options.block_time {
            // Mixed mining: a block every `seconds`, and one at once for each transaction.
            command.args(["--block-time", &seconds.to_string(), "--mixed-mining"]);
        }
        let mut child = command.spawn().map_err(|e| DevChainError::Start(format!("{}: {e}", bin.display())))?;
        let stdout = child.stdout.take().ok_or_else(|| DevChainError::Start("no stdout".into()))?;
        let (tx, rx) = mpsc::channel();
        // Read until anvil says where it listens, then keep draining so it never blocks on output.
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.strip_prefix("Listening on ")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(addr.trim().to_owned());
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
                return Err(DevChainError::Start(format!("no \"Listening on\" line within 30 s ({status})")));
            }
        };
        let endpoint: Url =
            format!("http://{addr}").parse().map_err(|e| DevChainError::Start(format!("{addr}: {e}")))?;
        let provider = crate::connect(endpoint.clone());
        Ok(Self { child, endpoint, chain_id: options.chain_id, provider })
    }

    /// The JSON-RPC URL.
    pub fn endpoint(&self) -> Url {
        self.endpoint.clone()
    }

    /// The chain id.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// A read-only provider.
    pub fn provider(&self) -> DynProvider {
        self.provider.clone()
    }

    /// A provider that signs with `key`.
    pub fn wallet_provider(&self, key: &PrivateKeySigner) -> DynProvider {
        crate::connect_wallet(self.endpoint(), key.clone())
    }

    /// Development account `index` (0..10), funded with ETH.
    pub fn dev_key(index: usize) -> PrivateKeySigner {
        DEV_KEYS[index % DEV_KEYS.len()].parse().unwrap_or_else(|_| unreachable!("the dev keys are valid"))
    }

    /// The timestamp of the latest block.
    pub async fn timestamp(&self) -> Result<u64, DevChainError> {
        let block = self.provider.get_block_number().await?;
        let block = self
            .provider
            .get_block_by_number(block.into())
            .await?
            .ok_or_else(|| DevChainError::Start("latest block missing".into()))?;
        Ok(block.header.timestamp)
    }

    /// Mines one block.
    pub async fn mine(&self) -> Result<(), DevChainError> {
        let _: String = self.provider.raw_request("evm_mine".into(), ()).await?;
        Ok(())
    }

    /// Sets the timestamp of the next block (later than the latest one).
    pub async fn set_next_block_timestamp(&self, timestamp: u64) -> Result<(), DevChainError> {
        let _: serde_json::Value =
            self.provider.raw_request("anvil_setNextBlockTimestamp".into(), (timestamp,)).await?;
        Ok(())
    }

    /// Moves the clock forward by `seconds` (applies from the next block).
    pub async fn increase_time(&self, seconds: u64) -> Result<(), DevChainError> {
        let _: serde_json::Value = self.provider.raw_request("evm_increaseTime".into(), (seconds,)).await?;
        Ok(())
    }

    /// Mines a block at exactly `timestamp`, so the next calls see that time.
    pub async fn warp_to(&self, timestamp: u64) -> Result<(), DevChainError> {
        self.set_next_block_timestamp(timestamp).await?;
        self.mine().await
    }

    /// Takes a snapshot of the chain state, for [`Self::revert_to`].
    pub async fn snapshot(&self) -> Result<U256, DevChainError> {
        Ok(self.provider.raw_request("evm_snapshot".into(), ()).await?)
    }

    /// Reverts the chain to a snapshot (as an L1 reorg would).
    pub async fn revert_to(&self, id: U256) -> Result<bool, DevChainError> {
        Ok(self.provider.raw_request("evm_revert".into(), (id,)).await?)
    }

    /// Sets `address`'s ETH balance.
    pub async fn set_balance(&self, address: Address, wei: U256) -> Result<(), DevChainError> {
        let _: serde_json::Value = self.provider.raw_request("anvil_setBalance".into(), (address, wei)).await?;
        Ok(())
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
