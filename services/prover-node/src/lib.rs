//! The prover node (the seed's Prover Node): what a prover operator runs. It keeps its escrow
//! deposit funded ([`bond`]), prices each finished epoch through its quote provider
//! ([`pricing`]), and — as the monitors land — signs and sends quotes, notices its claims and
//! proves the epochs it won.

pub mod bond;
pub mod config;
pub mod metrics;
pub mod pricing;
pub mod prover;
pub mod state;

use std::time::Duration;

use alloy::signers::local::PrivateKeySigner;
use rollup_l1::{EscrowContract, RollupContract, TokenContract};

pub use config::Config;

/// Builds the prover from `config`: reaches the L1 (retrying until it answers), opens the state
/// file, and makes sure the escrow deposit is at least the minimum.
pub async fn start(config: &Config) -> anyhow::Result<prover::ProverNode> {
    config.validate()?;
    let key = PrivateKeySigner::from_bytes(&config.private_key.secret_bytes().into())?;
    let wallet = rollup_l1::connect_wallet(config.l1_rpc_url.clone(), key);
    let rollup = RollupContract::new(config.rollup_address, wallet.clone());
    let interval = Duration::from_millis(config.polling_interval_ms.max(10));
    let chain = rollup.config_when_reachable(interval).await;
    let prover = config.private_key.address();
    let bonds = bond::BondManager::new(
        prover,
        TokenContract::new(chain.token, wallet.clone()),
        EscrowContract::new(chain.escrow, wallet),
        config.minimum_escrow_amount,
        config.target_escrow(),
    );
    let action = bonds.ensure_bond(alloy::primitives::U256::ZERO).await?;
    tracing::info!(%prover, ?action, "escrow deposit checked");
    let pricing = match &config.quote_provider_url {
        Some(url) => pricing::QuoteProvider::http(url.clone(), Duration::from_secs(5), 2)?,
        None => pricing::QuoteProvider::Simple {
            basis_point_fee: config.quote_provider_basis_point_fee,
            bond_amount: config.quote_provider_bond_amount,
        },
    };
    let gossip = if config.p2p.enabled {
        let settings = config.p2p.settings(
            quote_gossip::Role::Publisher,
            None,
            Some(config.state_path.with_extension("p2p-key")),
        )?;
        let (gossip, _inbound) = quote_gossip::start(settings).await?;
        tracing::info!(peer_id = %gossip.peer_id(), bootstrap = ?config.p2p.bootstrap_peers, "gossiping quotes");
        Some(gossip)
    } else {
        None
    };
    let sender = match (config.coordination_node_url.clone(), gossip.clone()) {
        (Some(node), None) => prover::QuoteSender::http(node)?,
        (Some(node), Some(gossip)) => prover::QuoteSender::http(node)?.with_gossip(gossip, chain.chain_id),
        (None, Some(gossip)) => prover::QuoteSender::gossip(gossip, chain.chain_id),
        (None, None) => return Err(config::ConfigError::NoDestination.into()),
    };
    let state = state::ProverState::open(&config.state_path).await?;
    let job = config.proof_command.clone().map_or(prover::ProvingJob::Devnet, prover::ProvingJob::Command);
    let node = prover::ProverNode::new(config.private_key.clone(), rollup, chain, bonds, pricing, sender, state, job);
    if let Some(addr) = config.metrics_addr {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let router = node.metrics().router();
        tokio::spawn(async move { axum::serve(listener, router).await });
    }
    Ok(node)
}

/// Runs the prover's monitors every poll until `shutdown` resolves.
pub async fn run(node: prover::ProverNode, interval: Duration, shutdown: impl std::future::Future<Output = ()>) {
    service_kit::every(interval, shutdown, "prover step", || node.step()).await;
}

/// What the `prover-node` binary does once its settings are read: starts the prover and runs it
/// every `PROVER_NODE_POLLING_INTERVAL_MS` until Ctrl-C or SIGTERM.
pub async fn serve(config: &Config) -> anyhow::Result<()> {
    let node = start(config).await?;
    run(node, Duration::from_millis(config.polling_interval_ms.max(10)), service_kit::shutdown_signal()).await;
    Ok(())
}
