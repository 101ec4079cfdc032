//! The coordination node: provers send it signed quotes (on port 8000); it validates each
//! against its view of L1 and stores it durably before answering; it follows the L1 chain
//! (epochs, blocks, claims, proofs, prunes, escrow deposits) with a watcher.

pub mod api;
pub mod events;
pub mod intake;
pub mod p2p;
pub mod store;
pub mod view;
pub mod watcher;
pub mod writer;

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, OnceLock},
    time::Duration,
};

use alloy::{primitives::Address, providers::DynProvider, transports::http::reqwest::Url};
use axum::Router;
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};
use rollup_l1::{RollupConfig, RollupContract};
use service_kit::{
    metrics::{HttpMetrics, SharedRegistry},
    telemetry::LogFormat,
};
use tokio::net::TcpListener;
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    store::Store,
    watcher::{Watcher, WatcherStatus},
};

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
    /// How often new events are read for the live stream, in milliseconds.
    #[arg(long, env = "NODE_EVENTS_POLL_MS", default_value_t = 200)]
    pub events_poll_ms: u64,
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
    /// Settings for a node started in-process beside a local chain (tests, benchmarks): on a free
    /// loopback port, polling L1 and events every 20 ms, without a rate limit; the rest default.
    pub fn local(l1_rpc_url: Url, rollup_address: Address, database_url: String) -> Self {
        Self {
            listen_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            l1_rpc_url,
            rollup_address,
            database_url: Some(database_url),
            sqlite_path: PathBuf::from("coordination-node.sqlite"),
            polling_interval_ms: 20,
            watch_from_block: 0,
            watch_batch_blocks: 1000,
            quotes_per_epoch: 10_000,
            rate_limit_per_second: 0,
            rate_limit_burst: 0,
            events_poll_ms: 20,
            events_buffer: 4096,
            body_limit: 4096,
            request_timeout_ms: 10_000,
            log_format: LogFormat::Text,
            p2p: quote_gossip::P2pArgs::disabled(),
        }
    }

    /// The database URL in use: `DATABASE_URL`, or the SQLite file.
    pub fn database(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| format!("sqlite://{}?mode=rwc", self.sqlite_path.display()))
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabel {
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabel {
    source: &'static str,
}

/// How a quote reached the node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuoteSource {
    /// `POST /epoch-proof-quotes`.
    Http,
    /// The gossip network.
    Gossip,
}

impl QuoteSource {
    /// Every source, for pre-created metric labels.
    pub const ALL: [Self; 2] = [Self::Http, Self::Gossip];

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Gossip => "gossip",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerdictLabel {
    verdict: &'static str,
    code: String,
}

/// The node's metrics.
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: SharedRegistry,
    http: HttpMetrics,
    accepted: Family<SourceLabel, Counter>,
    rejected: Family<CodeLabel, Counter>,
    l1_head: Gauge,
    l1_processed: Gauge,
    watcher_lag: Gauge,
    watcher_leader: Gauge,
    database_up: Gauge,
    events_streamed: Counter,
    open_streams: Gauge,
    p2p_enabled: Gauge,
    p2p_peers: Gauge,
    p2p_topic_peers: Gauge,
    p2p_received: Counter,
    p2p_verdicts: Family<VerdictLabel, Counter>,
    p2p_published: Counter,
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("coordination_node");
        let http = HttpMetrics::register(&mut registry);
        let accepted = Family::<SourceLabel, Counter>::default();
        for source in QuoteSource::ALL {
            let _ = accepted.get_or_create(&SourceLabel { source: source.as_str() });
        }
        let rejected = Family::<CodeLabel, Counter>::default();
        registry.register("quotes_accepted", "Quotes validated and stored, by source (http, gossip)", accepted.clone());
        registry.register("quotes_rejected", "Quotes refused, by code", rejected.clone());
        let [l1_head, l1_processed, watcher_lag, watcher_leader, database_up] =
            std::array::from_fn(|_| Gauge::default());
        registry.register("l1_head_block", "Latest L1 block seen by this replica's watcher", l1_head.clone());
        registry.register(
            "l1_processed_block",
            "Last L1 block in the view intake validates against",
            l1_processed.clone(),
        );
        registry.register(
            "watcher_lag_blocks",
            "L1 blocks the watcher is behind the head (0 on followers)",
            watcher_lag.clone(),
        );
        registry.register("watcher_leader", "1 when this replica runs the L1 watcher", watcher_leader.clone());
        registry.register("database_up", "1 when the database answered at the last scrape", database_up.clone());
        let events_streamed = Counter::default();
        let open_streams = Gauge::default();
        registry.register("events_streamed", "Events sent to event-stream clients", events_streamed.clone());
        registry.register("open_streams", "Event-stream clients connected", open_streams.clone());
        let [p2p_enabled, p2p_peers, p2p_topic_peers] = std::array::from_fn(|_| Gauge::default());
        registry.register("p2p_enabled", "1 when the node is on the quote gossip network", p2p_enabled.clone());
        let [p2p_received, p2p_published] = std::array::from_fn(|_| Counter::default());
        let p2p_verdicts = Family::<VerdictLabel, Counter>::default();
        registry.register("p2p_peers", "Peers connected on the quote gossip network", p2p_peers.clone());
        registry.register("p2p_topic_peers", "Connected peers subscribed to the quote topic", p2p_topic_peers.clone());
        registry.register("p2p_messages_received", "Gossiped quote messages received", p2p_received.clone());
        registry.register(
            "p2p_messages",
            "Gossiped quote messages by verdict (accepted, rejected, ignored) and code",
            p2p_verdicts.clone(),
        );
        registry.register(
            "p2p_quotes_published",
            "Quotes taken over HTTP and published on gossip",
            p2p_published.clone(),
        );
        Self {
            registry: Arc::new(registry),
            http,
            accepted,
            rejected,
            l1_head,
            l1_processed,
            watcher_lag,
            watcher_leader,
            database_up,
            events_streamed,
            open_streams,
            p2p_enabled,
            p2p_peers,
            p2p_topic_peers,
            p2p_received,
            p2p_verdicts,
            p2p_published,
        }
    }

    /// Sets the gauges that describe the node's state, at scrape time.
    async fn observe(&self, state: &AppState) {
        let watcher = state.watcher_status();
        let processed = state.view.get().cursor.map_or(0, |c| c.l1_block);
        let gauge = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.l1_processed.set(gauge(processed));
        self.watcher_leader.set(i64::from(watcher.leader));
        if watcher.leader {
            self.l1_head.set(gauge(watcher.head));
            self.watcher_lag.set(gauge(watcher.head.saturating_sub(watcher.cursor.map_or(0, |c| c.l1_block))));
        } else {
            self.watcher_lag.set(0);
        }
        self.database_up.set(i64::from(state.store.ping().await));
        self.p2p_enabled.set(i64::from(state.gossip.is_some()));
        if let Some(gossip) = &state.gossip {
            self.p2p_peers.set(gauge(gossip.connected_peers() as u64));
            self.p2p_topic_peers.set(gauge(gossip.topic_peers() as u64));
        }
    }

    fn gossip_verdict(&self, verdict: quote_gossip::Verdict, code: &str) {
        self.p2p_received.inc();
        let verdict = match verdict {
            quote_gossip::Verdict::Accept => "accepted",
            quote_gossip::Verdict::Reject => "rejected",
            quote_gossip::Verdict::Ignore => "ignored",
        };
        self.p2p_verdicts.get_or_create(&VerdictLabel { verdict, code: code.to_owned() }).inc();
    }

    fn gossip_published(&self) {
        self.p2p_published.inc();
    }

    fn accepted(&self, source: QuoteSource) {
        self.accepted.get_or_create(&SourceLabel { source: source.as_str() }).inc();
    }

    fn rejected(&self, code: &str) {
        self.rejected.get_or_create(&CodeLabel { code: code.to_owned() }).inc();
    }

    fn registry(&self) -> SharedRegistry {
        self.registry.clone()
    }
}

impl events::StreamObserver for Metrics {
    fn stream_open(&self, delta: i64) {
        self.open_streams.inc_by(delta);
    }

    fn event_streamed(&self) {
        self.events_streamed.inc();
    }
}

/// What the handlers and background tasks share.
#[derive(Clone)]
pub struct AppState {
    /// The repository.
    pub store: Store,
    /// The L1.
    pub provider: DynProvider,
    /// The view of L1 intake validates against.
    pub view: Arc<view::ViewCache>,
    /// Stores validated quotes in batches.
    pub writer: writer::QuoteWriter,
    /// Fans events out to stream clients.
    pub events: Arc<events::EventHub>,
    config: Arc<Config>,
    rollup: Arc<OnceLock<RollupConfig>>,
    metrics: Metrics,
    watcher: tokio::sync::watch::Receiver<WatcherStatus>,
    watcher_tx: Arc<tokio::sync::watch::Sender<WatcherStatus>>,
    /// The node's gossip peer, when P2P is enabled.
    pub gossip: Option<quote_gossip::GossipHandle>,
    gossip_inbound: Arc<std::sync::Mutex<Option<tokio::sync::mpsc::Receiver<quote_gossip::Inbound>>>>,
}

impl AppState {
    /// Connects to the database (applying migrations) and, with P2P enabled, joins the gossip
    /// network. The L1 is reached later, in the background, so an unreachable L1 does not stop
    /// the node.
    pub async fn new(config: Config) -> Result<Self, SpawnError> {
        let store = Store::connect(&config.database()).await?;
        let (gossip, inbound) = if config.p2p.enabled {
            let settings = config.p2p.settings(
                quote_gossip::Role::Validator,
                "/ip4/0.0.0.0/tcp/40400".parse().ok(),
                Some(PathBuf::from("coordination-node.p2p-key")),
            )?;
            let (handle, inbound) = quote_gossip::start(settings).await?;
            (Some(handle), Some(inbound))
        } else {
            (None, None)
        };
        let writer = writer::QuoteWriter::spawn(store.clone(), config.quotes_per_epoch);
        let provider = rollup_l1::connect(config.l1_rpc_url.clone());
        let (watcher_tx, watcher) = tokio::sync::watch::channel(WatcherStatus::default());
        Ok(Self {
            store,
            provider,
            view: Arc::new(view::ViewCache::default()),
            writer,
            events: events::EventHub::new(config.events_buffer),
            config: Arc::new(config),
            rollup: Arc::new(OnceLock::new()),
            metrics: Metrics::new(),
            watcher,
            watcher_tx: Arc::new(watcher_tx),
            gossip,
            gossip_inbound: Arc::new(std::sync::Mutex::new(inbound)),
        })
    }

    /// How often the L1 and the view are polled.
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.config.polling_interval_ms.max(10))
    }

    /// The rollup's parameters, once the L1 has been reached.
    pub fn rollup_config(&self) -> Option<RollupConfig> {
        self.rollup.get().copied()
    }

    /// The watcher's last status.
    pub fn watcher_status(&self) -> WatcherStatus {
        *self.watcher.borrow()
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("rollup", &self.rollup.get()).finish_non_exhaustive()
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "coordination-node",
        description = "Takes signed epoch proof quotes, validates them against L1 and stores them; serves them to proposers.",
        license(name = "MIT OR Apache-2.0"),
        version = "1"
    ),
    components(schemas(service_kit::ErrorBody)),
    tags(
        (name = "quotes", description = "Signed quotes"),
        (name = "chain", description = "Epochs and claims as seen on L1"),
        (name = "events", description = "The live event stream"),
        (name = "operations", description = "Health and metrics")
    )
)]
struct ApiDoc;

fn routes(limiter: Arc<service_kit::rate_limit::RateLimiter>) -> OpenApiRouter<AppState> {
    let limited = OpenApiRouter::new()
        .routes(routes!(api::submit_quote))
        .route_layer(axum::middleware::from_fn_with_state(limiter, service_kit::rate_limit::limit));
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(limited)
        .routes(routes!(api::get_quote))
        .routes(routes!(api::list_quotes))
        .routes(routes!(api::get_epoch))
        .routes(routes!(api::list_claims))
        .routes(routes!(api::p2p_status))
        .routes(routes!(api::stream_events))
        .routes(routes!(api::healthz))
        .routes(routes!(api::readyz))
        .routes(routes!(api::metrics))
}

/// The OpenAPI document of the node.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes(service_kit::rate_limit::RateLimiter::new(0, 0)).into_openapi()
}

/// The HTTP application.
pub fn app(state: AppState) -> Router {
    let limiter =
        service_kit::rate_limit::RateLimiter::new(state.config.rate_limit_per_second, state.config.rate_limit_burst);
    let (router, openapi) = routes(limiter).split_for_parts();
    let limits = service_kit::Limits {
        timeout: Duration::from_millis(state.config.request_timeout_ms),
        body_limit: state.config.body_limit,
    };
    service_kit::finish(router, openapi, state.metrics.http.clone(), limits).with_state(state)
}

/// Reaches the L1 (retrying until it answers), then runs the watcher for ever.
async fn follow_l1(state: AppState) {
    let interval = Duration::from_millis(state.config.polling_interval_ms.max(10));
    let rollup = RollupContract::new(state.config.rollup_address, state.provider.clone());
    let config = rollup.config_when_reachable(interval).await;
    let _ = state.rollup.set(config);
    tracing::info!(rollup = %config.address, chain_id = config.chain_id, "following L1");
    let watcher = Watcher::new(
        state.store.clone(),
        state.provider.clone(),
        config,
        state.config.watch_from_block,
        state.config.watch_batch_blocks,
    );
    let status = state.watcher_tx.as_ref().clone();
    watcher::run(watcher, interval, status, state.view.clone()).await;
}

/// Why [`spawn`] could not start a node.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// The database could not be opened.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// The listen address could not be bound.
    #[error("cannot listen: {0}")]
    Bind(#[from] std::io::Error),
    /// The P2P key file could not be used.
    #[error("P2P key: {0}")]
    PeerKey(#[from] quote_gossip::identity::KeyFileError),
    /// The gossip network could not start.
    #[error("P2P: {0}")]
    Gossip(#[from] quote_gossip::StartError),
}

/// A node started by [`spawn`].
#[derive(Debug)]
pub struct Spawned {
    /// Its shared state.
    pub state: AppState,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The serving task (ends when the shutdown future resolves).
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Opens the database, binds `config.listen_addr` and serves in a task until `shutdown`
/// resolves: a node in-process, as the devnet, tests and benchmarks start it.
pub async fn spawn(
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<Spawned, SpawnError> {
    let listener = TcpListener::bind(config.listen_addr).await?;
    let addr = listener.local_addr()?;
    let state = AppState::new(config).await?;
    let task = tokio::spawn(run(state.clone(), listener, shutdown));
    Ok(Spawned { state, addr, task })
}

/// Serves on `listener` until `shutdown` resolves (finishing requests in flight), following L1
/// in the background.
pub async fn run(
    state: AppState,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let _follower = service_kit::AbortOnDrop(tokio::spawn(follow_l1(state.clone())));
    let interval = Duration::from_millis(state.config.polling_interval_ms.max(10));
    let _view =
        service_kit::AbortOnDrop(tokio::spawn(view::keep_fresh(state.view.clone(), state.store.clone(), interval)));
    let events_interval = Duration::from_millis(state.config.events_poll_ms.max(10));
    let _events = service_kit::AbortOnDrop(tokio::spawn(events::poll(
        state.events.clone(),
        state.store.clone(),
        events_interval,
    )));
    let inbound = state.gossip_inbound.lock().ok().and_then(|mut inbound| inbound.take());
    let _gossip = match (state.gossip.clone(), inbound) {
        (Some(gossip), Some(inbound)) => {
            tracing::info!(peer_id = %gossip.peer_id(), addrs = ?gossip.listen_addrs(), "on the quote gossip network");
            Some(service_kit::AbortOnDrop(tokio::spawn(p2p::validate(state.clone(), gossip, inbound))))
        }
        _ => None,
    };
    tracing::info!(addr = %listener.local_addr()?, database = ?state.store.backend(), "coordination node listening");
    axum::serve(listener, app(state).into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_flag_has_its_own_name() {
        use clap::CommandFactory;
        super::Config::command().debug_assert();
    }
}
