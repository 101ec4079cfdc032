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
//! reconnect from there. A client resuming from an id whose events retention has deleted is
//! sent an `events_pruned` event saying which ids are gone, then the events after them.

use std::{convert::Infallible, sync::Arc, time::Duration};

use bytes::Bytes;
use futures_util::Stream;
use tokio::sync::{broadcast, mpsc};

use crate::store::{EventRecord, Store};

/// Events read from the table in one go, when replaying.
const REPLAY_PAGE: u32 = 500;

/// Writes (each one event, or several that were waiting together) a stream's connection may
/// have queued before the stream waits for the client: with [`BATCH_BYTES`], what a client that
/// reads nothing can make the node hold is bounded (the kernel's socket buffers aside).
const STREAM_QUEUE: usize = 4;

/// How long a stream waits for a client that takes nothing while something is waiting for it
/// (events, or a keep-alive comment) before it ends the stream: a client that never reads holds
/// no memory and no task for ever.
pub const STALL: Duration = Duration::from_secs(30);

/// How often a stream sends a comment, so proxies and clients see it alive when it is quiet.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// One event as the stream sends it, with its sequence number.
#[derive(Clone, Debug)]
struct Rendered {
    seq: i64,
    bytes: Bytes,
}

/// Fans the stored events out to this replica's streams, each rendered once: every stream
/// shares the same bytes.
#[derive(Debug)]
pub struct EventHub {
    sender: broadcast::Sender<Rendered>,
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
            let _ = hub.sender.send(Rendered { seq: event.seq, bytes: sse(&event) });
        }
        if !full {
            return Ok(());
        }
    }
}

/// A stored event in the stream's wire form.
fn sse(event: &EventRecord) -> Bytes {
    render(Some(event.seq), &event.kind, &event.data)
}

/// An event in Server-Sent Events form: `id`, `event` and one `data` line per line of `data`.
fn render(id: Option<i64>, kind: &str, data: &str) -> Bytes {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(data.len() + kind.len() + 40);
    if let Some(id) = id {
        let _ = writeln!(out, "id: {id}");
    }
    let _ = writeln!(out, "event: {kind}");
    for line in data.split('\n') {
        let _ = writeln!(out, "data: {line}");
    }
    out.push('\n');
    Bytes::from(out)
}

/// Events waiting together go out in one write of up to about this many bytes.
const BATCH_BYTES: usize = 4 * 1024;

/// Events going out together: the first one's bytes as they are, more copied after them.
#[derive(Default)]
struct Batch {
    first: Option<Bytes>,
    more: Option<bytes::BytesMut>,
    count: u64,
}

impl Batch {
    fn push(&mut self, bytes: Bytes) {
        self.count += 1;
        match (&self.first, &mut self.more) {
            (None, _) => self.first = Some(bytes),
            (Some(first), None) => {
                let mut more = bytes::BytesMut::with_capacity(BATCH_BYTES);
                more.extend_from_slice(first);
                more.extend_from_slice(&bytes);
                self.more = Some(more);
            }
            (Some(_), Some(more)) => more.extend_from_slice(&bytes),
        }
    }

    fn len(&self) -> usize {
        self.more.as_ref().map_or_else(|| self.first.as_ref().map_or(0, Bytes::len), bytes::BytesMut::len)
    }

    fn finish(self) -> Option<Bytes> {
        self.more.map(bytes::BytesMut::freeze).or(self.first)
    }
}

/// Hands what `batch` holds (if anything) to the client's connection, counting its events;
/// false when the client went or stalled.
async fn send_batch(out: &mpsc::Sender<Bytes>, batch: Batch, stall: Duration, observer: &dyn StreamObserver) -> bool {
    let count = batch.count;
    let Some(bytes) = batch.finish() else { return true };
    let sent = deliver(out, bytes, stall).await;
    if sent {
        observer.events_streamed(count);
    }
    sent
}

/// Hands `bytes` to the client's connection; false when the client went, or took nothing for
/// `stall` while this waited.
async fn deliver(out: &mpsc::Sender<Bytes>, bytes: Bytes, stall: Duration) -> bool {
    // Most of the time there is room: no timer is set.
    match out.try_send(bytes) {
        Ok(()) => true,
        Err(mpsc::error::TrySendError::Full(bytes)) => {
            matches!(tokio::time::timeout(stall, out.send(bytes)).await, Ok(Ok(())))
        }
        Err(mpsc::error::TrySendError::Closed(_)) => false,
    }
}

/// Counts what the streams do, for the metrics.
pub trait StreamObserver: Send + Sync + 'static {
    /// A stream opened (`+1`) or closed (`-1`).
    fn stream_open(&self, delta: i64);
    /// `count` events were handed to a client.
    fn events_streamed(&self, count: u64);
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

/// Said to a client resuming after `after` when retention deleted the events up to `through`;
/// its id is `through`, so a client that reconnects resumes after it.
fn pruned_notice(after: i64, through: i64) -> Bytes {
    render(
        Some(through),
        "events_pruned",
        &serde_json::json!({
            "lastEventId": after,
            "prunedThrough": through,
            "message": format!(
                "the events after {after} up to {through} were deleted by the node's retention \
                 (NODE_RETENTION_EPOCHS); read the current state from the API; the stream goes on after {through}"
            ),
        })
        .to_string(),
    )
}

/// The stream for one client, as the bytes of its body: the events after `after` (when `None`,
/// those after the latest event at the time of the call), then live. The client's connection
/// queues a few writes ([`STREAM_QUEUE`]); a client that takes nothing for `stall` (the node
/// uses [`STALL`]) while something waits for it (events, or the keep-alive comment a quiet stream
/// sends every 15 s) is cut off, and one that falls further behind than the hub's buffer is sent
/// `lagged` and cut off.
pub async fn stream(
    hub: &EventHub,
    store: Store,
    after: Option<i64>,
    stall: Duration,
    observer: Arc<dyn StreamObserver>,
) -> Result<impl Stream<Item = Result<Bytes, Infallible>> + use<>, crate::store::StoreError> {
    // Subscribe before reading the table: whatever commits meanwhile is in one or the other.
    let mut live = hub.sender.subscribe();
    // Fixed before the client gets its answer: an event committed after that is delivered.
    let mut last = match after {
        Some(seq) => seq,
        None => store.latest_event_seq().await?,
    };
    // A resume from an id retention has deleted past: said, then resumed after what is gone.
    let mut pruned = None;
    if after.is_some() {
        let through = store.retention_marks().await?.events_through;
        if through > last {
            pruned = Some(pruned_notice(last, through));
            last = through;
        }
    }
    let (out, receiver) = mpsc::channel::<Bytes>(STREAM_QUEUE);
    observer.stream_open(1);
    let guard = OpenGuard(observer.clone());
    tokio::spawn(async move {
        let _guard = guard;
        if let Some(notice) = pruned
            && !deliver(&out, notice, stall).await
        {
            return;
        }
        // What the client missed, from the table.
        loop {
            let Ok(events) = store.events_after(last, REPLAY_PAGE).await else { return };
            let full = events.len() == REPLAY_PAGE as usize;
            // Deleted by retention while this replay ran: said, as at the start, up to the first
            // event this page holds (retention may have gone further since the page was read).
            if let Some(first) = events.first()
                && first.seq > last + 1
            {
                let Ok(marks) = store.retention_marks().await else { return };
                let through = marks.events_through.min(first.seq - 1);
                if through > last && !deliver(&out, pruned_notice(last, through), stall).await {
                    return;
                }
            }
            // Sent a few kilobytes per write, as live events are.
            let mut batch = Batch::default();
            for event in &events {
                last = event.seq;
                batch.push(sse(event));
                if batch.len() >= BATCH_BYTES && !send_batch(&out, std::mem::take(&mut batch), stall, &*observer).await
                {
                    return;
                }
            }
            if !send_batch(&out, batch, stall, &*observer).await {
                return;
            }
            if !full {
                break;
            }
        }
        // Then live; what the replay already sent is skipped by its sequence number. The events
        // waiting when the task wakes go out together, in one write.
        let mut keep_alive = tokio::time::interval_at(tokio::time::Instant::now() + KEEP_ALIVE, KEEP_ALIVE);
        loop {
            let mut received = tokio::select! {
                received = live.recv() => received,
                _ = keep_alive.tick() => {
                    if !deliver(&out, Bytes::from_static(b":\n\n"), stall).await {
                        return;
                    }
                    continue;
                }
                // The client went: stop waiting for an event it will never read.
                () = out.closed() => return,
            };
            let mut batch = Batch::default();
            let end = loop {
                match received {
                    Ok(event) if event.seq > last => {
                        last = event.seq;
                        batch.push(event.bytes);
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        break Some(render(
                            None,
                            "lagged",
                            &serde_json::json!({
                                "lastEventId": last,
                                "missed": missed,
                                "message": "this client fell too far behind; reconnect with Last-Event-ID to resume",
                            })
                            .to_string(),
                        ));
                    }
                    Err(broadcast::error::RecvError::Closed) => break Some(Bytes::new()),
                }
                if batch.len() >= BATCH_BYTES {
                    break None;
                }
                received = match live.try_recv() {
                    Ok(event) => Ok(event),
                    Err(broadcast::error::TryRecvError::Empty) => break None,
                    Err(broadcast::error::TryRecvError::Lagged(missed)) => {
                        Err(broadcast::error::RecvError::Lagged(missed))
                    }
                    Err(broadcast::error::TryRecvError::Closed) => Err(broadcast::error::RecvError::Closed),
                };
            };
            if !send_batch(&out, batch, stall, &*observer).await {
                return;
            }
            if let Some(last_words) = end {
                if !last_words.is_empty() {
                    let _ = deliver(&out, last_words, stall).await;
                }
                return;
            }
        }
    });
    Ok(futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|event| (Ok(event), receiver))
    }))
}
