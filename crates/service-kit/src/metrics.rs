//! Prometheus metrics: HTTP request counts and latencies by matched route, and `/metrics`.

use std::{sync::Arc, time::Instant};

use axum::{
    extract::{MatchedPath, Request, State},
    http::header,
    middleware::Next,
    response::{IntoResponse, Response},
};
use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, histogram::Histogram},
    registry::Registry,
};

/// Labels of an HTTP request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// HTTP method.
    pub method: String,
    /// The matched route template (`/epochs/{epoch}`), or `unmatched`.
    pub route: String,
    /// Response status code.
    pub status: u16,
}

/// Labels of a request latency.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// The matched route template, or `unmatched`.
    pub route: String,
}

fn latency_histogram() -> Histogram {
    // 100 µs to ~3.3 s.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(0.0001, 2.0, 16))
}

/// HTTP metrics, registered once and shared by the middleware.
#[derive(Clone, Debug)]
pub struct HttpMetrics {
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
}

impl HttpMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram);
        registry.register("http_requests", "HTTP requests answered, by method, route and status", requests.clone());
        registry.register("http_request_duration_seconds", "Time to answer HTTP requests, by route", latency.clone());
        Self { requests, latency }
    }
}

/// Middleware recording every request in [`HttpMetrics`] (use with `middleware::from_fn_with_state`).
pub async fn track(State(metrics): State<HttpMetrics>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str()).to_owned();
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    metrics.latency.get_or_create(&RouteLabels { route: route.clone() }).observe(started.elapsed().as_secs_f64());
    metrics.requests.get_or_create(&RequestLabels { method, route, status: response.status().as_u16() }).inc();
    response
}

/// The registry, frozen once every metric is registered, served by [`serve_metrics`].
pub type SharedRegistry = Arc<Registry>;

/// `GET /healthz` and `GET /metrics` for a daemon that has no HTTP API of its own (the prover
/// node, the proposer), served on its metrics address.
pub fn health_and_metrics(registry: SharedRegistry) -> axum::Router {
    axum::Router::new()
        .route("/healthz", axum::routing::get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }))
        .route("/metrics", axum::routing::get(serve_metrics))
        .with_state(registry)
}

/// `GET /metrics`: the registry in the OpenMetrics text format.
pub async fn serve_metrics(State(registry): State<SharedRegistry>) -> Response {
    let mut body = String::new();
    match encode(&mut body, &registry) {
        Ok(()) => ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], body)
            .into_response(),
        Err(e) => crate::ApiError::internal(e).into_response(),
    }
}
