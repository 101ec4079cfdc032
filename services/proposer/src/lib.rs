//! The reference proposer (DESIGN §7): proposes the L2 block of each slot it may propose in,
//! and in each claim window asks the coordination node for the epoch's quotes, drops those that
//! would fail on L1 (simulated with `eth_call`), and claims the cheapest.

pub mod metrics;

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use alloy::primitives::{Address, B256, U256, keccak256};
use epoch_quote::SignedEpochProofQuote;
use node_api::client::{ClientError, NodeClient};
use rollup_l1::{L1Error, RollupConfig, RollupContract};

/// Why a step failed (the next one tries again).
#[derive(Debug, thiserror::Error)]
pub enum ProposerError {
    /// The L1 failed.
    #[error(transparent)]
    L1(#[from] L1Error),
}

/// Makes up the transactions and fees of devnet blocks.
#[derive(Clone, Copy, Debug)]
pub struct BlockGenerator {
    /// Fewest transactions in a block.
    pub min_txs: u64,
    /// Most transactions in a block.
    pub max_txs: u64,
    /// Fee paid per transaction, in token base units.
    pub fee_per_tx: U256,
}

impl BlockGenerator {
    /// The transaction count and fees of the block of `slot` (deterministic).
    pub fn block(&self, slot: u64) -> (u64, U256) {
        let span = self.max_txs.saturating_sub(self.min_txs) + 1;
        let txs =
            self.min_txs + u64::from_be_bytes(keccak256(slot.to_be_bytes())[..8].try_into().unwrap_or_default()) % span;
        (txs, self.fee_per_tx * U256::from(txs))
    }
}

/// What one step did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StepReport {
    /// The slot a block was proposed in.
    pub proposed: Option<u64>,
    /// The epoch claimed and the quote used.
    pub claimed: Option<(u64, B256)>,
}

/// One proposer.
#[derive(Clone, Debug)]
pub struct Proposer {
    rollup: RollupContract,
    config: RollupConfig,
    address: Address,
    node: NodeClient,
    blocks: BlockGenerator,
    collect: Duration,
    /// The epoch whose claim window this proposer is collecting quotes in, and since when.
    collecting: std::sync::Arc<Mutex<Option<(u64, Instant)>>>,
    metrics: metrics::Metrics,
}

impl Proposer {
    /// A proposer acting through `rollup` (its wallet pays the block fees, approved beforehand)
    /// and asking the coordination node at `node` for quotes.
    pub fn new(
        rollup: RollupContract,
        config: RollupConfig,
        address: Address,
        node: reqwest::Url,
        blocks: BlockGenerator,
    ) -> Result<Self, ClientError> {
        Ok(Self {
            rollup,
            config,
            address,
            node: NodeClient::new(node)?,
            blocks,
            collect: Duration::ZERO,
            collecting: Default::default(),
            metrics: metrics::Metrics::default(),
        })
    }

    /// What it counts.
    pub fn metrics(&self) -> &metrics::Metrics {
        &self.metrics
    }

    /// Collects quotes for `collect` after it first sees an epoch's claim window open before
    /// claiming the cheapest, so a quote that arrives a moment after another still competes.
    /// The wait ends early in the window's last slot, so the claim still lands inside it.
    pub fn collecting_for(mut self, collect: Duration) -> Self {
        self.collect = collect;
        self
    }

    /// Whether the quotes of `epoch` have been collected long enough to claim at `slot`.
    fn collected(&self, epoch: u64, slot: u64, last_slot: u64) -> bool {
        let mut collecting = self.collecting.lock().unwrap_or_else(|e| e.into_inner());
        let since = match *collecting {
            Some((e, since)) if e == epoch => since,
            _ => {
                let now = Instant::now();
                *collecting = Some((epoch, now));
                tracing::info!(
                    epoch,
                    slot,
                    collect_ms = self.collect.as_millis() as u64,
                    "claim window open; collecting quotes"
                );
                now
            }
        };
        since.elapsed() >= self.collect || slot >= last_slot
    }

    /// Proposes this slot's block if it may and has not, then claims if a claim window is open.
    /// `l1_up` says whether the L1 could be reached.
    pub async fn step(&self) -> Result<StepReport, ProposerError> {
        let mut report = StepReport::default();
        let result = async {
            let slot = self.rollup.current_slot().await?;
            report.proposed = self.propose(slot).await?;
            report.claimed = self.claim(slot).await?;
            Ok(())
        }
        .await;
        match &result {
            Ok(()) => _ = self.metrics.l1_up.set(1),
            Err(ProposerError::L1(error)) if error.is_unreachable() => _ = self.metrics.l1_up.set(0),
            Err(_) => {}
        }
        result.map(|()| report)
    }

    async fn propose(&self, slot: u64) -> Result<Option<u64>, ProposerError> {
        if self.rollup.current_proposer().await?.is_some_and(|p| p != self.address) {
            return Ok(None);
        }
        let pending = self.rollup.pending_block_number().await?;
        if pending > 0 && self.rollup.block(pending).await?.slot >= slot {
            return Ok(None);
        }
        let (txs, fees) = self.blocks.block(slot);
        match self.rollup.propose(txs, fees, keccak256(slot.to_be_bytes())).await {
            Ok(_) => {
                self.metrics.blocks_proposed.inc();
                tracing::info!(slot, txs, %fees, "block proposed");
                Ok(Some(slot))
            }
            // The L1 unreachable fails the step (and `l1_up`); a refusal is only logged.
            Err(error) if error.is_unreachable() => Err(error.into()),
            Err(error) => {
                tracing::warn!(slot, %error, "could not propose");
                Ok(None)
            }
        }
    }

    /// In the claim window of the epoch to prove: the node's quotes, best first; the first that
    /// passes an `eth_call` simulation is claimed; why each other lost is logged.
    async fn claim(&self, slot: u64) -> Result<Option<(u64, B256)>, ProposerError> {
        let Some(epoch) = self.rollup.epoch_to_prove().await? else { return Ok(None) };
        let (first, last) = self.config.claim_window(epoch);
        if slot < first || slot > last {
            return Ok(None);
        }
        if self.rollup.proof_claim().await?.is_some_and(|c| c.epoch_number == epoch) {
            return Ok(None);
        }
        if !self.collected(epoch, slot, last) {
            return Ok(None);
        }
        // "No quote yet" is an empty list; a node that cannot answer is an error, counted.
        let quotes = match self.node.claimable_quotes(epoch, 100).await {
            Ok(quotes) => quotes,
            Err(error) => {
                self.metrics.node_failures.inc();
                tracing::warn!(epoch, slot, %error, "no quote list from the coordination node; trying again");
                return Ok(None);
            }
        };
        if quotes.is_empty() {
            tracing::info!(epoch, slot, "no quote for the epoch yet; trying again");
            return Ok(None);
        }
        let domain = self.config.quote_domain();
        let mut winner: Option<(&SignedEpochProofQuote, B256)> = None;
        for quote in &quotes {
            let id = quote.id(&domain);
            if let Some((best, best_id)) = &winner {
                tracing::info!(
                    epoch, quote = %id, prover = %quote.quote.prover, fee_bps = quote.quote.basis_point_fee,
                    winner = %best_id, winner_fee_bps = best.quote.basis_point_fee,
                    "lost: outbid by a cheaper (or earlier, at the same fee) valid quote"
                );
                continue;
            }
            match self.rollup.simulate_claim(quote).await {
                Ok(()) => winner = Some((quote, id)),
                // No answer is no verdict on the quote.
                Err(error) if error.is_unreachable() => return Err(error.into()),
                Err(error) => {
                    tracing::info!(epoch, quote = %id, prover = %quote.quote.prover, %error, "lost: would fail on L1")
                }
            }
        }
        let Some((quote, id)) = winner else {
            tracing::warn!(epoch, slot, quotes = quotes.len(), "every quote would fail on L1; trying again");
            return Ok(None);
        };
        tracing::info!(epoch, quote = %id, prover = %quote.quote.prover, "simulated; sending the claim");
        match self.rollup.claim_epoch_proof_right(quote).await {
            Ok(_) => {
                self.metrics.epochs_claimed.inc();
                tracing::info!(epoch, quote = %id, prover = %quote.quote.prover, fee_bps = quote.quote.basis_point_fee, bond = %quote.quote.bond_amount, "claimed");
                Ok(Some((epoch, id)))
            }
            Err(error) if error.is_unreachable() => {
                tracing::warn!(
                    epoch, quote = %id, %error,
                    "claim outcome unknown: the L1 did not answer; the next step sees whether it landed"
                );
                Err(error.into())
            }
            // Sent and mined, but another claim for the epoch came first.
            Err(error @ L1Error::Failed(_)) => {
                tracing::warn!(epoch, quote = %id, %error, "claim mined but reverted; trying again");
                Ok(None)
            }
            Err(error) => {
                tracing::warn!(epoch, quote = %id, %error, "claim failed; trying again");
                Ok(None)
            }
        }
    }
}

/// The proposer's settings; every flag also reads an environment variable.
#[derive(Clone, Debug, clap::Parser)]
#[command(name = "proposer", version, about = "Proposes L2 blocks and claims the best valid epoch proof quote")]
pub struct Config {
    /// The proposer's key (64 hex digits). Never logged.
    #[arg(long, env = "PROPOSER_PRIVATE_KEY", hide_env_values = true)]
    pub private_key: epoch_quote::QuoteSigner,
    /// L1 JSON-RPC endpoint.
    #[arg(long, env = "L1_RPC_URL", default_value = "http://127.0.0.1:8545")]
    pub l1_rpc_url: reqwest::Url,
    /// The rollup contract.
    #[arg(long, env = "ROLLUP_ADDRESS")]
    pub rollup_address: Address,
    /// The coordination node asked for quotes.
    #[arg(long, env = "PROPOSER_COORDINATION_NODE_URL", default_value = "http://127.0.0.1:8000/")]
    pub coordination_node_url: reqwest::Url,
    /// How often it acts, in milliseconds.
    #[arg(long, env = "PROPOSER_POLLING_INTERVAL_MS", default_value_t = 1000)]
    pub polling_interval_ms: u64,
    /// How long quotes are collected after an epoch's claim window opens before the cheapest is
    /// claimed, in milliseconds (cut short in the window's last slot, so the claim lands in it).
    #[arg(long, env = "PROPOSER_COLLECT_MS", default_value_t = 2000)]
    pub collect_ms: u64,
    /// Fewest transactions in a generated block.
    #[arg(long, env = "PROPOSER_MIN_TXS", default_value_t = 1)]
    pub min_txs: u64,
    /// Most transactions in a generated block.
    #[arg(long, env = "PROPOSER_MAX_TXS", default_value_t = 20)]
    pub max_txs: u64,
    /// Fee per generated transaction, in token base units (paid by the proposer).
    #[arg(long, env = "PROPOSER_FEE_PER_TX", default_value = "10000000000000000")]
    pub fee_per_tx: U256,
    /// Serve `/healthz` and `/metrics` here (blocks proposed, epochs claimed, node failures).
    #[arg(long, env = "PROPOSER_METRICS_ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = service_kit::telemetry::LogFormat::Text)]
    pub log_format: service_kit::telemetry::LogFormat,
}

/// Reaches the L1 (retrying), lets the rollup take block fees from the proposer's tokens, and
/// returns the proposer.
pub async fn start(config: &Config) -> anyhow::Result<Proposer> {
    let key = alloy::signers::local::PrivateKeySigner::from_bytes(&config.private_key.secret_bytes().into())?;
    let address = key.address();
    let wallet = rollup_l1::connect_wallet(config.l1_rpc_url.clone(), key);
    let rollup = RollupContract::new(config.rollup_address, wallet.clone());
    let chain = rollup.config_when_reachable(Duration::from_millis(config.polling_interval_ms.max(10))).await;
    let token = rollup_l1::TokenContract::new(chain.token, wallet);
    if token.allowance(address, chain.address).await? < U256::MAX / U256::from(2) {
        token.approve(chain.address, U256::MAX).await?;
    }
    let blocks = BlockGenerator {
        min_txs: config.min_txs,
        max_txs: config.max_txs.max(config.min_txs),
        fee_per_tx: config.fee_per_tx,
    };
    let proposer = Proposer::new(rollup, chain, address, config.coordination_node_url.clone(), blocks)?
        .collecting_for(Duration::from_millis(config.collect_ms));
    if let Some(addr) = config.metrics_addr {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let router = proposer.metrics().router();
        tokio::spawn(async move { axum::serve(listener, router).await });
    }
    Ok(proposer)
}

/// Steps every `interval` until `shutdown` resolves.
pub async fn run(proposer: Proposer, interval: Duration, shutdown: impl std::future::Future<Output = ()>) {
    service_kit::every(interval, shutdown, "proposer step", || proposer.step()).await;
}

/// What the `proposer` binary does once its settings are read: starts the proposer and steps it
/// every `PROPOSER_POLLING_INTERVAL_MS` until Ctrl-C or SIGTERM.
pub async fn serve(config: &Config) -> anyhow::Result<()> {
    let proposer = start(config).await?;
    run(proposer, Duration::from_millis(config.polling_interval_ms.max(10)), service_kit::shutdown_signal()).await;
    Ok(())
}
