//! The layers every service puts around its routes, so they all behave alike at the edges.

use std::time::Duration;

use axum::{
    Router, error_handling::HandleErrorLayer, extract::DefaultBodyLimit, http::StatusCode, middleware,
    response::IntoResponse,
};
use tower::ServiceBuilder;

use crate::{ApiError, metrics::HttpMetrics};

/// Request limits.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Requests taking longer are answered `408 request_timeout`.
    pub timeout: Duration,
    /// Larger bodies are answered `413 payload_too_large`.
    pub body_limit: usize,
}

/// Completes a service's router: `/openapi.json` and the browsable docs at `/docs` (served from
/// the binary, so they work offline), error-envelope answers for unknown routes and methods,
/// HTTP metrics by matched route, the timeout and body limit, and a panic guard that answers a
/// generic 500.
pub fn finish<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    openapi: utoipa::openapi::OpenApi,
    http: HttpMetrics,
    limits: Limits,
) -> Router<S> {
    router
        .merge(utoipa_swagger_ui::SwaggerUi::new("/docs").url("/openapi.json", openapi))
        .fallback(crate::not_found)
        .method_not_allowed_fallback(crate::method_not_allowed)
        .layer(middleware::from_fn_with_state(http, crate::metrics::track))
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(|_: tower::BoxError| async {
                    ApiError::new(StatusCode::REQUEST_TIMEOUT, "request_timeout", "the request took too long")
                }))
                .timeout(limits.timeout),
        )
        .layer(DefaultBodyLimit::max(limits.body_limit))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            ApiError::internal("a handler panicked").into_response()
        }))
}
