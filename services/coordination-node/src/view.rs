//! The node's view of L1 held in memory for intake: the cursor, the epochs still in play, the
//! open claim and provers' deposits. Reloaded from the database whenever the watcher (on this
//! replica or another) moves the cursor, so validating a quote reads no table but `quotes`.

use std::{sync::Arc, time::Duration};

use alloy::primitives::{Address, U256};

pub use crate::store::ChainView;
use crate::store::{Store, StoreError};

/// The current snapshot, shared by the request handlers. Every change is published on a watch
/// channel, so a request waiting for the view to catch up with L1 wakes as soon as it does.
#[derive(Debug)]
pub struct ViewCache {
    current: tokio::sync::watch::Sender<Arc<ChainView>>,
    /// One reload at a time, so a reload that read the database earlier never replaces one that
    /// read it later (the watcher's reload after its commit and the periodic one can overlap).
    reloading: tokio::sync::Mutex<()>,
}

impl Default for ViewCache {
    fn default() -> Self {
        Self {
            current: tokio::sync::watch::Sender::new(Arc::new(ChainView::default())),
            reloading: tokio::sync::Mutex::new(()),
        }
    }
}

impl ViewCache {
    /// The current snapshot.
    pub fn get(&self) -> Arc<ChainView> {
        self.current.borrow().clone()
    }

    /// A receiver that wakes on every change of the snapshot.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<Arc<ChainView>> {
        self.current.subscribe()
    }

    fn set(&self, view: ChainView) {
        self.current.send_replace(Arc::new(view));
    }

    /// Remembers a deposit read on demand for a prover the watcher has not seen.
    pub fn note_deposit(&self, prover: Address, deposit: U256) {
        self.current.send_modify(|current| {
            let mut view = current.as_ref().clone();
            view.deposits.insert(prover, deposit);
            *current = Arc::new(view);
        });
    }

    /// Reloads the snapshot if the stored cursor moved; returns whether it did.
    pub async fn refresh(&self, store: &Store) -> Result<bool, StoreError> {
        let _one_at_a_time = self.reloading.lock().await;
        let cursor = store.cursor().await?;
        if cursor.is_some() && cursor == self.get().cursor {
            return Ok(false);
        }
        self.set(store.load_view().await?);
        Ok(true)
    }
}

/// Keeps `cache` current, checking the stored cursor every `interval` (what another replica's
/// watcher wrote; this replica's watcher refreshes the view itself right after each commit).
pub async fn keep_fresh(cache: Arc<ViewCache>, store: Store, interval: Duration) {
    service_kit::every(interval, std::future::pending(), "reloading the view of L1", || cache.refresh(&store)).await;
}
