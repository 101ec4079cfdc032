//! The node's Prometheus metrics.

use std::sync::Arc;

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};
use service_kit::metrics::{HttpMetrics, SharedRegistry};

use crate::state::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabel {
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabel {
    source: &'static str,
}

/// How a quote reached the node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuoteSource {
    /// `POST /epoch-proof-quotes`.
    Http,
    /// The gossip network.
    Gossip,
}

impl QuoteSource {
    /// Every source, for pre-created metric labels.
    pub const ALL: [Self; 2] = [Self::Http, Self::Gossip];

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Gossip => "gossip",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TableLabel {
    table: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerdictLabel {
    verdict: &'static str,
    code: String,
}

/// The node's metrics.
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: SharedRegistry,
    pub(crate) http: HttpMetrics,
    accepted: Family<SourceLabel, Counter>,
    rejected: Family<CodeLabel, Counter>,
    l1_head: Gauge,
    l1_processed: Gauge,
    watcher_lag: Gauge,
    watcher_leader: Gauge,
    database_up: Gauge,
    l1_up: Gauge,
    events_streamed: Counter,
    open_streams: Gauge,
    p2p_enabled: Gauge,
    p2p_peers: Gauge,
    p2p_topic_peers: Gauge,
    p2p_blocked: Gauge,
    p2p_received: Counter,
    p2p_verdicts: Family<VerdictLabel, Counter>,
    p2p_published: Counter,
    retention_deleted: Family<TableLabel, Counter>,
    retention_floor: Gauge,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let mut registry = Registry::with_prefix("coordination_node");
        let http = HttpMetrics::register(&mut registry);
        let accepted = Family::<SourceLabel, Counter>::default();
        for source in QuoteSource::ALL {
            let _ = accepted.get_or_create(&SourceLabel { source: source.as_str() });
        }
        let rejected = Family::<CodeLabel, Counter>::default();
        // Every refusal is shown from the start, at 0, so alerts can rate() them.
        for code in node_api::RefusalCode::ALL {
            let _ = rejected.get_or_create(&CodeLabel { code: code.as_str().to_owned() });
        }
        registry.register("quotes_accepted", "Quotes validated and stored, by source (http, gossip)", accepted.clone());
        registry.register("quotes_rejected", "Quotes refused, by code", rejected.clone());
        let [l1_head, l1_processed, watcher_lag, watcher_leader, database_up, l1_up] =
            std::array::from_fn(|_| Gauge::default());
        registry.register("l1_head_block", "Latest L1 block seen by this replica's watcher", l1_head.clone());
        registry.register(
            "l1_processed_block",
            "Last L1 block in the view intake validates against",
            l1_processed.clone(),
        );
        registry.register(
            "watcher_lag_blocks",
            "L1 blocks the watcher is behind the head (0 on followers)",
            watcher_lag.clone(),
        );
        registry.register("watcher_leader", "1 when this replica runs the L1 watcher", watcher_leader.clone());
        registry.register("database_up", "1 when the database answered at the last scrape", database_up.clone());
        registry.register(
            "l1_up",
            "1 when the L1 is reachable as `/readyz` judges it: the watcher's last step reached it (on the replica running it)",
            l1_up.clone(),
        );
        let events_streamed = Counter::default();
        let open_streams = Gauge::default();
        registry.register("events_streamed", "Events sent to event-stream clients", events_streamed.clone());
        registry.register("open_streams", "Event-stream clients connected", open_streams.clone());
        let [p2p_enabled, p2p_peers, p2p_topic_peers, p2p_blocked] = std::array::from_fn(|_| Gauge::default());
        registry.register("p2p_enabled", "1 when the node is on the quote gossip network", p2p_enabled.clone());
        let [p2p_received, p2p_published] = std::array::from_fn(|_| Counter::default());
        let p2p_verdicts = Family::<VerdictLabel, Counter>::default();
        // Likewise every verdict a gossiped quote can get, with its code.
        let verdicts = [("accepted", "accepted"), ("ignored", "known")].into_iter().chain(
            node_api::RefusalCode::ALL
                .iter()
                .map(|code| (if code.sender_at_fault() { "rejected" } else { "ignored" }, code.as_str())),
        );
        for (verdict, code) in verdicts {
            let _ = p2p_verdicts.get_or_create(&VerdictLabel { verdict, code: code.to_owned() });
        }
        registry.register("p2p_peers", "Peers connected on the quote gossip network", p2p_peers.clone());
        registry.register("p2p_topic_peers", "Connected peers subscribed to the quote topic", p2p_topic_peers.clone());
        registry.register(
            "p2p_peers_blocked",
            "Peers disconnected and refused for sending invalid quotes (score at or below -80)",
            p2p_blocked.clone(),
        );
        registry.register("p2p_messages_received", "Gossiped quote messages received", p2p_received.clone());
        registry.register(
            "p2p_messages",
            "Gossiped quote messages by verdict (accepted, rejected, ignored) and code",
            p2p_verdicts.clone(),
        );
        registry.register(
            "p2p_quotes_published",
            "Quotes taken over HTTP and published on gossip",
            p2p_published.clone(),
        );
        let retention_deleted = Family::<TableLabel, Counter>::default();
        for table in ["quotes", "events"] {
            let _ = retention_deleted.get_or_create(&TableLabel { table });
        }
        let retention_floor = Gauge::default();
        registry.register(
            "retention_deleted",
            "Rows deleted by retention, by table (quotes, events)",
            retention_deleted.clone(),
        );
        registry.register(
            "retention_floor_epoch",
            "The first epoch whose quotes and events retention keeps, as of its last run on this replica",
            retention_floor.clone(),
        );
        Self {
            registry: Arc::new(registry),
            http,
            accepted,
            rejected,
            l1_head,
            l1_processed,
            watcher_lag,
            watcher_leader,
            database_up,
            l1_up,
            events_streamed,
            open_streams,
            p2p_enabled,
            p2p_peers,
            p2p_topic_peers,
            p2p_blocked,
            p2p_received,
            p2p_verdicts,
            p2p_published,
            retention_deleted,
            retention_floor,
        }
    }

    /// Sets the gauges that describe the node's state, at scrape time.
    pub(crate) async fn observe(&self, state: &AppState) {
        let watcher = state.watcher_status();
        let processed = state.view.get().cursor.map_or(0, |c| c.l1_block);
        let gauge = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.l1_processed.set(gauge(processed));
        self.watcher_leader.set(i64::from(watcher.leader));
        if watcher.leader {
            self.l1_head.set(gauge(watcher.head));
            self.watcher_lag.set(gauge(watcher.head.saturating_sub(watcher.cursor.map_or(0, |c| c.l1_block))));
        } else {
            self.watcher_lag.set(0);
        }
        self.database_up.set(i64::from(state.store.ping().await));
        self.l1_up.set(i64::from(state.l1_up()));
        self.p2p_enabled.set(i64::from(state.gossip.is_some()));
        if let Some(gossip) = &state.gossip {
            self.p2p_peers.set(gauge(gossip.connected_peers() as u64));
            self.p2p_topic_peers.set(gauge(gossip.topic_peers() as u64));
            self.p2p_blocked.set(gauge(gossip.blocked_peers() as u64));
        }
    }

    pub(crate) fn gossip_verdict(&self, verdict: quote_gossip::Verdict, code: &str) {
        self.p2p_received.inc();
        let verdict = match verdict {
            quote_gossip::Verdict::Accept => "accepted",
            quote_gossip::Verdict::Reject | quote_gossip::Verdict::Forged => "rejected",
            quote_gossip::Verdict::Ignore => "ignored",
        };
        self.p2p_verdicts.get_or_create(&VerdictLabel { verdict, code: code.to_owned() }).inc();
    }

    pub(crate) fn gossip_published(&self) {
        self.p2p_published.inc();
    }

    pub(crate) fn accepted(&self, source: QuoteSource) {
        self.accepted.get_or_create(&SourceLabel { source: source.as_str() }).inc();
    }

    pub(crate) fn rejected(&self, code: &str) {
        self.rejected.get_or_create(&CodeLabel { code: code.to_owned() }).inc();
    }

    pub(crate) fn retention_deleted(&self, table: &'static str, rows: u64) {
        self.retention_deleted.get_or_create(&TableLabel { table }).inc_by(rows);
    }

    pub(crate) fn retention_floor(&self, epoch: u64) {
        self.retention_floor.set(i64::try_from(epoch).unwrap_or(i64::MAX));
    }

    pub(crate) fn registry(&self) -> SharedRegistry {
        self.registry.clone()
    }
}

impl crate::events::StreamObserver for Metrics {
    fn stream_open(&self, delta: i64) {
        self.open_streams.inc_by(delta);
    }

    fn events_streamed(&self, count: u64) {
        self.events_streamed.inc_by(count);
    }
}
