//! The coordination node as a process of its own, so it can be killed with SIGKILL: this same
//! binary re-run with `run-node` and the node's flags.

use std::{
    path::PathBuf,
    process::Stdio,
    time::{Duration, Instant},
};

use alloy::primitives::Address;

/// How to start the node.
#[derive(Clone, Debug)]
pub struct NodeSpec {
    /// The binary that runs the node with `run-node` (this tool).
    pub exe: PathBuf,
    /// Where it listens.
    pub port: u16,
    /// Its L1.
    pub l1_rpc_url: String,
    /// The rollup.
    pub rollup: Address,
    /// Its database.
    pub database_url: String,
    /// Where its log goes.
    pub log: PathBuf,
    /// Its per-client limits: off (the load comes from one address), or the defaults.
    pub client_limits: bool,
}

/// A node process.
pub struct NodeProcess {
    spec: NodeSpec,
    child: Option<tokio::process::Child>,
}

impl NodeProcess {
    /// Starts the node and waits until it answers `/healthz`.
    pub async fn start(spec: NodeSpec) -> anyhow::Result<Self> {
        let mut node = Self { spec, child: None };
        node.restart().await?;
        Ok(node)
    }

    /// Its base URL.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.spec.port)
    }

    /// Starts the process again (after [`NodeProcess::kill`]) and waits until it answers.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        let s = &self.spec;
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&s.log)?;
        let child = tokio::process::Command::new(&s.exe)
            .arg("run-node")
            .args(["--listen-addr", &format!("127.0.0.1:{}", s.port)])
            .args(["--l1-rpc-url", &s.l1_rpc_url, "--rollup-address", &s.rollup.to_string()])
            .args(["--database-url", &s.database_url])
            .args(["--polling-interval-ms", "50", "--events-poll-ms", "200"])
            .args(["--quotes-per-epoch", "100000"])
            .args(if s.client_limits {
                &[][..]
            } else {
                &["--rate-limit-per-second", "0", "--streams-per-client", "0"][..]
            })
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()?;
        self.child = Some(child);
        let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
        let started = Instant::now();
        loop {
            if http.get(format!("{}/healthz", self.base())).send().await.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            if let Some(child) = &mut self.child
                && let Some(status) = child.try_wait()?
            {
                anyhow::bail!("the node exited ({status}); see {}", self.spec.log.display());
            }
            anyhow::ensure!(started.elapsed() < Duration::from_secs(60), "the node did not answer within 60 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Its resident memory, in bytes (from `/proc`).
    pub fn resident_bytes(&self) -> Option<u64> {
        let pid = self.child.as_ref()?.id()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
    }

    /// Kills the process with SIGKILL and waits for it.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().await?;
        }
        Ok(())
    }
}
