//! What the proposer counts, served on `PROPOSER_METRICS_ADDR` with `/healthz`.

use std::sync::Arc;

use prometheus_client::{
    metrics::{counter::Counter, gauge::Gauge},
    registry::Registry,
};
use service_kit::metrics::SharedRegistry;

/// The proposer's metrics.
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: SharedRegistry,
    /// Blocks proposed.
    pub blocks_proposed: Counter,
    /// Epochs claimed.
    pub epochs_claimed: Counter,
    /// Times the coordination node could not be asked for quotes (unreachable, or an error
    /// answer): not the same as "no quotes yet".
    pub node_failures: Counter,
    /// 1 when the last step reached the L1, 0 when the L1 failed it (unreachable, timed out).
    pub l1_up: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("proposer");
        let [blocks_proposed, epochs_claimed, node_failures] = std::array::from_fn(|_| Counter::default());
        registry.register("blocks_proposed", "Blocks proposed", blocks_proposed.clone());
        registry.register("epochs_claimed", "Epochs claimed", epochs_claimed.clone());
        registry.register(
            "node_failures",
            "Times the coordination node could not be asked for quotes (unreachable or an error answer)",
            node_failures.clone(),
        );
        let l1_up = Gauge::default();
        registry.register("l1_up", "1 when the last step reached the L1, 0 when the L1 failed it", l1_up.clone());
        Self { registry: Arc::new(registry), blocks_proposed, epochs_claimed, node_failures, l1_up }
    }
}

impl Metrics {
    /// `/healthz` and `/metrics`.
    pub fn router(&self) -> axum::Router {
        service_kit::metrics::health_and_metrics(self.registry.clone())
    }
}
