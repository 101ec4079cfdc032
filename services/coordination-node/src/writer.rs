//! One writer per node takes validated quotes from every request and stores them in batches:
//! whatever arrived while the previous transaction ran goes into the next one. Each request is
//! answered only after the transaction holding its quote has committed, so acknowledgement still
//! means durably stored, at a fraction of the per-quote database work.

use alloy::primitives::B256;
use epoch_quote::SignedEpochProofQuote;
use tokio::sync::{mpsc, oneshot};

use crate::store::{InsertOutcome, Store};

/// Most quotes in one transaction.
const MAX_BATCH: usize = 256;

struct Job {
    id: B256,
    quote: SignedEpochProofQuote,
    reply: oneshot::Sender<Option<InsertOutcome>>,
}

/// The handle requests send their quotes through.
#[derive(Clone, Debug)]
pub struct QuoteWriter {
    jobs: mpsc::Sender<Job>,
}

impl QuoteWriter {
    /// Starts the writer task; it ends when every handle is dropped.
    pub fn spawn(store: Store, per_epoch_cap: u32) -> Self {
        let (jobs, receiver) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run(receiver, store, per_epoch_cap));
        Self { jobs }
    }

    /// Stores `quote`; `None` when the database failed (nothing was stored).
    pub async fn insert(&self, id: B256, quote: SignedEpochProofQuote) -> Option<InsertOutcome> {
        let (reply, answer) = oneshot::channel();
        self.jobs.send(Job { id, quote, reply }).await.ok()?;
        answer.await.ok().flatten()
    }
}

async fn run(mut receiver: mpsc::Receiver<Job>, store: Store, per_epoch_cap: u32) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let quotes: Vec<(B256, SignedEpochProofQuote)> = batch.iter().map(|job| (job.id, job.quote)).collect();
        match store.insert_quotes(&quotes, per_epoch_cap).await {
            Ok(outcomes) => {
                for (job, outcome) in batch.drain(..).zip(outcomes) {
                    let _ = job.reply.send(Some(outcome));
                }
            }
            Err(error) => {
                tracing::warn!(%error, quotes = batch.len(), "cannot store quotes");
                for job in batch.drain(..) {
                    let _ = job.reply.send(None);
                }
            }
        }
    }
}
