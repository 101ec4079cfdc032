//! What every HTTP service of the project shares, so that they answer alike: one JSON error
//! envelope with a stable `code` ([`ApiError`]), a JSON body extractor that answers bad bodies
//! in that envelope ([`JsonBody`]), HTTP metrics and the `/metrics` endpoint ([`metrics`]),
//! logging set-up ([`telemetry`]) and the shutdown signal ([`shutdown_signal`]).

mod error;
mod json;
pub mod metrics;
pub mod rate_limit;
mod router;
pub mod telemetry;

pub use error::{ApiError, ErrorBody, method_not_allowed, not_found};
pub use json::{JsonBody, JsonBytes};
pub use router::{Limits, finish};

/// Resolves on Ctrl-C or SIGTERM: the moment to stop taking requests and finish those in flight.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}

/// Aborts a background task when dropped, so a service's helpers stop with the service even when
/// its future is dropped rather than run to completion.
#[derive(Debug)]
pub struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
