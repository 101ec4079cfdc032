//! The quote service: a prover operator's pricing policy behind the HTTP endpoint its prover
//! node's `QUOTE_PROVIDER_URL` points at. For each finished epoch it answers the fee (basis points
//! of the epoch's fees) and the bond the prover commits to, or declines with a reason.

pub mod api;
pub mod policy;
pub mod store;

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use axum::Router;
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family},
    registry::Registry,
};
use service_kit::{
    metrics::{HttpMetrics, SharedRegistry},
    telemetry::LogFormat,
};
use tokio::net::TcpListener;
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    policy::{Decline, Override},
    store::{PolicySource, PolicyStore, ReloadObserver},
};

/// The service's settings; every flag also reads an environment variable.
#[derive(Clone, Debug, clap::Parser)]
#[command(name = "quote-service", version, about = "Pricing service for a prover's epoch proof quotes")]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "QUOTE_SERVICE_LISTEN_ADDR", default_value = "0.0.0.0:8001")]
    pub listen_addr: SocketAddr,
    /// The pricing policy (TOML). Without it the built-in policy (policy.example.toml) is used.
    #[arg(long, env = "QUOTE_POLICY_FILE")]
    pub policy: Option<PathBuf>,
    /// How often the policy file is checked for changes, in milliseconds.
    #[arg(long, env = "QUOTE_POLICY_POLL_MS", default_value_t = 1000)]
    pub policy_poll_ms: u64,
    /// Requests taking longer than this are answered 408, in milliseconds.
    #[arg(long, env = "QUOTE_SERVICE_REQUEST_TIMEOUT_MS", default_value_t = 5000)]
    pub request_timeout_ms: u64,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "QUOTE_SERVICE_BODY_LIMIT", default_value_t = 16 * 1024)]
    pub body_limit: usize,
    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Policy overrides, from `QUOTE_POLICY__SECTION__KEY` environment variables (read at start).
    #[arg(skip)]
    pub overrides: Vec<Override>,
}

impl Config {
    /// The policy source this configuration names.
    pub fn policy_source(&self) -> PolicySource {
        PolicySource { path: self.policy.clone(), overrides: self.overrides.clone() }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

/// The service's metrics.
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: SharedRegistry,
    http: HttpMetrics,
    quotes: Counter,
    declines: Family<ReasonLabel, Counter>,
    reloads: Family<ResultLabel, Counter>,
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("quote_service");
        let http = HttpMetrics::register(&mut registry);
        let quotes = Counter::default();
        let declines = Family::<ReasonLabel, Counter>::default();
        let reloads = Family::<ResultLabel, Counter>::default();
        registry.register("quotes", "Quotes answered with a fee and a bond", quotes.clone());
        registry.register("declines", "Requests declined, by reason", declines.clone());
        registry.register("policy_reloads", "Policy reload attempts, by result", reloads.clone());
        // Every reason is shown from the start, at 0, so alerts can rate() them.
        for reason in Decline::CODES {
            let _ = declines.get_or_create(&ReasonLabel { reason });
        }
        for result in ["ok", "refused"] {
            let _ = reloads.get_or_create(&ResultLabel { result });
        }
        Self { registry: Arc::new(registry), http, quotes, declines, reloads }
    }

    fn quoted(&self) {
        self.quotes.inc();
    }

    fn declined(&self, reason: &'static str) {
        self.declines.get_or_create(&ReasonLabel { reason }).inc();
    }

    fn registry(&self) -> SharedRegistry {
        self.registry.clone()
    }
}

impl ReloadObserver for Metrics {
    fn reloaded(&self, ok: bool) {
        self.reloads.get_or_create(&ResultLabel { result: if ok { "ok" } else { "refused" } }).inc();
    }
}

/// What the handlers share.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The policy in force.
    pub policy: Arc<PolicyStore>,
    metrics: Metrics,
    config: Arc<Config>,
}

impl AppState {
    /// Loads the policy named by `config`; fails if it does not validate.
    pub fn new(config: Config) -> Result<Self, policy::PolicyError> {
        let policy = Arc::new(PolicyStore::load(config.policy_source())?);
        Ok(Self { policy, metrics: Metrics::new(), config: Arc::new(config) })
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "quote-service",
        description = "A prover's pricing service: answers the prover node's QUOTE_PROVIDER_URL requests with a fee and a bond, or declines.",
        license(name = "MIT OR Apache-2.0"),
        version = "1"
    ),
    components(schemas(service_kit::ErrorBody)),
    tags((name = "quotes", description = "Pricing epochs"), (name = "operations", description = "Health, metrics, policy"))
)]
struct ApiDoc;

/// The routes, each registered once, with its OpenAPI description from the same list.
fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(api::post_quote))
        .routes(routes!(api::post_root))
        .routes(routes!(api::get_policy))
        .routes(routes!(api::healthz))
        .routes(routes!(api::readyz))
        .routes(routes!(api::metrics))
}

/// The OpenAPI document of the service (what `/openapi.json` serves).
pub fn openapi() -> utoipa::openapi::OpenApi {
    documented().1
}

/// The routes and their OpenAPI document, each error answer with the codes it can carry.
fn documented() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut openapi) = routes().split_for_parts();
    service_kit::schema::document_error_codes(&mut openapi, error_codes);
    (router, openapi)
}

/// The codes an error answer of an operation can carry, by its status.
fn error_codes(operation: &str, status: u16) -> Vec<&'static str> {
    match (operation, status) {
        ("post_quote" | "post_root", 400) => vec!["invalid_body", "invalid_json", "missing_field", "invalid_number"],
        ("post_quote" | "post_root", 413) => vec!["payload_too_large"],
        ("post_quote" | "post_root", 415) => vec!["unsupported_media_type"],
        ("post_quote" | "post_root", 422) => Decline::CODES.into_iter().chain(["invalid_block_range"]).collect(),
        _ => Vec::new(),
    }
}

/// The whole HTTP application: routes, `/openapi.json`, the browsable docs at `/docs`, and the
/// layers (body limit, timeout, panic guard, metrics).
pub fn app(state: AppState) -> Router {
    let (router, openapi) = documented();
    let limits = service_kit::Limits {
        timeout: Duration::from_millis(state.config.request_timeout_ms),
        body_limit: state.config.body_limit,
    };
    service_kit::finish(router, openapi, state.metrics.http.clone(), limits).with_state(state)
}

/// Serves on `listener` until `shutdown` resolves, reloading the policy on SIGHUP and on file
/// change; requests in flight at shutdown are finished.
pub async fn run(
    state: AppState,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let poll = Duration::from_millis(state.config.policy_poll_ms.max(10));
    let observer: Arc<dyn ReloadObserver> = Arc::new(state.metrics.clone());
    let _reloader = service_kit::AbortOnDrop(tokio::spawn(store::watch(state.policy.clone(), poll, observer)));
    let loaded = state.policy.current();
    tracing::info!(addr = %listener.local_addr()?, policy = %loaded.source, "quote service listening");
    axum::serve(listener, app(state)).with_graceful_shutdown(shutdown).await
}
