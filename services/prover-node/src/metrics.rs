//! What the prover node counts, served on `PROVER_NODE_METRICS_ADDR` with `/healthz`.

use std::sync::Arc;

use prometheus_client::{
    metrics::{counter::Counter, gauge::Gauge},
    registry::Registry,
};
use service_kit::metrics::SharedRegistry;

/// The prover node's metrics.
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: SharedRegistry,
    /// Finished epochs considered for a quote.
    pub epochs_seen: Counter,
    /// Quotes the node accepted.
    pub quotes_sent: Counter,
    /// Epochs the quote provider gave no price for.
    pub quotes_declined: Counter,
    /// Quotes the node refused.
    pub quotes_refused: Counter,
    /// Claims naming this prover.
    pub claims_won: Counter,
    /// Proofs that landed on L1.
    pub proofs_submitted: Counter,
    /// The escrow deposit as last read (whole units, saturated).
    pub escrow_deposit: Gauge,
    /// 1 when the last poll reached the L1, 0 when the L1 failed it (unreachable, timed out).
    pub l1_up: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("prover_node");
        let metrics = [
            Counter::default(),
            Counter::default(),
            Counter::default(),
            Counter::default(),
            Counter::default(),
            Counter::default(),
        ];
        let [epochs_seen, quotes_sent, quotes_declined, quotes_refused, claims_won, proofs_submitted] = metrics;
        let [escrow_deposit, l1_up] = [Gauge::default(), Gauge::default()];
        registry.register("epochs_seen", "Finished epochs considered for a quote", epochs_seen.clone());
        registry.register("quotes_sent", "Quotes the coordination node accepted", quotes_sent.clone());
        registry.register("quotes_declined", "Epochs the quote provider gave no price for", quotes_declined.clone());
        registry.register("quotes_refused", "Quotes the coordination node refused", quotes_refused.clone());
        registry.register("claims_won", "Claims naming this prover", claims_won.clone());
        registry.register("proofs_submitted", "Proofs that landed on L1", proofs_submitted.clone());
        registry.register("escrow_deposit", "The escrow deposit as last read", escrow_deposit.clone());
        registry.register("l1_up", "1 when the last poll reached the L1, 0 when the L1 failed it", l1_up.clone());
        Self {
            registry: Arc::new(registry),
            epochs_seen,
            quotes_sent,
            quotes_declined,
            quotes_refused,
            claims_won,
            proofs_submitted,
            escrow_deposit,
            l1_up,
        }
    }
}

impl Metrics {
    /// `/healthz` and `/metrics`.
    pub fn router(&self) -> axum::Router {
        service_kit::metrics::health_and_metrics(self.registry.clone())
    }
}
