//! The devnet: a local anvil L1 with the rollup contracts deployed, and funded accounts for
//! the roles of the system, so everything else can be pointed at it.

mod timeline;

pub use timeline::{ProverTally, Tally};

use std::{fmt::Write as _, net::SocketAddr, path::PathBuf};

use clap::Parser as _;
use quote_service::policy::Override;

use alloy::{
    primitives::{Address, U256},
    signers::local::PrivateKeySigner,
};
use rollup_l1::{
    DeployParams, Deployment, RollupConfig, RollupContract, TokenContract, deploy,
    devchain::{Anvil, AnvilOptions, DevChainError},
};

/// Devnet settings; every flag also reads an environment variable.
#[derive(Clone, Debug, clap::Parser)]
#[command(name = "devnet", version, about = "Run a local L1 with the prover-coordination contracts deployed")]
pub struct DevnetConfig {
    /// Loopback port of the L1 JSON-RPC endpoint (0: any free port).
    #[arg(long, env = "DEVNET_L1_PORT", default_value_t = 8545)]
    pub l1_port: u16,
    /// L1 chain id.
    #[arg(long, env = "DEVNET_CHAIN_ID", default_value_t = 31337)]
    pub chain_id: u64,
    /// Seconds between L1 blocks (the L2 clock advances with L1 time).
    #[arg(long, env = "DEVNET_L1_BLOCK_TIME", default_value_t = 1)]
    pub l1_block_time: u64,
    /// Seconds per L2 slot.
    #[arg(long, env = "DEVNET_SLOT_DURATION", default_value_t = 4)]
    pub slot_duration: u64,
    /// Slots per epoch.
    #[arg(long, env = "DEVNET_EPOCH_DURATION", default_value_t = 4)]
    pub epoch_duration: u64,
    /// Slots at the start of the next epoch in which an epoch may be claimed.
    #[arg(long, env = "DEVNET_CLAIM_WINDOW_SLOTS", default_value_t = 2)]
    pub claim_window_slots: u64,
    /// Smallest bond a claim may stake, in token base units.
    #[arg(long, env = "DEVNET_MIN_BOND_AMOUNT", default_value_t = 1_000)]
    pub min_bond_amount: u64,
    /// Seconds an escrow withdrawal waits.
    #[arg(long, env = "DEVNET_WITHDRAW_DELAY", default_value_t = 60)]
    pub withdraw_delay: u64,
    /// Tokens minted to each devnet account, in whole tokens (18 decimals).
    #[arg(long, env = "DEVNET_FUNDING", default_value_t = 1_000_000)]
    pub funding: u64,
    /// Loopback port of the quote service (0: any free port).
    #[arg(long, env = "DEVNET_QUOTE_SERVICE_PORT", default_value_t = 8001)]
    pub quote_service_port: u16,
    /// Pricing policy for the quote service (TOML); default: its built-in policy. Its
    /// `epoch_duration_slots` and `validity_slots` are set to the devnet's epoch duration and
    /// claim window either way.
    #[arg(long, env = "DEVNET_QUOTE_POLICY")]
    pub quote_policy: Option<PathBuf>,
    /// Loopback port of the coordination node (0: any free port).
    #[arg(long, env = "DEVNET_NODE_PORT", default_value_t = 8000)]
    pub node_port: u16,
    /// PostgreSQL for the coordination node; without it the node uses a SQLite file in a
    /// temporary folder, removed when the devnet stops.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Also write the endpoints, addresses and keys as JSON to this file.
    #[arg(long, env = "DEVNET_WRITE_DEPLOYMENT")]
    pub write_deployment: Option<PathBuf>,
    /// Quotes travel over P2P gossip: the node joins the gossip network and the provers gossip
    /// their quotes to it, with no node URL (`--p2p` alone means `--p2p true`).
    #[arg(
        long,
        env = "DEVNET_P2P",
        default_value_t = false,
        num_args = 0..=1,
        default_missing_value = "true",
        action = clap::ArgAction::Set
    )]
    pub p2p: bool,
    /// Loopback port of the node's gossip listener in P2P mode (0: any free port).
    #[arg(long, env = "DEVNET_P2P_PORT", default_value_t = 40400)]
    pub p2p_port: u16,
    /// How long the proposer collects quotes after an epoch's claim window opens before it
    /// claims the cheapest, in milliseconds (long enough for a quote signed by hand with
    /// `quote-tool --next` to take part).
    #[arg(long, env = "DEVNET_PROPOSER_COLLECT_MS", default_value_t = 3000)]
    pub proposer_collect_ms: u64,
}

impl Default for DevnetConfig {
    fn default() -> Self {
        <Self as clap::Parser>::parse_from(["devnet"])
    }
}

/// A devnet account and the role it plays.
#[derive(Clone, Debug)]
pub struct Account {
    /// Its short name in the timeline (`prover A`).
    pub name: &'static str,
    /// What the account is for.
    pub role: &'static str,
    /// Its key (a well-known anvil development key: never use it elsewhere).
    pub key: PrivateKeySigner,
}

impl Account {
    /// The account's address.
    pub fn address(&self) -> Address {
        self.key.address()
    }
}

/// Anvil dev-key index, name and role of each devnet account. Key 0 deploys and mints.
const ROLES: [(usize, &str, &str); 7] = [
    (0, "deployer", "deployer"),
    (1, "prover A", "prover A (quote service pricing)"),
    (2, "prover B", "prover B (fixed 400 bps)"),
    (3, "proposer", "proposer"),
    (4, "spare", "spare (escrow deposit, for hand-signed quotes)"),
    (5, "prover C", "prover C (tokens, for a prover node of yours)"),
    (6, "prover D", "prover D (tokens, for a gossiping prover of yours)"),
];

/// A running devnet. Dropping it stops the L1.
pub struct Devnet {
    /// The L1.
    pub anvil: Anvil,
    /// The deployed contracts.
    pub deployment: Deployment,
    /// The rollup's parameters.
    pub rollup: RollupConfig,
    /// The funded accounts.
    pub accounts: Vec<Account>,
    /// Where the quote service listens.
    pub quote_service: SocketAddr,
    /// Where the coordination node listens.
    pub node: SocketAddr,
    /// In P2P mode, where the node takes gossip peers (its multiaddr with its peer id).
    pub node_p2p: Option<quote_gossip::Multiaddr>,
    /// Where each prover node serves its metrics (`/metrics`, `/healthz`), prover A first.
    pub prover_metrics: Vec<SocketAddr>,
    _data: tempfile::TempDir,
    stop: tokio::sync::watch::Sender<bool>,
    services: Vec<tokio::task::JoinHandle<()>>,
    timeline: tokio::task::JoinHandle<()>,
    stop_timeline: tokio::sync::oneshot::Sender<()>,
    tally: timeline::SharedTally,
    names: timeline::Names,
}

/// What a stopped devnet leaves behind.
#[derive(Clone, Debug)]
pub struct Stopped {
    /// What happened while it ran.
    pub tally: Tally,
    /// The same, as printed on stop (accounts named by their role).
    pub summary: String,
}

/// Why the devnet could not start.
#[derive(Debug, thiserror::Error)]
pub enum DevnetError {
    /// The L1 did not start.
    #[error(transparent)]
    Chain(#[from] DevChainError),
    /// Deploying or funding failed.
    #[error("setting up the contracts: {0}")]
    L1(#[from] rollup_l1::L1Error),
    /// A service could not start.
    #[error("starting {service}: {reason}")]
    Service {
        /// Which service.
        service: &'static str,
        /// Why.
        reason: String,
    },
}

fn service_error(service: &'static str) -> impl FnOnce(&dyn std::fmt::Display) -> DevnetError {
    move |e| DevnetError::Service { service, reason: e.to_string() }
}

impl Devnet {
    /// Starts anvil, deploys the contracts and funds the accounts.
    pub async fn start(config: &DevnetConfig) -> Result<Self, DevnetError> {
        let anvil = Anvil::spawn_with(AnvilOptions {
            chain_id: config.chain_id,
            block_time: Some(config.l1_block_time).filter(|t| *t > 0),
            port: config.l1_port,
        })
        .await?;
        let accounts: Vec<Account> =
            ROLES.iter().map(|&(index, name, role)| Account { name, role, key: Anvil::dev_key(index) }).collect();
        let names = timeline::Names::new(accounts.iter().map(|a| (a.address(), a.name)));
        let deployer = anvil.wallet_provider(&accounts[0].key);
        let params = DeployParams {
            slot_duration: config.slot_duration,
            epoch_duration: config.epoch_duration,
            claim_window_slots: config.claim_window_slots,
            min_bond_amount: U256::from(config.min_bond_amount),
            withdraw_delay: config.withdraw_delay,
            ..DeployParams::default()
        };
        let deployment = deploy(&deployer, &params).await?;
        let rollup = RollupContract::new(deployment.rollup, deployer.clone()).config().await?;
        let token = TokenContract::new(deployment.token, deployer);
        let amount = U256::from(config.funding) * U256::from(10u64).pow(U256::from(18));
        for account in &accounts[1..] {
            token.mint(account.address(), amount).await?;
        }
        // The spare account backs quotes signed by hand (README): a tenth of its tokens in escrow.
        let spare = &accounts[4];
        let spare_wallet = anvil.wallet_provider(&spare.key);
        TokenContract::new(deployment.token, spare_wallet.clone()).approve(deployment.escrow, amount).await?;
        rollup_l1::EscrowContract::new(deployment.escrow, spare_wallet).deposit(amount / U256::from(10)).await?;
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut services = Vec::new();

        let quote_config = quote_service::Config {
            listen_addr: SocketAddr::from(([127, 0, 0, 1], config.quote_service_port)),
            policy: config.quote_policy.clone(),
            overrides: vec![
                Override { path: vec!["epoch_duration_slots".into()], value: config.epoch_duration.to_string() },
                Override { path: vec!["validity_slots".into()], value: config.claim_window_slots.to_string() },
            ],
            ..quote_service::Config::parse_from(["quote-service"])
        };
        let state =
            quote_service::AppState::new(quote_config.clone()).map_err(|e| service_error("quote-service")(&e))?;
        let (quote_service, task) =
            spawn_service("quote-service", quote_config.listen_addr, stopped.clone(), |l, s| {
                quote_service::run(state, l, s)
            })
            .await?;
        services.push(task);

        let data = tempfile::tempdir().map_err(|e| service_error("coordination-node")(&e))?;
        let node_config = coordination_node::Config {
            listen_addr: SocketAddr::from(([127, 0, 0, 1], config.node_port)),
            l1_rpc_url: anvil.endpoint(),
            rollup_address: deployment.rollup,
            database_url: config.database_url.clone(),
            sqlite_path: data.path().join("coordination-node.sqlite"),
            polling_interval_ms: 500,
            p2p: if config.p2p {
                let listen = format!("/ip4/127.0.0.1/tcp/{}", config.p2p_port);
                quote_gossip::P2pArgs {
                    listen_addr: listen.parse().ok(),
                    heartbeat_ms: 500,
                    ..quote_gossip::P2pArgs::local(Vec::new())
                }
            } else {
                quote_gossip::P2pArgs::disabled()
            },
            ..coordination_node::Config::parse_from([
                "coordination-node",
                "--rollup-address",
                &deployment.rollup.to_string(),
            ])
        };
        let node = coordination_node::Node::new(node_config.clone())
            .await
            .map_err(|e| service_error("coordination-node")(&e))?;
        let node_p2p = node.state.gossip.as_ref().and_then(|g| g.listen_addrs().first().cloned());
        let events = node.state.store.clone();
        let (node, task) = spawn_service("coordination-node", node_config.listen_addr, stopped.clone(), |l, s| {
            coordination_node::run(node, l, s)
        })
        .await?;
        services.push(task);
        let tally = timeline::SharedTally::default();
        // The timeline stops after the services, so it reads their last events.
        let (stop_timeline, timeline_stopped) = tokio::sync::oneshot::channel::<()>();
        let timeline = tokio::spawn(timeline::print(events, names.clone(), tally.clone(), async move {
            let _ = timeline_stopped.await;
        }));

        // Two provers with different pricing: A asks the quote service, B quotes a fixed fee.
        let node_url = format!("http://{node}/");
        let interval = std::time::Duration::from_millis(500);
        let mut prover_metrics = Vec::new();
        for (index, pricing) in [(1usize, Some(format!("http://{quote_service}/"))), (2, None)] {
            let key = hex_key(&Anvil::dev_key(index));
            let state_path = data.path().join(format!("prover-{index}.sqlite"));
            let mut args = vec![
                "prover-node".to_owned(),
                "--private-key".into(),
                key,
                "--rollup-address".into(),
                deployment.rollup.to_string(),
                "--l1-rpc-url".into(),
                anvil.endpoint().to_string(),
                "--quote-provider-basis-point-fee".into(),
                "400".into(),
                "--quote-provider-bond-amount".into(),
                "1000000000000000".into(),
                "--polling-interval-ms".into(),
                "500".into(),
                "--state-path".into(),
                state_path.display().to_string(),
            ];
            if let Some(url) = pricing {
                args.extend(["--quote-provider-url".to_owned(), url]);
            }
            match &node_p2p {
                // Gossip only: the provers know the node's P2P address, not its URL.
                Some(addr) => args.extend([
                    "--p2p-enabled".to_owned(),
                    "true".into(),
                    "--p2p-bootstrap-peers".into(),
                    addr.to_string(),
                    "--p2p-key-file".into(),
                    data.path().join(format!("prover-{index}.p2p-key")).display().to_string(),
                ]),
                None => args.extend([
                    "--coordination-node-url".to_owned(),
                    node_url.clone(),
                    "--p2p-enabled".into(),
                    "false".into(),
                ]),
            }
            let config = prover_node::Config::parse_from(args);
            let prover = prover_node::start(&config).await.map_err(|e| service_error("prover-node")(&e))?;
            // Its metrics on a free loopback port, for Prometheus (`deploy/prometheus`).
            let listener = tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
                .await
                .map_err(|e| service_error("prover-node metrics")(&e))?;
            prover_metrics.push(listener.local_addr().map_err(|e| service_error("prover-node metrics")(&e))?);
            let (router, stop) = (prover.metrics().router(), wait_for_stop(stopped.clone()));
            services.push(tokio::spawn(async move {
                let _ = axum::serve(listener, router).with_graceful_shutdown(stop).await;
            }));
            services.push(tokio::spawn(prover_node::run(prover, interval, wait_for_stop(stopped.clone()))));
        }
        let proposer_config = proposer::Config::parse_from([
            "proposer".to_owned(),
            "--private-key".into(),
            hex_key(&Anvil::dev_key(3)),
            "--rollup-address".into(),
            deployment.rollup.to_string(),
            "--l1-rpc-url".into(),
            anvil.endpoint().to_string(),
            "--coordination-node-url".into(),
            node_url,
            "--polling-interval-ms".into(),
            "500".into(),
            "--collect-ms".into(),
            config.proposer_collect_ms.to_string(),
        ]);
        let proposer = proposer::start(&proposer_config).await.map_err(|e| service_error("proposer")(&e))?;
        services.push(tokio::spawn(proposer::run(proposer, interval, wait_for_stop(stopped.clone()))));

        Ok(Self {
            anvil,
            deployment,
            rollup,
            accounts,
            quote_service,
            node,
            node_p2p,
            prover_metrics,
            _data: data,
            stop,
            services,
            timeline,
            stop_timeline,
            tally,
            names,
        })
    }

    /// What the timeline has added up so far.
    pub fn tally(&self) -> Tally {
        self.tally.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Stops the services (finishing requests in flight), then the L1; returns the final tally
    /// (every event the node committed before it stopped) and its printed form.
    pub async fn stop(self) -> Stopped {
        let _ = self.stop.send(true);
        for service in self.services {
            let _ = service.await;
        }
        let _ = self.stop_timeline.send(());
        let _ = self.timeline.await;
        let tally = self.tally.lock().unwrap_or_else(|e| e.into_inner()).clone();
        Stopped { summary: tally.render(&self.names), tally }
    }

    /// Where everything is, for people.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let r = &self.rollup;
        let _ = writeln!(out, "L1 (anvil)        {}   chain id {}", self.anvil.endpoint(), r.chain_id);
        let _ = writeln!(out, "Rollup            {}", self.deployment.rollup);
        let _ = writeln!(out, "Escrow            {}", self.deployment.escrow);
        let _ = writeln!(out, "Fee/bond token    {}", self.deployment.token);
        let _ = writeln!(out, "Verifier          {} (devnet)", self.deployment.verifier);
        let _ = writeln!(
            out,
            "Time              {} s slots, {} slots per epoch, claim window {} slots, min bond {}",
            r.slot_duration, r.epoch_duration, r.claim_window_slots, r.min_bond_amount
        );
        let _ = writeln!(
            out,
            "Quote service     http://{}   (POST /quote, GET /policy, /metrics, /docs)",
            self.quote_service
        );
        let _ = writeln!(
            out,
            "Coordination node http://{}   (POST /epoch-proof-quotes, GET /epoch-proof-quotes/{{id}}, /readyz, /docs)",
            self.node
        );
        let _ = writeln!(
            out,
            "Explorer          http://{}/explorer/   (open it in a browser: epochs, quotes, provers, live)",
            self.node
        );
        for (name, addr) in ["A", "B"].iter().zip(&self.prover_metrics) {
            let _ = writeln!(out, "Prover {name} metrics  http://{addr}/metrics");
        }
        if let Some(addr) = &self.node_p2p {
            let _ =
                writeln!(out, "Node gossip peer  {addr}   (P2P_BOOTSTRAP_PEERS; the provers gossip their quotes here)");
        }
        let _ = writeln!(out, "\nAccounts (anvil development keys, public knowledge: devnet only)");
        let width = self.accounts.iter().map(|a| a.role.chars().count()).max().unwrap_or(0);
        for account in &self.accounts {
            let _ = writeln!(out, "  {:<width$} {}  {}", account.role, account.address(), hex_key(&account.key));
        }
        out
    }

    /// Endpoints, addresses and keys as JSON, for scripts.
    pub fn to_json(&self) -> serde_json::Value {
        let accounts: Vec<_> = self
            .accounts
            .iter()
            .map(|a| serde_json::json!({"name": a.name, "role": a.role, "address": a.address().to_string(), "privateKey": hex_key(&a.key)}))
            .collect();
        serde_json::json!({
            "l1RpcUrl": self.anvil.endpoint().to_string(),
            "chainId": self.rollup.chain_id,
            "rollupAddress": self.deployment.rollup.to_string(),
            "escrowAddress": self.deployment.escrow.to_string(),
            "tokenAddress": self.deployment.token.to_string(),
            "verifierAddress": self.deployment.verifier.to_string(),
            "slotDuration": self.rollup.slot_duration,
            "epochDuration": self.rollup.epoch_duration,
            "claimWindowSlots": self.rollup.claim_window_slots,
            "minBondAmount": self.rollup.min_bond_amount.to_string(),
            "quoteServiceUrl": format!("http://{}", self.quote_service),
            "coordinationNodeUrl": format!("http://{}", self.node),
            "coordinationNodeP2p": self.node_p2p.as_ref().map(ToString::to_string),
            "accounts": accounts,
        })
    }
}

fn hex_key(key: &PrivateKeySigner) -> String {
    format!("0x{}", alloy::primitives::hex::encode(key.to_bytes()))
}

/// Binds `addr` and runs a service there until the devnet stops; returns where it listens.
async fn spawn_service<F, Fut>(
    name: &'static str,
    addr: SocketAddr,
    stopped: tokio::sync::watch::Receiver<bool>,
    run: F,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), DevnetError>
where
    F: FnOnce(tokio::net::TcpListener, std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>) -> Fut,
    Fut: std::future::Future<Output = std::io::Result<()>> + Send + 'static,
{
    let listener =
        tokio::net::TcpListener::bind(addr).await.map_err(|e| service_error(name)(&format!("{addr}: {e}")))?;
    let local = listener.local_addr().map_err(|e| service_error(name)(&e))?;
    let service = run(listener, Box::pin(wait_for_stop(stopped)));
    let task = tokio::spawn(async move {
        if let Err(error) = service.await {
            tracing::error!(service = name, %error, "stopped");
        }
    });
    Ok((local, task))
}

async fn wait_for_stop(mut stopped: tokio::sync::watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}
