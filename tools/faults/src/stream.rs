//! An event-stream client as a careful user writes one: it follows `GET /events`, and whenever
//! the connection drops (the node was killed) it reconnects with `Last-Event-ID`, recording
//! every event it receives.

use std::{
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use futures_util::StreamExt as _;

/// The events a [`Follower`] has received, as `(id, kind)`, in order.
#[derive(Clone, Default)]
pub struct Received(Arc<Mutex<Vec<(i64, String)>>>);

impl Received {
    /// What has been received so far.
    pub fn get(&self) -> Vec<(i64, String)> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn push(&self, id: i64, kind: String) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).push((id, kind));
    }

    fn last_id(&self) -> Option<i64> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).last().map(|(id, _)| *id)
    }
}

/// Follows the stream of the node at `base` from the start (`Last-Event-ID: 0`) until dropped.
pub struct Follower {
    /// What it received.
    pub received: Received,
    /// How many times it connected.
    pub connections: Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Follower {
    /// Starts following.
    pub fn start(base: &str) -> Self {
        let received = Received::default();
        let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (url, into, count) = (format!("{base}/events"), received.clone(), connections.clone());
        let task = tokio::spawn(async move {
            let http = reqwest::Client::new();
            loop {
                let after = into.last_id().unwrap_or(0);
                if let Ok(response) = http.get(&url).header("Last-Event-ID", after.to_string()).send().await
                    && response.status().is_success()
                {
                    count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    read(response, &into).await;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        Self { received, connections, task }
    }
}

/// Reads events until the connection ends.
async fn read(response: reqwest::Response, into: &Received) {
    let mut body = response.bytes_stream();
    let mut parser = node_api::sse::SseParser::default();
    while let Some(Ok(chunk)) = body.next().await {
        for event in parser.push(&chunk) {
            if let Some(id) = event.id {
                into.push(id, event.event);
            }
        }
    }
}
