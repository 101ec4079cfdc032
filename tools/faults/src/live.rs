//! The whole loop as processes: anvil mining a block a second (the rollup's clock is L1 time),
//! the coordination node, a prover node and the proposer, each a process of its own so a scenario
//! can kill it, all three reaching the L1 through a proxy a scenario can cut. The tool itself
//! acts on the L1 directly, past the proxy: as another proposer (claims, prunes) and as a second
//! prover whose quotes it signs.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::PathBuf,
    time::Duration,
};

use alloy::{
    primitives::{Address, B256, U256},
    providers::Provider as _,
    rpc::types::Filter,
    signers::local::PrivateKeySigner,
    sol_types::SolEvent as _,
};
use epoch_quote::{EpochProofQuote, QuoteSigner};
use rollup_l1::{
    DeployParams, EscrowContract, RollupConfig, RollupContract, TokenContract,
    bindings::Rollup,
    devchain::{Anvil, AnvilOptions},
};

use crate::{
    ScratchDatabase,
    node::{NodeProcess, NodeSpec},
    process::{Service, free_port},
    proxy::L1Proxy,
};

/// The rollup's clock for a run.
#[derive(Clone, Copy, Debug)]
pub struct Rhythm {
    /// Seconds per slot.
    pub slot_duration: u64,
    /// Slots per epoch.
    pub epoch_duration: u64,
    /// Slots of the claim window.
    pub claim_window_slots: u64,
}

/// How the loop's services are set up.
#[derive(Clone, Debug)]
pub struct LoopOptions {
    /// The rollup's clock.
    pub rhythm: Rhythm,
    /// How long the prover's proving command takes.
    pub proof_time: Duration,
    /// How long the proposer collects quotes before claiming (`PROPOSER_COLLECT_MS`).
    pub collect: Duration,
    /// How late its proxy forwards each chunk between the proposer and the L1, each way.
    pub proposer_latency: Duration,
}

/// The running loop.
pub struct Live {
    /// The L1.
    pub anvil: Anvil,
    /// The rollup's parameters.
    pub config: RollupConfig,
    /// What the node and the prover node reach the L1 through.
    pub proxy: L1Proxy,
    /// What the proposer reaches the L1 through.
    pub proposer_proxy: L1Proxy,
    /// The coordination node.
    pub node: NodeProcess,
    /// The prover node.
    pub prover: Service,
    /// Its address.
    pub prover_address: Address,
    /// Its `/metrics`.
    pub prover_metrics: String,
    /// The proposer.
    pub proposer: Service,
    /// Its address.
    pub proposer_address: Address,
    /// Its `/metrics`.
    pub proposer_metrics: String,
    /// The tool acting on the L1 directly, as another proposer.
    pub actor: RollupContract,
    /// A second prover with an escrow deposit, whose quotes the tool signs.
    pub second_prover: QuoteSigner,
    /// A line per proving job started: the epoch (written by the proving command).
    pub proving_marker: PathBuf,
    database: ScratchDatabase,
    dir: tempfile::TempDir,
}

fn hex_key(key: &PrivateKeySigner) -> String {
    format!("0x{}", alloy::primitives::hex::encode(key.to_bytes()))
}

/// Starts `exe args…` serving `/metrics` and `/healthz` on a free port (`--metrics-addr`), its
/// output in `<name>.log` in `dir`; returns it and the base URL of its metrics.
async fn start_serving_metrics(
    exe: &std::path::Path,
    name: &str,
    mut args: Vec<String>,
    dir: &tempfile::TempDir,
) -> anyhow::Result<(Service, String)> {
    let addr = format!("127.0.0.1:{}", free_port()?);
    args.extend(["--metrics-addr".to_owned(), addr.clone()]);
    let log = dir.path().join(format!("{name}.log"));
    let service = Service::start(exe.to_path_buf(), args, log, format!("http://{addr}/healthz")).await?;
    Ok((service, format!("http://{addr}")))
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

impl Live {
    /// Starts anvil, deploys the contracts, funds the roles, and starts the node, the prover
    /// node (proving with `exe devnet-prove`) and the proposer; `database_url` is a server the
    /// node's own database (named after `tag`) is made on, and dropped again if a service cannot
    /// start.
    pub async fn start(exe: PathBuf, database_url: &str, tag: &str, options: &LoopOptions) -> anyhow::Result<Self> {
        let anvil = Anvil::spawn_with(AnvilOptions { block_time: Some(1), ..AnvilOptions::default() }).await?;
        let deployer = anvil.wallet_provider(&Anvil::dev_key(0));
        let r = options.rhythm;
        let params = DeployParams {
            slot_duration: r.slot_duration,
            epoch_duration: r.epoch_duration,
            claim_window_slots: r.claim_window_slots,
            ..DeployParams::default()
        };
        let deployment = rollup_l1::deploy(&deployer, &params).await?;
        let config = RollupContract::new(deployment.rollup, deployer.clone()).config().await?;
        let token = TokenContract::new(deployment.token, deployer);
        let (prover_key, proposer_key, actor_key, second_key) =
            (Anvil::dev_key(1), Anvil::dev_key(3), Anvil::dev_key(4), Anvil::dev_key(5));
        for key in [&prover_key, &proposer_key, &actor_key, &second_key] {
            token.mint(key.address(), U256::from(10u64).pow(U256::from(24))).await?;
        }
        let second_wallet = anvil.wallet_provider(&second_key);
        TokenContract::new(deployment.token, second_wallet.clone()).approve(deployment.escrow, U256::MAX).await?;
        EscrowContract::new(deployment.escrow, second_wallet).deposit(U256::from(1_000_000u64)).await?;
        let second_prover = QuoteSigner::from_bytes(second_key.to_bytes().0)?;
        let actor = RollupContract::new(deployment.rollup, anvil.wallet_provider(&actor_key));

        let upstream = anvil.endpoint().socket_addrs(|| None)?.first().copied();
        let upstream = upstream.ok_or_else(|| anyhow::anyhow!("anvil has no address"))?;
        let proxy = L1Proxy::start(upstream, Duration::ZERO).await?;
        let proposer_proxy = L1Proxy::start(upstream, options.proposer_latency).await?;
        let dir = tempfile::tempdir()?;
        if std::env::var_os("FAULTS_KEEP_LOGS").is_some() {
            eprintln!("logs of the loop's services: {}", dir.path().display());
        }
        let database = ScratchDatabase::create(database_url, tag).await?;
        let (proxies, keys) = ([&proxy, &proposer_proxy], [&prover_key, &proposer_key]);
        let services = Self::start_services(&exe, deployment.rollup, &database, proxies, keys, &dir, options).await;
        let (node, prover, prover_metrics, proposer, proposer_metrics) = match services {
            Ok(services) => services,
            Err(error) => {
                let _ = database.drop().await;
                return Err(error);
            }
        };
        Ok(Self {
            anvil,
            config,
            proxy,
            proposer_proxy,
            node,
            prover,
            prover_address: prover_key.address(),
            prover_metrics,
            proposer,
            proposer_address: proposer_key.address(),
            proposer_metrics,
            actor,
            second_prover,
            proving_marker: dir.path().join("proving"),
            database,
            dir,
        })
    }

    /// The node, the prover node and the proposer, with where the last two serve `/metrics`.
    async fn start_services(
        exe: &std::path::Path,
        rollup_address: Address,
        database: &ScratchDatabase,
        [proxy, proposer_proxy]: [&L1Proxy; 2],
        [prover_key, proposer_key]: [&PrivateKeySigner; 2],
        dir: &tempfile::TempDir,
        options: &LoopOptions,
    ) -> anyhow::Result<(NodeProcess, Service, String, Service, String)> {
        let exe_text = exe.display().to_string();
        let node = NodeProcess::start(NodeSpec {
            exe: exe.to_path_buf(),
            port: free_port()?,
            l1_rpc_url: proxy.url(),
            rollup: rollup_address,
            database_url: database.url.clone(),
            log: dir.path().join("node.log"),
            client_limits: true,
        })
        .await?;
        let node_url = format!("{}/", node.base());
        let rollup = rollup_address.to_string();

        let proving_marker = dir.path().join("proving");
        let proof_command = format!(
            "{exe_text} devnet-prove --marker {} --delay-ms {}",
            proving_marker.display(),
            options.proof_time.as_millis()
        );
        let mut prover_args = args(&["run-prover", "--log-format", "json", "--private-key", &hex_key(prover_key)]);
        prover_args.extend(args(&[
            "--rollup-address",
            &rollup,
            "--l1-rpc-url",
            &proxy.url(),
            "--coordination-node-url",
            &node_url,
            "--p2p-enabled",
            "false",
            "--polling-interval-ms",
            "250",
            "--state-path",
            &dir.path().join("prover.sqlite").display().to_string(),
            "--proof-command",
            &proof_command,
        ]));
        let (prover, prover_metrics) = start_serving_metrics(exe, "prover", prover_args, dir).await?;

        let mut proposer_args =
            args(&["run-proposer", "--log-format", "json", "--private-key", &hex_key(proposer_key)]);
        proposer_args.extend(args(&[
            "--rollup-address",
            &rollup,
            "--l1-rpc-url",
            &proposer_proxy.url(),
            "--coordination-node-url",
            &node_url,
            "--polling-interval-ms",
            "250",
            "--collect-ms",
            &options.collect.as_millis().to_string(),
        ]));
        let (proposer, proposer_metrics) = start_serving_metrics(exe, "proposer", proposer_args, dir).await?;
        Ok((node, prover, prover_metrics, proposer, proposer_metrics))
    }

    /// Stops everything and drops the node's database; the services' logs are kept when
    /// `FAULTS_KEEP_LOGS` is set.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let _ = self.proposer.kill().await;
        let _ = self.prover.kill().await;
        let _ = self.node.kill().await;
        if std::env::var_os("FAULTS_KEEP_LOGS").is_some() {
            let _ = self.dir.keep();
        }
        self.database.drop().await
    }

    /// Cuts the L1 off from every service (or restores it, with `false`).
    pub fn set_l1_cut(&self, cut: bool) {
        self.proxy.set_cut(cut);
        self.proposer_proxy.set_cut(cut);
    }

    /// The L1's current slot (read directly).
    pub async fn slot(&self) -> anyhow::Result<u64> {
        Ok(self.actor.current_slot().await?)
    }

    /// Waits until the L1's latest block is at or past the start of `slot`.
    pub async fn wait_for_slot(&self, slot: u64, limit: Duration) -> anyhow::Result<()> {
        let started = std::time::Instant::now();
        while self.slot().await? < slot {
            anyhow::ensure!(started.elapsed() < limit, "slot {slot} did not come within {limit:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    /// The quote of the second prover for `epoch` as it stands on the L1, at `basis_point_fee`.
    pub async fn second_prover_quote(
        &self,
        epoch: u64,
        basis_point_fee: u32,
    ) -> anyhow::Result<epoch_quote::SignedEpochProofQuote> {
        let info = self.actor.epoch(epoch).await?;
        let quote = EpochProofQuote {
            prover: self.second_prover.address(),
            epoch_number: U256::from(epoch),
            epoch_init_block: U256::from(info.init_block),
            epoch_final_block: U256::from(info.final_block),
            total_fees: info.total_fees,
            rollup_address: self.config.address,
            basis_point_fee,
            bond_amount: self.config.min_bond_amount,
            valid_until_slot: U256::from(self.config.claim_window(epoch).1),
        };
        Ok(self.second_prover.sign(quote, &self.config.quote_domain()))
    }

    /// What happened on the L1, from the rollup's logs (read directly).
    pub async fn l1_record(&self) -> anyhow::Result<L1Record> {
        let provider = self.anvil.provider();
        let head = provider.get_block_number().await?;
        let logs = provider.get_logs(&Filter::new().address(self.config.address).from_block(0).to_block(head)).await?;
        let mut record = L1Record::default();
        for log in &logs {
            let Some(topic) = log.topic0().copied() else { continue };
            if topic == Rollup::L2BlockProposed::SIGNATURE_HASH {
                let e = log.log_decode::<Rollup::L2BlockProposed>()?.inner.data;
                *record.blocks.entry(e.epoch.saturating_to()).or_default() += 1;
            } else if topic == Rollup::ProofRightClaimed::SIGNATURE_HASH {
                let e = log.log_decode::<Rollup::ProofRightClaimed>()?.inner.data;
                record.claims.entry(e.epoch.saturating_to()).or_default().push(Claim {
                    bond_provider: e.bondProvider,
                    proposer: e.proposer,
                    quote_id: e.quoteId,
                });
            } else if topic == Rollup::EpochProven::SIGNATURE_HASH {
                let e = log.log_decode::<Rollup::EpochProven>()?.inner.data;
                let proof = Proof { submitter: e.submitter, bond_provider: e.bondProvider };
                record.proofs.entry(e.epoch.saturating_to()).or_default().push(proof);
            } else if topic == Rollup::BondSlashed::SIGNATURE_HASH {
                let e = log.log_decode::<Rollup::BondSlashed>()?.inner.data;
                record.slashed.entry(e.epoch.saturating_to()).or_default().push(e.bondProvider);
            } else if topic == Rollup::EpochPruned::SIGNATURE_HASH {
                let e = log.log_decode::<Rollup::EpochPruned>()?.inner.data;
                record.pruned.insert(e.epoch.saturating_to());
            }
        }
        Ok(record)
    }

    /// The bond the prover node has staked in the escrow now.
    pub async fn prover_staked(&self) -> anyhow::Result<U256> {
        let escrow = EscrowContract::new(self.config.escrow, self.anvil.provider());
        Ok(escrow.staked_of(self.prover_address).await?)
    }
}

/// A claim on the L1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Claim {
    /// Whose bond.
    pub bond_provider: Address,
    /// Who claimed.
    pub proposer: Address,
    /// The quote.
    pub quote_id: B256,
}

/// A proof on the L1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Proof {
    /// Who submitted it.
    pub submitter: Address,
    /// Whose claim it settled (the bond returned and the fee paid), if the epoch was claimed.
    pub bond_provider: Address,
}

/// The rollup's history, by epoch.
#[derive(Clone, Debug, Default)]
pub struct L1Record {
    /// L2 blocks proposed in each epoch (pruned ones included).
    pub blocks: BTreeMap<u64, u64>,
    /// Claims.
    pub claims: BTreeMap<u64, Vec<Claim>>,
    /// Proofs.
    pub proofs: BTreeMap<u64, Vec<Proof>>,
    /// Bonds slashed.
    pub slashed: BTreeMap<u64, Vec<Address>>,
    /// Epochs pruned.
    pub pruned: BTreeSet<u64>,
}

impl L1Record {
    /// Epochs claimed more than once (the rollup refuses a second claim, so none are expected).
    pub fn double_claims(&self) -> usize {
        self.claims.values().filter(|c| c.len() > 1).count()
    }

    /// Epochs proven more than once.
    pub fn double_proofs(&self) -> usize {
        self.proofs.values().filter(|p| p.len() > 1).count()
    }
}

/// What the proving command `faults devnet-prove` does: reads the epoch as JSON on stdin, appends
/// the epoch to `marker` (so a scenario sees proving start), waits `delay`, and prints the devnet
/// verifier's proof.
pub fn devnet_prove(marker: &std::path::Path, delay: Duration) -> anyhow::Result<()> {
    use std::io::{Read as _, Write as _};
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Job {
        epoch: u64,
        public_inputs: Vec<B256>,
    }
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input)?;
    let job: Job = serde_json::from_str(&input)?;
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(marker)?;
    writeln!(file, "{}", job.epoch)?;
    std::thread::sleep(delay);
    println!("{}", rollup_l1::devnet_proof(job.epoch, &job.public_inputs));
    Ok(())
}

/// New whole lines appended to a file since the last call (a log or a marker being followed).
#[derive(Debug)]
pub struct Tail {
    path: PathBuf,
    read: usize,
}

impl Tail {
    /// Follows `path` from its current end.
    pub fn new(path: PathBuf) -> Self {
        let read = std::fs::metadata(&path).map_or(0, |m| m.len() as usize);
        Self { path, read }
    }

    /// Lines completed since the last call.
    pub fn lines(&mut self) -> Vec<String> {
        use std::io::{Read as _, Seek as _};
        let mut bytes = Vec::new();
        let read = std::fs::File::open(&self.path).and_then(|mut file| {
            file.seek(std::io::SeekFrom::Start(self.read as u64))?;
            file.read_to_end(&mut bytes)
        });
        if read.is_err() {
            return Vec::new();
        }
        let Some(end) = bytes.iter().rposition(|b| *b == b'\n') else { return Vec::new() };
        self.read += end + 1;
        String::from_utf8_lossy(&bytes[..end]).lines().map(str::to_owned).collect()
    }
}

/// A JSON log line's event (`--log-format json`): its message and fields.
pub fn log_event(line: &str) -> Option<serde_json::Value> {
    serde_json::from_str(line).ok()
}

/// A gauge's value in a Prometheus text page.
pub fn gauge(page: &str, name: &str) -> Option<f64> {
    page.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}
