//! The live event stream: order, resume without gap or duplicate, other replicas' events, and a
//! slow client told it fell behind.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::app::{NodeApp, RunningNode, node_config, wait_synced};

/// One Server-Sent Event.
#[derive(Debug, Clone)]
pub(crate) struct SseEvent {
    pub(crate) id: Option<i64>,
    pub(crate) kind: String,
    pub(crate) data: Value,
}

/// Reads an SSE response event by event.
pub(crate) struct SseReader {
    response: reqwest::Response,
    parser: node_api::sse::SseParser,
    ready: std::collections::VecDeque<node_api::sse::SseEvent>,
}

impl SseReader {
    pub(crate) async fn open(node: &RunningNode, last_event_id: Option<i64>) -> Self {
        let mut request = node.client.get(format!("{}/events", node.base));
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        let response = request.send().await.expect("stream opens");
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers()["content-type"].to_str().expect("type").starts_with("text/event-stream"));
        Self { response, parser: Default::default(), ready: Default::default() }
    }

    /// The next event, or `None` when the stream ends or nothing comes within two seconds.
    pub(crate) async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                let data = serde_json::from_str(&event.data).expect("JSON data");
                return Some(SseEvent { id: event.id, kind: event.event, data });
            }
            match tokio::time::timeout(Duration::from_secs(2), self.response.chunk()).await {
                Ok(Ok(Some(chunk))) => self.ready.extend(self.parser.push(&chunk)),
                _ => return None,
            }
        }
    }

    /// Events until one of `kind` arrives (included).
    pub(crate) async fn until(&mut self, kind: &str) -> Vec<SseEvent> {
        let mut seen = Vec::new();
        while let Some(event) = self.next().await {
            let done = event.kind == kind;
            seen.push(event);
            if done {
                return seen;
            }
        }
        panic!("no {kind} event; saw {:?}", seen.iter().map(|e| &e.kind).collect::<Vec<_>>());
    }
}

async fn submit(app: &NodeApp, second: bool, fee: u32) -> String {
    let chain = &app.chain;
    let prover = if second { &chain.prover2 } else { &chain.prover };
    let mut quote = chain.quote(prover, 0).await;
    quote.basis_point_fee = fee;
    let (status, body) = app.node.submit(&chain.sign(prover, quote)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().expect("id").to_owned()
}

#[tokio::test]
async fn events_arrive_in_order_and_a_reconnect_resumes_without_gap_or_duplicate() {
    let app = NodeApp::sqlite().await;
    app.chain.epoch_zero_ready_to_claim().await;
    app.synced().await;
    let mut stream = SseReader::open(&app.node, Some(0)).await;
    let history = stream.until("epoch_completed").await;
    assert_eq!(history.last().map(|e| e.data["epoch"].as_u64()), Some(Some(0)));
    assert_eq!(history.last().map(|e| e.data["totalFees"].clone()), Some(Value::from("10000")));

    let first = submit(&app, false, 500).await;
    let second = submit(&app, false, 400).await;
    let events = stream.until("quote_superseded").await;
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, vec!["quote_accepted", "quote_accepted", "quote_superseded"]);
    assert_eq!(events[2].data["id"], first.as_str());
    assert_eq!(events[2].data["by"], second.as_str());
    let last_seen = events[2].id.expect("id");

    // Disconnect; things happen; reconnect from the last id seen.
    drop(stream);
    let third = submit(&app, true, 450).await;
    let mut quote = app.chain.quote(&app.chain.prover, 0).await;
    quote.basis_point_fee = 400;
    app.chain.claim(quote).await.expect("claims");
    app.synced().await;
    let mut resumed = SseReader::open(&app.node, Some(last_seen)).await;
    let missed = resumed.until("claim_seen").await;
    let ids: Vec<i64> = missed.iter().map(|e| e.id.expect("id")).collect();
    assert_eq!(ids.first(), Some(&(last_seen + 1)), "no gap: {missed:?}");
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "consecutive, no duplicate: {ids:?}");
    let kinds: Vec<&str> = missed.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, vec!["quote_accepted", "quote_expired", "claim_seen"]);
    assert_eq!(missed[0].data["id"], third.as_str());
    assert_eq!(missed[1].data["id"], third.as_str(), "the other prover's quote lost to the claim");
    assert_eq!(missed[2].data["quoteId"], second.as_str());

    let metrics = app.node.client.get(format!("{}/metrics", app.node.base)).send().await.expect("metrics");
    let text = metrics.text().await.expect("text");
    assert!(text.contains("coordination_node_open_streams 1"), "{text}");
}

#[tokio::test]
async fn a_replica_streams_the_events_another_replica_produced() {
    let app = NodeApp::postgres().await;
    app.chain.epoch_zero_ready_to_claim().await;
    app.synced().await;
    let other = RunningNode::start(node_config(&app.chain, &app.db.url)).await;
    let mut stream = SseReader::open(&other, None).await;
    // A quote stored through the first node is announced by the second.
    let id = submit(&app, false, 300).await;
    let events = stream.until("quote_accepted").await;
    assert_eq!(events.last().map(|e| e.data["id"].clone()), Some(Value::from(id.as_str())));
}

/// A node whose fallback poll is a minute away: an event it streams sooner was pushed.
async fn pushing_only(chain: &rollup_l1::testkit::TestChain, url: &str) -> RunningNode {
    let node =
        RunningNode::start(coordination_node::Config { events_poll_ms: 60_000, ..node_config(chain, url) }).await;
    wait_synced(chain, &node.state).await;
    node
}

#[tokio::test]
async fn events_are_pushed_as_they_commit_to_this_replica_and_to_the_others() {
    let app = NodeApp::postgres().await;
    app.chain.epoch_zero_ready_to_claim().await;
    app.synced().await;
    let (a, b) = (pushing_only(&app.chain, &app.db.url).await, pushing_only(&app.chain, &app.db.url).await);
    // Every node (the test app's, A and B) listens before anything is submitted.
    for _ in 0..500 {
        if app.db.listeners().await >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(app.db.listeners().await >= 3, "each node listens for the others' events");
    let (mut on_a, mut on_b) = (SseReader::open(&a, None).await, SseReader::open(&b, None).await);
    let chain = &app.chain;
    let signed = chain.sign(&chain.prover, chain.quote(&chain.prover, 0).await);
    let (status, body) = a.submit(&signed).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    for stream in [&mut on_a, &mut on_b] {
        let events = stream.until("quote_accepted").await;
        assert_eq!(events.last().map(|e| e.data["id"].clone()), Some(body["id"].clone()));
    }
}

#[tokio::test]
async fn an_embedded_node_pushes_its_events_as_they_commit() {
    let db = crate::support::TestDb::sqlite().await;
    let chain = &rollup_l1::testkit::TestChain::start().await;
    chain.epoch_zero_ready_to_claim().await;
    let node = pushing_only(chain, &db.url).await;
    let mut stream = SseReader::open(&node, None).await;
    let (status, body) = node.submit(&chain.sign(&chain.prover, chain.quote(&chain.prover, 0).await)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(stream.until("quote_accepted").await.last().map(|e| e.data["id"].clone()), Some(body["id"].clone()));
}

#[tokio::test]
async fn events_written_without_a_signal_arrive_by_the_fallback_poll() {
    let app = NodeApp::sqlite().await;
    app.chain.epoch_zero_ready_to_claim().await;
    app.synced().await;
    let mut stream = SseReader::open(&app.node, None).await;
    // Written through another handle on the same file: the node is not told, it has to look.
    let chain = &app.chain;
    let signed = chain.sign(&chain.prover, chain.quote(&chain.prover, 0).await);
    let id = signed.id(&chain.config.quote_domain());
    app.db.store.insert_quote(id, &signed, 100).await.expect("stored");
    let events = stream.until("quote_accepted").await;
    assert_eq!(events.last().map(|e| e.data["id"].clone()), Some(Value::from(id.to_string())));
}

#[tokio::test]
async fn a_client_that_falls_behind_is_told_where_it_stopped() {
    use futures_util::StreamExt;
    let app = NodeApp::sqlite().await;
    app.chain.epoch_zero_ready_to_claim().await;
    app.synced().await;
    let store = app.node.store().clone();
    // A hub that buffers two events per client, fed from the table every 10 ms.
    let hub = coordination_node::events::EventHub::new(2);
    let feeder = tokio::spawn(coordination_node::events::poll(hub.clone(), store.clone(), Duration::from_millis(10)));
    struct Quiet;
    impl coordination_node::events::StreamObserver for Quiet {
        fn stream_open(&self, _: i64) {}
        fn events_streamed(&self, _count: u64) {}
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let stream =
        coordination_node::events::stream(&hub, store, None, Duration::from_secs(30), std::sync::Arc::new(Quiet))
            .await
            .expect("opens");
    tokio::time::sleep(Duration::from_millis(50)).await;
    // The client reads nothing while ten quotes (and their events) arrive.
    for fee in 0..10 {
        submit(&app, fee % 2 == 0, 100 + fee).await;
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let received: Vec<_> =
        tokio::time::timeout(Duration::from_secs(5), stream.collect::<Vec<_>>()).await.expect("the stream ends");
    assert!(!received.is_empty());
    // The last thing it gets is the notice; the stream then ends (collect returned).
    let rendered: Vec<String> = received.iter().map(|e| format!("{:?}", e.as_ref().expect("event"))).collect();
    assert!(rendered.last().is_some_and(|e| e.contains("lagged") && e.contains("lastEventId")), "{rendered:?}");
    feeder.abort();
}

#[tokio::test]
async fn a_client_that_reads_nothing_is_cut_off() {
    use std::sync::atomic::{AtomicI64, Ordering};
    let app = NodeApp::sqlite().await;
    app.chain.epoch_zero_ready_to_claim().await;
    app.synced().await;
    let store = app.node.store().clone();
    // A hub that would buffer a thousand events per client: not what stops this one.
    let hub = coordination_node::events::EventHub::new(1_000);
    let feeder = tokio::spawn(coordination_node::events::poll(hub.clone(), store.clone(), Duration::from_millis(10)));
    struct Open(AtomicI64);
    impl coordination_node::events::StreamObserver for Open {
        fn stream_open(&self, delta: i64) {
            self.0.fetch_add(delta, Ordering::SeqCst);
        }
        fn events_streamed(&self, _count: u64) {}
    }
    let open = std::sync::Arc::new(Open(AtomicI64::new(0)));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let stall = Duration::from_millis(300);
    // Opened, and never read: here the stream itself is never polled, so what the stream's task
    // queues is all it can hold; over HTTP the server's and the kernel's buffers take some
    // first (`faults hostile-clients` measures the node's memory with 1,000 such clients).
    let _stream = coordination_node::events::stream(&hub, store, None, stall, open.clone()).await.expect("opens");
    assert_eq!(open.0.load(Ordering::SeqCst), 1);
    // One quote at a time, each its own write: a few fill what the connection may queue, the
    // next waits for the client, which takes nothing.
    for fee in 0..8 {
        submit(&app, fee % 2 == 0, 100 + fee).await;
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    tokio::time::sleep(stall * 3).await;
    assert_eq!(open.0.load(Ordering::SeqCst), 0, "the stream's task ended");
    feeder.abort();
}
