//! What every HTTP service of the project shares, so that they answer alike: one JSON error
//! envelope with a stable `code` ([`ApiError`]), a JSON body extractor that answers bad bodies
//! in that envelope ([`JsonBody`]), HTTP metrics and the `/metrics` endpoint ([`metrics`]),
//! logging set-up ([`telemetry`]) and the shutdown signal ([`shutdown_signal`]).

pub mod client;
mod error;
mod json;
pub mod metrics;
pub mod rate_limit;
mod router;
pub mod schema;
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

/// Runs `step` every `interval` (a late tick is delayed, not bunched) until `shutdown` resolves;
/// a failed step is logged as `what` and tried again at the next tick.
pub async fn every<T, E, F, Fut>(
    interval: std::time::Duration,
    shutdown: impl std::future::Future<Output = ()>,
    what: &'static str,
    mut step: F,
) where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            _ = ticker.tick() => {
                if let Err(error) = step().await {
                    tracing::warn!(%error, "{what} failed; retrying next poll");
                }
            }
        }
    }
}
