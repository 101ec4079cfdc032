//! The node assembled: its routes and OpenAPI document, and the tasks that run beside the HTTP
//! server (the L1 watcher, the view reload, the event reader and, on PostgreSQL, the listener
//! for other replicas' events, gossip validation, retention).

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use axum::Router;
use rollup_l1::RollupContract;
use tokio::{net::TcpListener, sync::mpsc};
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    api,
    config::Config,
    events, explorer, market, p2p,
    state::AppState,
    store::{Store, StoreError},
    view,
    watcher::{self, Watcher},
};

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
        (name = "market", description = "Aggregates: the node's view of L1, each epoch's market, provers' records"),
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
        .routes(routes!(market::chain_status))
        .routes(routes!(market::market_epochs))
        .routes(routes!(market::leaderboard))
        .routes(routes!(market::prover))
        .routes(routes!(api::p2p_status))
        .routes(routes!(api::stream_events))
        .routes(routes!(api::healthz))
        .routes(routes!(api::readyz))
        .routes(routes!(api::metrics))
}

/// The routes and their OpenAPI document, each error answer with the codes it can carry.
fn documented(limiter: Arc<service_kit::rate_limit::RateLimiter>) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut openapi) = routes(limiter).split_for_parts();
    service_kit::schema::document_error_codes(&mut openapi, error_codes);
    (router, openapi)
}

/// The OpenAPI document of the node.
pub fn openapi() -> utoipa::openapi::OpenApi {
    documented(service_kit::rate_limit::RateLimiter::new(0, 0)).1
}

/// The codes an error answer of an operation can carry, by its status (none for an answer the
/// node does not give; the API description test fails if one is documented without codes).
fn error_codes(operation: &str, status: u16) -> Vec<&'static str> {
    use node_api::RefusalCode;
    let refusals = |status: u16| {
        RefusalCode::ALL.iter().filter(move |code| code.over_http() && code.http_status() == status).map(|c| c.as_str())
    };
    match (operation, status) {
        ("submit_quote", 400) => refusals(400).chain(["invalid_body"]).collect(),
        ("submit_quote", 422) => refusals(422).collect(),
        ("submit_quote", 413) => vec!["payload_too_large"],
        ("submit_quote", 415) => vec!["unsupported_media_type"],
        ("submit_quote", 429) => vec!["rate_limited"],
        ("submit_quote", 503) => vec!["database_unavailable", "chain_view_unavailable"],
        ("get_quote", 400) => vec!["invalid_id"],
        ("get_quote", 404) => vec!["quote_not_found"],
        ("get_epoch", 404) => vec!["epoch_not_found"],
        ("list_quotes", 400) => vec!["missing_parameter", "invalid_parameter"],
        ("get_epoch" | "list_claims" | "stream_events" | "market_epochs" | "leaderboard" | "prover", 400) => {
            vec!["invalid_parameter"]
        }
        ("prover", 404) => vec!["prover_not_found"],
        ("stream_events", 429) => vec!["too_many_streams"],
        (_, 503) => vec!["database_unavailable"],
        _ => Vec::new(),
    }
}

/// The OpenAPI document of the node as YAML (the committed `openapi.yaml`). Strings that read
/// as hexadecimal numbers to YAML 1.1 parsers (`0x…` ids, addresses and signatures in examples)
/// are quoted, so every parser reads them back as strings.
pub fn openapi_yaml() -> anyhow::Result<String> {
    let yaml = openapi().to_yaml()?;
    let mut out = String::with_capacity(yaml.len());
    for line in yaml.lines() {
        // Where a scalar value starts: after `key: ` or after a list item's `- `.
        let item = line.trim_start().strip_prefix("- ").map(|rest| line.len() - rest.len());
        let at = line.find(": ").map(|i| i + 2).or(item);
        match at.map(|at| line.split_at(at)) {
            Some((head, value))
                if value.len() > 2
                    && value.starts_with("0x")
                    && value.bytes().skip(2).all(|b| b.is_ascii_hexdigit()) =>
            {
                out.push_str(&format!("{head}'{value}'"));
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    Ok(out)
}

/// The HTTP application.
pub fn app(state: AppState) -> Router {
    let limiter =
        service_kit::rate_limit::RateLimiter::new(state.config.rate_limit_per_second, state.config.rate_limit_burst);
    let (router, openapi) = documented(limiter);
    let router = router.merge(explorer::routes()).layer(axum::middleware::from_fn_with_state(
        Arc::new(state.config.trusted_proxies.clone()),
        service_kit::client::resolve,
    ));
    let limits = service_kit::Limits {
        timeout: Duration::from_millis(state.config.request_timeout_ms),
        body_limit: state.config.body_limit,
    };
    service_kit::finish(router, openapi, state.metrics.http.clone(), limits).with_state(state)
}

/// A node ready to serve: its shared state, and the gossip messages waiting to be validated.
#[derive(Debug)]
pub struct Node {
    /// Its shared state.
    pub state: AppState,
    inbound: Option<mpsc::Receiver<quote_gossip::Inbound>>,
}

impl Node {
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
        let provider = rollup_l1::connect(config.l1_rpc_url.clone());
        Ok(Self { state: AppState::new(config, store, provider, gossip), inbound })
    }
}

/// Reaches the L1 (retrying until it answers), then runs the watcher for ever.
async fn follow_l1(state: AppState) {
    let interval = state.poll_interval();
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

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// The database could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
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
    let node = Node::new(config).await?;
    let state = node.state.clone();
    let task = tokio::spawn(run(node, listener, shutdown));
    Ok(Spawned { state, addr, task })
}

/// Serves on `listener` until `shutdown` resolves (finishing requests in flight), following L1,
/// keeping the view and the event streams current and validating gossip in the background.
pub async fn run(
    node: Node,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let Node { state, inbound } = node;
    let _follower = service_kit::AbortOnDrop(tokio::spawn(follow_l1(state.clone())));
    let _view = service_kit::AbortOnDrop(tokio::spawn(view::keep_fresh(
        state.view.clone(),
        state.store.clone(),
        state.poll_interval(),
    )));
    let events_fallback = Duration::from_millis(state.config.events_poll_ms.max(10));
    let _events = service_kit::AbortOnDrop(tokio::spawn(events::poll(
        state.events.clone(),
        state.store.clone(),
        events_fallback,
    )));
    let _retention = service_kit::AbortOnDrop(tokio::spawn(crate::retention::run(state.clone())));
    let store = state.store.clone();
    let _notifications = service_kit::AbortOnDrop(tokio::spawn(async move { store.forward_notifications().await }));
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
