//! The explorer: a page application in plain HTML, CSS and JavaScript, compiled into the binary
//! (no CDN, nothing fetched from elsewhere), reading the node's own API. `/` leads to it.

use axum::{
    Router,
    http::header,
    response::{IntoResponse, Redirect},
    routing::get,
};

use crate::state::AppState;

/// One asset: its bytes and media type.
fn asset(body: &'static str, content_type: &'static str) -> impl IntoResponse {
    // Revalidated on each load: a node upgraded in place serves its new explorer at once.
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache")], body)
}

/// The explorer's routes (not in the API description: they answer HTML, CSS and JavaScript).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/explorer/") }))
        .route("/explorer", get(|| async { Redirect::to("/explorer/") }))
        .route(
            "/explorer/",
            get(|| async { asset(include_str!("../explorer/index.html"), "text/html; charset=utf-8") }),
        )
        .route(
            "/explorer/app.js",
            get(|| async { asset(include_str!("../explorer/app.js"), "text/javascript; charset=utf-8") }),
        )
        .route(
            "/explorer/style.css",
            get(|| async { asset(include_str!("../explorer/style.css"), "text/css; charset=utf-8") }),
        )
}
