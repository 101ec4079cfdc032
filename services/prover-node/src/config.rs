//! The prover node's settings: the seed's environment variables, with its defaults.

use std::path::PathBuf;

use alloy::{
    primitives::{Address, U256},
    transports::http::reqwest::Url,
};
use epoch_quote::QuoteSigner;
use service_kit::telemetry::LogFormat;

/// Settings; every flag also reads an environment variable.
#[derive(Clone, Debug, clap::Parser)]
#[command(
    name = "prover-node",
    version,
    about = "Keeps a prover's escrow funded, quotes finished epochs, proves the ones it wins"
)]
pub struct Config {
    /// The prover's key: signs quotes and L1 transactions (64 hex digits). Never logged.
    #[arg(long, env = "PROVER_PUBLISHER_PRIVATE_KEY", hide_env_values = true)]
    pub private_key: QuoteSigner,
    /// L1 JSON-RPC endpoint.
    #[arg(long, env = "L1_RPC_URL", default_value = "http://127.0.0.1:8545")]
    pub l1_rpc_url: Url,
    /// The rollup contract.
    #[arg(long, env = "ROLLUP_ADDRESS")]
    pub rollup_address: Address,
    /// The coordination node quotes are POSTed to (optional with P2P: then quotes are both
    /// gossiped and POSTed).
    #[arg(long, env = "PROVER_COORDINATION_NODE_URL")]
    pub coordination_node_url: Option<Url>,
    /// The quote gossip network: with `P2P_ENABLED=true` quotes are gossiped to every
    /// coordination node reachable from `P2P_BOOTSTRAP_PEERS`. The prover only dials out (no
    /// listening unless `P2P_LISTEN_ADDR` is set) and keeps its peer key beside its state file.
    #[command(flatten)]
    pub p2p: quote_gossip::P2pArgs,
    /// The pricing service; without it every quote uses the fee and bond below.
    #[arg(long, env = "QUOTE_PROVIDER_URL")]
    pub quote_provider_url: Option<Url>,
    /// Fee of the simple quote provider, in basis points.
    #[arg(long, env = "QUOTE_PROVIDER_BASIS_POINT_FEE", default_value_t = 100)]
    pub quote_provider_basis_point_fee: u32,
    /// Bond of the simple quote provider.
    #[arg(long, env = "QUOTE_PROVIDER_BOND_AMOUNT", default_value = "1000")]
    pub quote_provider_bond_amount: U256,
    /// Below this escrow deposit, top up to the target.
    #[arg(long, env = "PROVER_MINIMUM_ESCROW_AMOUNT", default_value = "100000")]
    pub minimum_escrow_amount: U256,
    /// The deposit topped up to (default: twice the minimum).
    #[arg(long, env = "PROVER_TARGET_ESCROW_AMOUNT")]
    pub target_escrow_amount: Option<U256>,
    /// How often L1 is polled, in milliseconds.
    #[arg(long, env = "PROVER_NODE_POLLING_INTERVAL_MS", default_value_t = 1000)]
    pub polling_interval_ms: u64,
    /// The node's own state (what it quoted, what it is proving).
    #[arg(long, env = "PROVER_NODE_STATE_PATH", default_value = "prover-node.sqlite")]
    pub state_path: PathBuf,
    /// Proving command: gets the epoch as JSON on stdin, prints the proof (0x-hex) on stdout.
    /// Without it, the devnet verifier's proof is submitted.
    #[arg(long, env = "PROVER_PROOF_COMMAND")]
    pub proof_command: Option<String>,
    /// Serve `/healthz` and `/metrics` here (off when unset).
    #[arg(long, env = "PROVER_NODE_METRICS_ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// A setting that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Neither a node URL nor P2P.
    #[error("set PROVER_COORDINATION_NODE_URL (or P2P_ENABLED=true) so quotes have somewhere to go")]
    NoDestination,
    /// P2P without a peer to start from.
    #[error(
        "P2P_ENABLED=true needs P2P_BOOTSTRAP_PEERS: the prover only dials out, so it must know a node to start from"
    )]
    NoBootstrapPeers,
    /// A simple-provider fee outside 1..=10000 or a zero bond.
    #[error("QUOTE_PROVIDER_BASIS_POINT_FEE must be 1..=10000 and QUOTE_PROVIDER_BOND_AMOUNT above 0")]
    SimplePricing,
    /// A target below the minimum.
    #[error("PROVER_TARGET_ESCROW_AMOUNT ({target}) is below PROVER_MINIMUM_ESCROW_AMOUNT ({minimum})")]
    Target {
        /// The target.
        target: U256,
        /// The minimum.
        minimum: U256,
    },
}

impl Config {
    /// Checks the settings that do not need the network.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.p2p.enabled && self.coordination_node_url.is_none() {
            return Err(ConfigError::NoDestination);
        }
        if self.p2p.enabled && self.p2p.bootstrap_peers.is_empty() && self.p2p.listen_addr.is_none() {
            return Err(ConfigError::NoBootstrapPeers);
        }
        if !(1..=epoch_quote::MAX_BASIS_POINT_FEE).contains(&self.quote_provider_basis_point_fee)
            || self.quote_provider_bond_amount.is_zero()
        {
            return Err(ConfigError::SimplePricing);
        }
        if let Some(target) = self.target_escrow_amount
            && target < self.minimum_escrow_amount
        {
            return Err(ConfigError::Target { target, minimum: self.minimum_escrow_amount });
        }
        Ok(())
    }

    /// The deposit topped up to.
    pub fn target_escrow(&self) -> U256 {
        self.target_escrow_amount.unwrap_or(self.minimum_escrow_amount * U256::from(2))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_flag_has_its_own_name() {
        use clap::CommandFactory;
        super::Config::command().debug_assert();
    }
}
