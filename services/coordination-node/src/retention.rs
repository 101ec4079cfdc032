//! Retention: the node deletes what it no longer needs, so its database stops growing.
//!
//! The quotes and events of an epoch go once the epoch is settled (proven or pruned at least
//! `NODE_RETENTION_CONFIRMATIONS` L1 blocks ago, so a reorg cannot undo it) and lies more than
//! `NODE_RETENTION_EPOCHS` epochs before the open one; the first epoch not settled stops it,
//! whatever its age (its quotes may still be claimed, its claim still proven). Claims,
//! proofs, epochs, blocks and each prover's per-epoch quote counts are kept, so the explorer's
//! records and payouts stay whole.
//!
//! Deletion runs on the replica that runs the watcher, in transactions of
//! `NODE_RETENTION_BATCH` rows with a pause between them, so intake waits for at most one small
//! delete. Events go oldest first and the newest is always kept: the stream never has a hole,
//! sequence numbers are never reused, and a client resuming from an id that was deleted is told
//! so ([`crate::events::stream`]) instead of missing events silently.

use std::time::Duration;

use crate::{api, state::AppState, store::StoreError};

/// The pause between two delete transactions.
const PAUSE: Duration = Duration::from_millis(10);

/// What one run deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    /// The first epoch kept.
    pub floor: u64,
    /// Quotes deleted.
    pub quotes: u64,
    /// Events deleted.
    pub events: u64,
}

/// Runs retention every `NODE_RETENTION_INTERVAL_MS` for ever (never, with
/// `NODE_RETENTION_EPOCHS=0`).
pub async fn run(state: AppState) {
    if state.config.retention_epochs == 0 {
        return std::future::pending().await;
    }
    let interval = Duration::from_millis(state.config.retention_interval_ms.max(10));
    service_kit::every(interval, std::future::pending(), "retention", || async {
        if let Some(pruned) = prune(&state).await?
            && pruned.quotes + pruned.events > 0
        {
            tracing::info!(floor = pruned.floor, quotes = pruned.quotes, events = pruned.events, "retention");
        }
        Ok::<_, StoreError>(())
    })
    .await;
}

/// Deletes every quote and event retention no longer keeps, batch by batch; `None` when this
/// replica does not run the watcher or does not yet know the open epoch.
pub async fn prune(state: &AppState) -> Result<Option<Pruned>, StoreError> {
    if !state.watcher_status().leader {
        return Ok(None);
    }
    let Some(open) = api::current_epoch(state) else { return Ok(None) };
    let Some(cursor) = state.view.get().cursor else { return Ok(None) };
    let (store, config) = (&state.store, &state.config);
    let batch = config.retention_batch.max(1);
    let settled_by = cursor.l1_block.saturating_sub(config.retention_confirmations);
    let floor = store.retention_floor(open.saturating_sub(config.retention_epochs), settled_by).await?;
    state.metrics.retention_floor(floor);
    let quotes = in_batches(state, "quotes", batch, || store.prune_quotes(floor, batch)).await?;
    let kept_from = store.first_event_kept(floor).await?;
    let events = in_batches(state, "events", batch, || store.prune_events(kept_from, batch)).await?;
    Ok(Some(Pruned { floor, quotes, events }))
}

/// Runs `delete` (one transaction of at most `batch` rows) until it deletes fewer, pausing
/// between transactions; counts what it deleted from `table`.
async fn in_batches<F, Fut>(state: &AppState, table: &'static str, batch: u32, mut delete: F) -> Result<u64, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<u64, StoreError>>,
{
    let mut total = 0;
    loop {
        let deleted = delete().await?;
        total += deleted;
        state.metrics.retention_deleted(table, deleted);
        if deleted < u64::from(batch) {
            return Ok(total);
        }
        tokio::time::sleep(PAUSE).await;
    }
}
