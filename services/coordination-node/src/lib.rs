//! The coordination node: provers send it signed quotes (on port 8000); it validates each
//! against its view of L1 and stores it durably before answering; it follows the L1 chain
//! (epochs, blocks, claims, proofs, prunes, escrow deposits) with a watcher.

pub mod api;
pub mod intake;
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
    metrics::{counter::Counter, family::Family},
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
    /// Largest request body, in bytes (a quote is well under 1 KiB).
    #[arg(long, env = "NODE_BODY_LIMIT", default_value_t = 4096)]
    pub body_limit: usize,
    /// Requests taking longer than this are answered 408, in milliseconds.
    #[arg(long, env = "NODE_REQUEST_TIMEOUT_MS", default_value_t = 10_000)]
    pub request_timeout_ms: u64,
    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

impl Config {
    /// The database URL in use: `DATABASE_URL`, or the SQLite file.
    pub fn database(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| format!("sqlite://{}?mode=rwc", self.sqlite_path.display()))
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabel {
    code: String,
}

/// The node's metrics.
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: SharedRegistry,
    http: HttpMetrics,
    accepted: Counter,
    rejected: Family<CodeLabel, Counter>,
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("coordination_node");
        let http = HttpMetrics::register(&mut registry);
        let accepted = Counter::default();
        let rejected = Family::<CodeLabel, Counter>::default();
        registry.register("quotes_accepted", "Quotes validated and stored", accepted.clone());
        registry.register("quotes_rejected", "Quotes refused, by code", rejected.clone());
        Self { registry: Arc::new(registry), http, accepted, rejected }
    }

    fn accepted(&self) {
        self.accepted.inc();
    }

    fn rejected(&self, code: &str) {
        self.rejected.get_or_create(&CodeLabel { code: code.to_owned() }).inc();
    }

    fn registry(&self) -> SharedRegistry {
        self.registry.clone()
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
    config: Arc<Config>,
    rollup: Arc<OnceLock<RollupConfig>>,
    metrics: Metrics,
    watcher: tokio::sync::watch::Receiver<WatcherStatus>,
    watcher_tx: Arc<tokio::sync::watch::Sender<WatcherStatus>>,
}

impl AppState {
    /// Connects to the database (applying migrations). The L1 is reached later, in the
    /// background, so an unreachable L1 does not stop the node.
    pub async fn new(config: Config) -> Result<Self, store::StoreError> {
        let store = Store::connect(&config.database()).await?;
        let writer = writer::QuoteWriter::spawn(store.clone(), config.quotes_per_epoch);
        let provider = rollup_l1::connect(config.l1_rpc_url.clone());
        let (watcher_tx, watcher) = tokio::sync::watch::channel(WatcherStatus::default());
        Ok(Self {
            store,
            provider,
            view: Arc::new(view::ViewCache::default()),
            writer,
            config: Arc::new(config),
            rollup: Arc::new(OnceLock::new()),
            metrics: Metrics::new(),
            watcher,
            watcher_tx: Arc::new(watcher_tx),
        })
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
        (name = "operations", description = "Health and metrics")
    )
)]
struct ApiDoc;

fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(api::submit_quote))
        .routes(routes!(api::get_quote))
        .routes(routes!(api::list_quotes))
        .routes(routes!(api::get_epoch))
        .routes(routes!(api::list_claims))
        .routes(routes!(api::healthz))
        .routes(routes!(api::readyz))
        .routes(routes!(api::metrics))
}

/// The OpenAPI document of the node.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().into_openapi()
}

/// The HTTP application.
pub fn app(state: AppState) -> Router {
    let (router, openapi) = routes().split_for_parts();
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
    let config = loop {
        match rollup.config().await {
            Ok(config) => break config,
            Err(error) => {
                tracing::warn!(%error, rpc = %state.config.l1_rpc_url, "cannot read the rollup on L1; retrying");
                tokio::time::sleep(interval).await;
            }
        }
    };
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
    watcher::run(watcher, interval, status).await;
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
    tracing::info!(addr = %listener.local_addr()?, database = ?state.store.backend(), "coordination node listening");
    axum::serve(listener, app(state)).with_graceful_shutdown(shutdown).await
}
