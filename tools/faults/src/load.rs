//! Real load: pre-signed quotes POSTed at a steady rate over many connections, every answer
//! recorded (what was acknowledged with `201`, and when; what else came back, and how long it
//! took).

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use alloy::primitives::B256;
use bytes::Bytes;

/// One answer.
#[derive(Clone, Debug)]
pub struct Answer {
    /// When the request was sent, since the load began.
    pub sent: Duration,
    /// How long it took.
    pub took: Duration,
    /// `201`, `200`, `503 database_unavailable`, `connection refused`, …
    pub outcome: String,
    /// The quote.
    pub id: B256,
}

/// Everything the load saw.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Every answer, in the order they came.
    pub answers: Vec<Answer>,
}

impl LoadReport {
    /// The quotes acknowledged with `201`.
    pub fn acknowledged(&self) -> Vec<B256> {
        self.answers.iter().filter(|a| a.outcome == "201").map(|a| a.id).collect()
    }

    /// How many answers of each outcome.
    pub fn outcomes(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for answer in &self.answers {
            *counts.entry(answer.outcome.clone()).or_default() += 1;
        }
        counts
    }

    /// The first `201` to a request sent at or after `at`.
    pub fn first_201_after(&self, at: Duration) -> Option<&Answer> {
        self.answers.iter().filter(|a| a.outcome == "201" && a.sent >= at).min_by_key(|a| a.sent + a.took)
    }
}

/// Sends `quotes` (id and JSON body) to `base` over `connections` connections at `rate` quotes
/// a second; the load began at `begun` (the scenario's clock).
pub async fn drive(
    base: &str,
    quotes: Vec<(B256, Bytes)>,
    connections: usize,
    rate: f64,
    begun: Instant,
) -> anyhow::Result<LoadReport> {
    drive_from(base, quotes, connections, rate, begun, false).await
}

/// [`drive`], each connection from an address of its own (`127.0.1.n`) when `spread` is set:
/// many provers, each within the node's per-client limits.
pub async fn drive_from(
    base: &str,
    quotes: Vec<(B256, Bytes)>,
    connections: usize,
    rate: f64,
    begun: Instant,
    spread: bool,
) -> anyhow::Result<LoadReport> {
    let quotes = Arc::new(quotes);
    let next = Arc::new(AtomicUsize::new(0));
    let answers = Arc::new(Mutex::new(Vec::new()));
    let url = format!("{base}/epoch-proof-quotes");
    let workers: Vec<_> = (0..connections.max(1))
        .map(|n| {
            // Longer than the node's own request timeout (10 s), so a hang shows as a slow answer.
            let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(30));
            if spread {
                let last = u8::try_from(n % 250).unwrap_or(0) + 1;
                builder = builder.local_address(std::net::IpAddr::from([127, 0, 1, last]));
            }
            let http = builder.build();
            let (quotes, next, answers, url) = (quotes.clone(), next.clone(), answers.clone(), url.clone());
            tokio::spawn(async move {
                let Ok(http) = http else { return };
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((id, body)) = quotes.get(i) else { return };
                    let due = begun + Duration::from_secs_f64(i as f64 / rate);
                    tokio::time::sleep_until(due.into()).await;
                    let sent = begun.elapsed();
                    let response =
                        http.post(&url).header("content-type", "application/json").body(body.clone()).send().await;
                    let outcome = match response {
                        Ok(r) => {
                            let status = r.status().as_u16();
                            let code = r
                                .json::<serde_json::Value>()
                                .await
                                .ok()
                                .and_then(|v| v["code"].as_str().map(str::to_owned))
                                .filter(|_| status >= 400);
                            code.map_or_else(|| status.to_string(), |code| format!("{status} {code}"))
                        }
                        Err(e) if e.is_timeout() => "client timeout (30 s)".to_owned(),
                        Err(e) if e.is_connect() => "connection refused".to_owned(),
                        Err(_) => "connection lost".to_owned(),
                    };
                    let answer = Answer { sent, took: begun.elapsed() - sent, outcome, id: *id };
                    answers.lock().unwrap_or_else(PoisonError::into_inner).push(answer);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await?;
    }
    let answers = std::mem::take(&mut *answers.lock().unwrap_or_else(PoisonError::into_inner));
    Ok(LoadReport { answers })
}
