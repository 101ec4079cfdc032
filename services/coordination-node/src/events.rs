//! The live event stream (`GET /events`, Server-Sent Events).
//!
//! Events are rows of the `events` table, written in the same transactions as the changes they
//! report, so every replica sharing the database streams the same sequence. Each replica reads
//! new rows as soon as it learns they were committed (from its own store, and on PostgreSQL from
//! the notification every replica's commit sends), polls the table as a fallback in case a
//! notification was lost, and broadcasts the new rows to its clients. A client first gets what it missed (from
//! `Last-Event-ID`, read from the table), then the live events, without gap or duplicate. A
//! client too slow to keep up does not hold anyone back: when it falls behind the broadcast
//! buffer it is sent a `lagged` event naming the last id it got, and the stream ends, so it can
//! reconnect from there.

use std::{convert::Infallible, sync::Arc, time::Duration};

use axum::response::sse::Event;
use futures_util::Stream;
use tokio::sync::{broadcast, mpsc};

use crate::store::{EventRecord, Store};

/// Events read from the table in one go, when replaying.
const REPLAY_PAGE: u32 = 500;

/// Fans the stored events out to this replica's streams.
#[derive(Debug)]
pub struct EventHub {
    sender: broadcast::Sender<Arc<EventRecord>>,
}

impl EventHub {
    /// A hub buffering `capacity` events per client before a slow client is cut off.
    pub fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self { sender: broadcast::channel(capacity.max(1)).0 })
    }
}

/// Broadcasts new events for ever: read from the table each time the store says events were
/// committed, and at least every `fallback` whatever it says.
pub async fn poll(hub: Arc<EventHub>, store: Store, fallback: Duration) {
    let mut committed = store.events_committed();
    let last = loop {
        match store.latest_event_seq().await {
            Ok(seq) => break seq,
            Err(error) => {
                tracing::warn!(%error, "cannot read the event stream's position");
                tokio::time::sleep(fallback).await;
            }
        }
    };
    let last = std::sync::atomic::AtomicI64::new(last);
    loop {
        // Seen before the read: a commit during it wakes the next round.
        committed.borrow_and_update();
        if let Err(error) = broadcast_new(&hub, &store, &last).await {
            tracing::warn!(%error, "reading new events failed; trying again");
        }
        match tokio::time::timeout(fallback, committed.changed()).await {
            Ok(Ok(())) | Err(_) => {}
            // The store is gone; only the fallback poll is left.
            Ok(Err(_)) => tokio::time::sleep(fallback).await,
        }
    }
}

/// Broadcasts every event after `last` (moving it), a page at a time.
async fn broadcast_new(
    hub: &EventHub,
    store: &Store,
    last: &std::sync::atomic::AtomicI64,
) -> Result<(), crate::store::StoreError> {
    use std::sync::atomic::Ordering;
    loop {
        let events = store.events_after(last.load(Ordering::Relaxed), REPLAY_PAGE).await?;
        let full = events.len() == REPLAY_PAGE as usize;
        for event in events {
            last.store(event.seq, Ordering::Relaxed);
            let _ = hub.sender.send(Arc::new(event));
        }
        if !full {
            return Ok(());
        }
    }
}

fn sse(event: &EventRecord) -> Event {
    Event::default().id(event.seq.to_string()).event(event.kind.clone()).data(event.data.clone())
}

/// Counts what the streams do, for the metrics.
pub trait StreamObserver: Send + Sync + 'static {
    /// A stream opened (`+1`) or closed (`-1`).
    fn stream_open(&self, delta: i64);
    /// An event was handed to a client.
    fn event_streamed(&self);
}

/// How many event streams each client address holds open, against a limit per address.
#[derive(Debug)]
pub struct StreamSlots {
    per_client: usize,
    open: std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>,
}

/// One open stream of a client; its slot is freed when this is dropped (the stream ended).
#[derive(Debug)]
pub struct StreamSlot {
    slots: Arc<StreamSlots>,
    client: std::net::IpAddr,
}

impl StreamSlots {
    /// At most `per_client` streams per address (0: no limit).
    pub fn new(per_client: usize) -> Arc<Self> {
        Arc::new(Self { per_client, open: Default::default() })
    }

    /// A slot for one more stream of `client`, or `None` when it holds as many as allowed.
    pub fn take(self: &Arc<Self>, client: std::net::IpAddr) -> Option<StreamSlot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(client).or_default();
        if self.per_client > 0 && *count >= self.per_client {
            return None;
        }
        *count += 1;
        Some(StreamSlot { slots: self.clone(), client })
    }

    /// The limit per address.
    pub fn per_client(&self) -> usize {
        self.per_client
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.client);
            }
        }
    }
}

struct OpenGuard(Arc<dyn StreamObserver>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.stream_open(-1);
    }
}

/// The stream for one client: the events after `after` (when `None`, those after the latest
/// event at the time of the call), then live.
pub async fn stream(
    hub: &EventHub,
    store: Store,
    after: Option<i64>,
    buffer: usize,
    observer: Arc<dyn StreamObserver>,
) -> Result<impl Stream<Item = Result<Event, Infallible>> + use<>, crate::store::StoreError> {
    // Subscribe before reading the table: whatever commits meanwhile is in one or the other.
    let mut live = hub.sender.subscribe();
    // Fixed before the client gets its answer: an event committed after that is delivered.
    let mut last = match after {
        Some(seq) => seq,
        None => store.latest_event_seq().await?,
    };
    let (out, receiver) = mpsc::channel::<Event>(buffer.max(1));
    observer.stream_open(1);
    let guard = OpenGuard(observer.clone());
    tokio::spawn(async move {
        let _guard = guard;
        // What the client missed, from the table.
        loop {
            let Ok(events) = store.events_after(last, REPLAY_PAGE).await else { return };
            let full = events.len() == REPLAY_PAGE as usize;
            for event in &events {
                last = event.seq;
                if out.send(sse(event)).await.is_err() {
                    return;
                }
                observer.event_streamed();
            }
            if !full {
                break;
            }
        }
        // Then live; what the replay already sent is skipped by its sequence number.
        loop {
            let received = tokio::select! {
                received = live.recv() => received,
                // The client went: stop waiting for an event it will never read.
                () = out.closed() => return,
            };
            match received {
                Ok(event) if event.seq > last => {
                    last = event.seq;
                    if out.send(sse(&event)).await.is_err() {
                        return;
                    }
                    observer.event_streamed();
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    let notice = Event::default().event("lagged").data(
                        serde_json::json!({
                            "lastEventId": last,
                            "missed": missed,
                            "message": "this client fell too far behind; reconnect with Last-Event-ID to resume",
                        })
                        .to_string(),
                    );
                    let _ = out.send(notice).await;
                    return;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    });
    Ok(futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|event| (Ok(event), receiver))
    }))
}
