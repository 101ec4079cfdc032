//! What the request handlers and the background tasks share.

use std::{
    sync::{Arc, OnceLock},
    time::Duration,
};

use alloy::providers::DynProvider;
use rollup_l1::RollupConfig;

use crate::{best, config::Config, events, metrics::Metrics, store::Store, view, watcher::WatcherStatus, writer};

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
    /// Fans events out to stream clients.
    pub events: Arc<events::EventHub>,
    /// The event streams each client holds open.
    pub streams: Arc<events::StreamSlots>,
    /// The first pages of claimable quotes, from memory while current.
    pub best: Arc<best::BestPages>,
    /// The node's gossip peer, when P2P is enabled.
    pub gossip: Option<quote_gossip::GossipHandle>,
    pub(crate) config: Arc<Config>,
    /// The rollup's parameters, set once the L1 has been reached.
    pub(crate) rollup: Arc<OnceLock<RollupConfig>>,
    pub(crate) metrics: Metrics,
    pub(crate) watcher: tokio::sync::watch::Receiver<WatcherStatus>,
    pub(crate) watcher_tx: Arc<tokio::sync::watch::Sender<WatcherStatus>>,
}

impl AppState {
    /// The state of a node on `store`, reaching L1 through `provider`, with its gossip peer.
    pub(crate) fn new(
        config: Config,
        store: Store,
        provider: DynProvider,
        gossip: Option<quote_gossip::GossipHandle>,
    ) -> Self {
        let writer = writer::QuoteWriter::spawn(store.clone(), config.quotes_per_epoch);
        let (watcher_tx, watcher) = tokio::sync::watch::channel(WatcherStatus::default());
        Self {
            store,
            provider,
            view: Arc::new(view::ViewCache::default()),
            writer,
            events: events::EventHub::new(config.events_buffer),
            streams: events::StreamSlots::new(config.streams_per_client),
            best: Arc::default(),
            gossip,
            config: Arc::new(config),
            rollup: Arc::new(OnceLock::new()),
            metrics: Metrics::new(),
            watcher,
            watcher_tx: Arc::new(watcher_tx),
        }
    }

    /// How often the L1 and the view are polled.
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.config.polling_interval_ms.max(10))
    }

    /// The rollup's parameters, once the L1 has been reached.
    pub fn rollup_config(&self) -> Option<RollupConfig> {
        self.rollup.get().copied()
    }

    /// The watcher's last status.
    pub fn watcher_status(&self) -> WatcherStatus {
        *self.watcher.borrow()
    }

    /// Whether the L1 counts as reachable: its parameters were read, and on the replica running
    /// the watcher its last step reached it (`/readyz`'s `l1`, the `l1_up` gauge).
    pub(crate) fn l1_up(&self) -> bool {
        let watcher = self.watcher_status();
        self.rollup_config().is_some() && (!watcher.leader || watcher.healthy)
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("rollup", &self.rollup.get()).finish_non_exhaustive()
    }
}
