//! The proposer's question answered from memory: the first page of an epoch's claimable quotes
//! (`GET /epoch-proof-quotes?epoch=N`, with any `limit`), kept as the bytes of its JSON answer and
//! read from the database again only after something changed.
//!
//! Freshness: a page is served only if it was read at the store's current version
//! ([`Store::read_version`]), which every commit that changes a quote's status or a claim moves
//! before its writer answers (so a read after a `201`, a supersede, a claim, an expiry, a prune
//! or a reorg misses), and which on PostgreSQL is read from the database, so another replica's
//! commit counts as soon as it is committed. The version is read before the page, so a page
//! built while a commit lands is labelled older than it is and replaced at the next read. (On
//! SQLite the count moves just after the commit, before the writer answers: a read racing a
//! watcher step within those microseconds may get the page of the step before.)
//!
//! One version read serves every request that arrived before it started ([`SharedVersion`]):
//! under load the database sees one small query per round trip, not one per request, and no
//! request is answered from a read that began before it arrived. Likewise one build of a page
//! serves every request that needs it at the same version.

use std::{
    collections::HashMap,
    future::Future,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
};

use bytes::Bytes;
use tokio::sync::watch;

use crate::{error::NodeError, store::Store};

/// Most pages kept (each is one epoch and page size; about 60 KB for 100 quotes).
const MAX_PAGES: usize = 256;

/// Longest wait for the store's version before the request is answered `503`: a read that
/// hangs must not hold every later request.
const VERSION_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// A page being built, shared by the requests that need it at one version (`None`: it failed).
type Building = Arc<tokio::sync::OnceCell<Option<Bytes>>>;

/// The first pages of claimable quotes, by epoch and page size, each with the version it was
/// read at.
#[derive(Debug, Default)]
pub struct BestPages {
    pages: Mutex<HashMap<(u64, u32), (u64, Bytes)>>,
    building: Mutex<HashMap<(u64, u32, u64), Building>>,
    version: SharedVersion,
}

impl BestPages {
    /// The page of `epoch` with `limit` quotes: from memory when read at the current version,
    /// else built by `build` (`None` when it failed, having said why in the log) and kept.
    pub async fn page<F, Fut>(&self, store: &Store, epoch: u64, limit: u32, build: F) -> Result<Bytes, NodeError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Option<Bytes>>,
    {
        let version = self.version.read(store).await?;
        let key = (epoch, limit);
        if let Some((read_at, body)) = self.pages.lock().unwrap_or_else(PoisonError::into_inner).get(&key)
            && *read_at == version
        {
            return Ok(body.clone());
        }
        let building = {
            let mut building = self.building.lock().unwrap_or_else(PoisonError::into_inner);
            building.retain(|(_, _, at), _| *at >= version);
            building.entry((epoch, limit, version)).or_default().clone()
        };
        // The first request builds; the others wait for its page (or take over if it goes away).
        let built = building.get_or_init(build).await.clone();
        self.building.lock().unwrap_or_else(PoisonError::into_inner).remove(&(epoch, limit, version));
        let body = built.ok_or(NodeError::DatabaseUnavailable)?;
        let mut pages = self.pages.lock().unwrap_or_else(PoisonError::into_inner);
        // Pages read before this version are stale; a concurrent reader may have kept a newer one.
        pages.retain(|_, (read_at, _)| *read_at >= version);
        if pages.len() >= MAX_PAGES {
            pages.clear();
        }
        if pages.get(&key).is_none_or(|(read_at, _)| *read_at < version) {
            pages.insert(key, (version, body.clone()));
        }
        Ok(body)
    }
}

/// The store's version, read once for all the requests waiting for it: a request takes a ticket
/// when it arrives; a read records how many tickets were out when it started, and serves every
/// request whose ticket it covers. The read runs in a task of its own, so a request that goes
/// away cannot leave the others waiting for a read that stopped.
#[derive(Debug)]
struct SharedVersion {
    tickets: AtomicU64,
    reading: Arc<tokio::sync::Mutex<()>>,
    /// The last read: the tickets it covers, and the version (`None`: the database failed).
    read: Arc<watch::Sender<(u64, Option<u64>)>>,
}

impl Default for SharedVersion {
    fn default() -> Self {
        Self { tickets: AtomicU64::new(0), reading: Arc::default(), read: Arc::new(watch::channel((0, None)).0) }
    }
}

impl SharedVersion {
    /// The store's version as of a read that started after this call.
    async fn read(&self, store: &Store) -> Result<u64, NodeError> {
        let ticket = self.tickets.fetch_add(1, Ordering::SeqCst) + 1;
        let mut reads = self.read.subscribe();
        loop {
            let (covered, version) = *reads.borrow_and_update();
            if covered >= ticket {
                return version.ok_or(NodeError::DatabaseUnavailable);
            }
            if let Ok(reading) = self.reading.clone().try_lock_owned() {
                // Every ticket taken so far, this one included, is covered by a read starting now.
                let covers = self.tickets.load(Ordering::SeqCst);
                let (store, read) = (store.clone(), self.read.clone());
                tokio::spawn(async move {
                    let version = match tokio::time::timeout(VERSION_READ_TIMEOUT, store.read_version()).await {
                        Ok(Ok(version)) => Some(version),
                        Ok(Err(error)) => {
                            tracing::warn!(%error, "cannot read the store's version");
                            None
                        }
                        Err(_) => {
                            tracing::warn!("reading the store's version took too long");
                            None
                        }
                    };
                    // Free before told: a request woken by this read that it does not cover
                    // must be able to start the next one.
                    drop(reading);
                    // Kept only if no later read was told first; every waiter is woken either way.
                    read.send_modify(|last| {
                        if covers >= last.0 {
                            *last = (covers, version);
                        }
                    });
                });
            }
            // The next read (this request's, or one that started before it took the lock).
            if reads.changed().await.is_err() {
                return Err(NodeError::DatabaseUnavailable);
            }
        }
    }
}
