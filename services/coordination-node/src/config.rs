//! The node's settings, parsed once from flags and environment variables.

use std::{net::SocketAddr, path::PathBuf};

use alloy::{primitives::Address, transports::http::reqwest::Url};
use service_kit::telemetry::LogFormat;

/// The node's settings; every flag also reads an environment variable.
#[derive(Clone, Debug, clap::Parser)]
#[command(
    name = "coordination-node",
    version,
    about = "Takes, validates and stores signed epoch proof quotes; follows L1"
)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "NODE_LISTEN_ADDR", default_value = "0.0.0.0:8000")]
    pub listen_addr: SocketAddr,
    /// L1 JSON-RPC endpoint.
    #[arg(long, env = "L1_RPC_URL", default_value = "http://127.0.0.1:8545")]
    pub l1_rpc_url: Url,
    /// The rollup contract.
    #[arg(long, env = "ROLLUP_ADDRESS")]
    pub rollup_address: Address,
    /// PostgreSQL URL; without it the node keeps its data in an embedded SQLite file.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// The SQLite file used without `DATABASE_URL`.
    #[arg(long, env = "NODE_SQLITE_PATH", default_value = "coordination-node.sqlite")]
    pub sqlite_path: PathBuf,
    /// How often the L1 is polled, in milliseconds.
    #[arg(long, env = "PROVER_NODE_POLLING_INTERVAL_MS", default_value_t = 1000)]
    pub polling_interval_ms: u64,
    /// L1 block to start watching from when the database has no cursor (the rollup's deployment).
    #[arg(long, env = "NODE_WATCH_FROM_BLOCK", default_value_t = 0)]
    pub watch_from_block: u64,
    /// Most L1 blocks read per watcher step.
    #[arg(long, env = "NODE_WATCH_BATCH_BLOCKS", default_value_t = 1000)]
    pub watch_batch_blocks: u64,
    /// Most pending quotes kept per epoch.
    #[arg(long, env = "NODE_QUOTES_PER_EPOCH", default_value_t = 10_000)]
    pub quotes_per_epoch: u32,
    /// Quotes per second one client address may submit, sustained (0: no limit).
    #[arg(long, env = "NODE_RATE_LIMIT_PER_SECOND", default_value_t = 200)]
    pub rate_limit_per_second: u32,
    /// Quotes one client address may submit in a burst.
    #[arg(long, env = "NODE_RATE_LIMIT_BURST", default_value_t = 400)]
    pub rate_limit_burst: u32,
    /// How often the live stream reads new events when no commit was signalled, in milliseconds:
    /// a fallback, since new events are read as soon as they are committed (by this replica, and
    /// on PostgreSQL by any replica, through `LISTEN/NOTIFY`).
    #[arg(long, env = "NODE_EVENTS_POLL_MS", default_value_t = 1000)]
    pub events_poll_ms: u64,
    /// Event streams one client address may hold open at once; more are answered
    /// `429 too_many_streams` (0: no limit).
    #[arg(long, env = "NODE_STREAMS_PER_CLIENT", default_value_t = 32)]
    pub streams_per_client: usize,
    /// Reverse proxies in front of the node, whose `X-Forwarded-For` names the client that the
    /// rate limit and the stream limit count: comma-separated addresses and networks
    /// (`10.0.0.0/8,127.0.0.1`). Empty (the default): the limits count the connection's peer and
    /// the header is ignored, since a client can write anything there.
    #[arg(long, env = "NODE_TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: service_kit::client::TrustedProxies,
    /// Retention: the quotes and events of settled epochs (proven or pruned) more than this many
    /// epochs before the open one are deleted (claims, proofs, epochs and each prover's
    /// per-epoch counts are kept); an epoch not settled keeps everything from it on. 0 keeps
    /// everything for ever.
    #[arg(long, env = "NODE_RETENTION_EPOCHS", default_value_t = 1000)]
    pub retention_epochs: u64,
    /// L1 blocks after an epoch's proof or prune before retention counts it settled (a reorg
    /// may undo what is younger).
    #[arg(long, env = "NODE_RETENTION_CONFIRMATIONS", default_value_t = 64)]
    pub retention_confirmations: u64,
    /// How often retention runs (on the replica that runs the watcher), in milliseconds.
    #[arg(long, env = "NODE_RETENTION_INTERVAL_MS", default_value_t = 60_000)]
    pub retention_interval_ms: u64,
    /// Rows retention deletes per transaction: small, so intake is never held for long.
    #[arg(long, env = "NODE_RETENTION_BATCH", default_value_t = 1000)]
    pub retention_batch: u32,
    /// Events buffered per stream client before a slow client is told it fell behind.
    #[arg(long, env = "NODE_EVENTS_BUFFER", default_value_t = 4096)]
    pub events_buffer: usize,
    /// Largest request body, in bytes (a quote is well under 1 KiB).
    #[arg(long, env = "NODE_BODY_LIMIT", default_value_t = 4096)]
    pub body_limit: usize,
    /// Requests taking longer than this are answered 408, in milliseconds.
    #[arg(long, env = "NODE_REQUEST_TIMEOUT_MS", default_value_t = 10_000)]
    pub request_timeout_ms: u64,
    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// The quote gossip network (off unless `P2P_ENABLED=true`); the node listens on
    /// `/ip4/0.0.0.0/tcp/40400` and keeps its key in `coordination-node.p2p-key` by default.
    #[command(flatten)]
    pub p2p: quote_gossip::P2pArgs,
}

impl Config {
    /// Settings for a node started in-process beside a local chain (tests, benchmarks): the
    /// defaults of the command line, on a free loopback port, polling L1 and events every 20 ms,
    /// without a rate limit or a limit on streams per client.
    pub fn local(l1_rpc_url: Url, rollup_address: Address, database_url: String) -> Self {
        use clap::{CommandFactory as _, FromArgMatches as _};
        // The command line's defaults, without its environment variables: an in-process node
        // is configured by its caller, not by whatever the process environment holds.
        let defaults = Self::command()
            .mut_args(|arg| arg.env(None))
            .try_get_matches_from(["coordination-node", "--rollup-address", &rollup_address.to_string()])
            .and_then(|matches| Self::from_arg_matches(&matches))
            .unwrap_or_else(|e| e.exit());
        Self {
            listen_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            l1_rpc_url,
            database_url: Some(database_url),
            polling_interval_ms: 20,
            events_poll_ms: 20,
            rate_limit_per_second: 0,
            rate_limit_burst: 0,
            streams_per_client: 0,
            p2p: quote_gossip::P2pArgs::disabled(),
            ..defaults
        }
    }

    /// The database URL in use: `DATABASE_URL`, or the SQLite file.
    pub fn database(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| format!("sqlite://{}?mode=rwc", self.sqlite_path.display()))
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
