//! The L1 watcher: follows the rollup and escrow contracts' events block range by block range
//! and writes the node's view of L1 (L2 blocks, epochs, claims, proofs, prunes, escrow deposits)
//! with its cursor in one transaction per step, so a restart resumes exactly where it stopped.
//!
//! With PostgreSQL, replicas sharing a database elect one watcher with a session advisory lock;
//! the others retry each poll and take over when the holder's connection goes away.

use std::{collections::BTreeSet, time::Duration};

use alloy::{
    primitives::{Address, B256},
    providers::{DynProvider, Provider},
    rpc::types::{Filter, Log},
    sol_types::SolEvent,
};
use rollup_l1::{EscrowContract, L1Error, RollupConfig, bindings::Rollup};

use crate::store::{ChainCursor, ChainEvent, ChainUpdate, ClaimRecord, L2BlockRecord, Store, StoreError};

/// Why a watcher step failed (the next poll tries again).
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The L1 node failed or is unreachable.
    #[error(transparent)]
    L1(#[from] L1Error),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The L1 node reports a block the watcher cannot read.
    #[error("L1 block {0} is not available")]
    MissingBlock(u64),
}

impl From<alloy::transports::TransportError> for WatchError {
    fn from(e: alloy::transports::TransportError) -> Self {
        Self::L1(e.into())
    }
}

/// What one step did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepOutcome {
    /// The cursor after the step.
    pub cursor: ChainCursor,
    /// The L1 head when the step started.
    pub head: u64,
    /// Events written.
    pub events: usize,
}

/// Follows L1 for one rollup.
pub struct Watcher {
    store: Store,
    provider: DynProvider,
    config: RollupConfig,
    escrow: EscrowContract,
    from_block: u64,
    batch: u64,
}

impl Watcher {
    /// A watcher for the rollup described by `config`, starting at L1 block `from_block` when
    /// the database has no cursor yet, reading at most `batch` blocks per step.
    pub fn new(store: Store, provider: DynProvider, config: RollupConfig, from_block: u64, batch: u64) -> Self {
        let escrow = EscrowContract::new(config.escrow, provider.clone());
        Self { store, provider, config, escrow, from_block, batch: batch.max(1) }
    }

    /// Takes (or confirms) the right to write: one watcher among the replicas sharing a
    /// database writes the view of L1 (see [`Store::lead_watcher`]).
    pub async fn acquire(&self) -> Result<bool, StoreError> {
        self.store.lead_watcher().await
    }

    /// Processes the next range of L1 blocks up to the head (at most `batch` blocks).
    pub async fn step(&self) -> Result<StepOutcome, WatchError> {
        let head = self.provider.get_block_number().await?;
        let previous = self.store.cursor().await?;
        if let Some(cursor) = previous
            && cursor.l1_hash != B256::ZERO
            && self.canonical_hash(cursor.l1_block).await? != Some(cursor.l1_hash)
        {
            let fork = self.rollback(cursor).await?;
            return Ok(StepOutcome { cursor: fork, head, events: 0 });
        }
        let from = previous.map_or(self.from_block, |c| c.l1_block + 1);
        let mut cursor = previous.unwrap_or(ChainCursor {
            l1_block: from.saturating_sub(1),
            l1_hash: B256::ZERO,
            l1_timestamp: 0,
            proven_block: 0,
            pending_block: 0,
        });
        if from > head {
            return Ok(StepOutcome { cursor, head, events: 0 });
        }
        let to = head.min(from + self.batch - 1);
        let filter = Filter::new().address(vec![self.config.address, self.config.escrow]).from_block(from).to_block(to);
        let mut logs = self.provider.get_logs(&filter).await?;
        logs.sort_by_key(|l| (l.block_number, l.log_index));

        let mut update = ChainUpdate::default();
        let mut provers = BTreeSet::new();
        for log in &logs {
            self.translate(log, &mut cursor, &mut update, &mut provers);
        }
        let block = self.provider.get_block_by_number(to.into()).await?.ok_or(WatchError::MissingBlock(to))?;
        for prover in provers {
            update.deposits.push((prover, self.escrow.deposit_of_at(prover, to).await?));
        }
        let epoch_before = previous.map_or(0, |c| self.config.epoch_at_slot(self.config.slot_at(c.l1_timestamp)));
        cursor.l1_block = to;
        cursor.l1_hash = block.header.hash;
        cursor.l1_timestamp = block.header.timestamp;
        update.current_slot = self.config.slot_at(cursor.l1_timestamp);
        update.completed_epochs = epoch_before..self.config.epoch_at_slot(update.current_slot);
        update.l1_blocks.push((to, block.header.hash));
        let events = update.events.len();
        self.store.apply(cursor, &update).await?;
        Ok(StepOutcome { cursor, head, events })
    }

    /// The hash of the canonical L1 block `number`, if the chain has one.
    async fn canonical_hash(&self, number: u64) -> Result<Option<B256>, WatchError> {
        Ok(self.provider.get_block_by_number(number.into()).await?.map(|b| b.header.hash))
    }

    /// The cursor's block left the canonical chain: finds the newest recorded block still on it
    /// (or the start), undoes everything after it, and returns the cursor there.
    async fn rollback(&self, stale: ChainCursor) -> Result<ChainCursor, WatchError> {
        let mut fork = None;
        for (number, hash) in self.store.recorded_l1_blocks_below(stale.l1_block).await? {
            if self.canonical_hash(number).await? == Some(hash) {
                fork = Some(number);
                break;
            }
        }
        let cursor = match fork {
            Some(number) => {
                let block =
                    self.provider.get_block_by_number(number.into()).await?.ok_or(WatchError::MissingBlock(number))?;
                let rollup = Rollup::new(self.config.address, self.provider.clone());
                let proven: u64 = rollup
                    .provenBlockNumber()
                    .block(number.into())
                    .call()
                    .await
                    .map_err(L1Error::from)?
                    .saturating_to();
                let pending: u64 = rollup
                    .pendingBlockNumber()
                    .block(number.into())
                    .call()
                    .await
                    .map_err(L1Error::from)?
                    .saturating_to();
                ChainCursor {
                    l1_block: number,
                    l1_hash: block.header.hash,
                    l1_timestamp: block.header.timestamp,
                    proven_block: proven,
                    pending_block: pending,
                }
            }
            // Nothing recorded is canonical any more: read everything again from the start.
            None => ChainCursor {
                l1_block: self.from_block.saturating_sub(1),
                l1_hash: B256::ZERO,
                l1_timestamp: 0,
                proven_block: 0,
                pending_block: 0,
            },
        };
        // Deposits read on the dropped branch, read again as of the fork. With no fork (nothing
        // recorded is canonical) they are only dropped: the escrow may not exist at the start
        // block, and intake reads a deposit it does not know from L1.
        let mut deposits = Vec::new();
        if fork.is_some() {
            for prover in self.store.deposits_read_after(cursor.l1_block).await? {
                deposits.push((prover, self.escrow.deposit_of_at(prover, cursor.l1_block).await?));
            }
        }
        tracing::warn!(from = stale.l1_block, to = cursor.l1_block, "L1 reorg: rolled the chain view back");
        self.store.rollback_to(cursor, &deposits).await?;
        Ok(cursor)
    }

    /// Turns one log into chain events, tracking the tips and the provers whose deposit changed.
    fn translate(
        &self,
        log: &Log,
        cursor: &mut ChainCursor,
        update: &mut ChainUpdate,
        provers: &mut BTreeSet<Address>,
    ) {
        let l1_block = log.block_number.unwrap_or(cursor.l1_block);
        if log.address() == self.config.escrow {
            // Every escrow event names the prover as its first indexed argument.
            if let Some(topic) = log.topics().get(1) {
                provers.insert(Address::from_word(*topic));
            }
            return;
        }
        let Some(topic0) = log.topic0().copied() else { return };
        if topic0 == Rollup::L2BlockProposed::SIGNATURE_HASH {
            if let Ok(e) = log.log_decode::<Rollup::L2BlockProposed>() {
                let e = e.inner.data;
                let number = e.blockNumber.saturating_to();
                cursor.pending_block = number;
                update.events.push(ChainEvent::BlockProposed(L2BlockRecord {
                    number,
                    epoch: e.epoch.saturating_to(),
                    slot: e.slot.saturating_to(),
                    proposer: e.proposer,
                    tx_count: e.txCount.saturating_to(),
                    fees: e.fees,
                    archive: e.archive,
                    l1_block,
                }));
            }
        } else if topic0 == Rollup::ProofRightClaimed::SIGNATURE_HASH {
            if let Ok(e) = log.log_decode::<Rollup::ProofRightClaimed>() {
                let e = e.inner.data;
                provers.insert(e.bondProvider);
                update.events.push(ChainEvent::Claimed(ClaimRecord {
                    epoch: e.epoch.saturating_to(),
                    quote_id: e.quoteId,
                    bond_provider: e.bondProvider,
                    proposer: e.proposer,
                    bond_amount: e.bondAmount,
                    basis_point_fee: e.basisPointFee,
                    claimed_at_slot: e.slot.saturating_to(),
                    l1_block,
                    l1_tx: log.transaction_hash.unwrap_or_default(),
                }));
            }
        } else if topic0 == Rollup::EpochProven::SIGNATURE_HASH {
            if let Ok(e) = log.log_decode::<Rollup::EpochProven>() {
                let e = e.inner.data;
                cursor.proven_block = e.provenBlockNumber.saturating_to();
                update.events.push(ChainEvent::Proven { epoch: e.epoch.saturating_to(), l1_block });
            }
        } else if topic0 == Rollup::BondSlashed::SIGNATURE_HASH {
            if let Ok(e) = log.log_decode::<Rollup::BondSlashed>() {
                update.events.push(ChainEvent::Slashed { epoch: e.inner.data.epoch.saturating_to(), l1_block });
            }
        } else if topic0 == Rollup::EpochPruned::SIGNATURE_HASH {
            if let Ok(e) = log.log_decode::<Rollup::EpochPruned>() {
                update.events.push(ChainEvent::EpochPruned { epoch: e.inner.data.epoch.saturating_to(), l1_block });
            }
        } else if topic0 == Rollup::PrunedPending::SIGNATURE_HASH
            && let Ok(e) = log.log_decode::<Rollup::PrunedPending>()
        {
            let proven = e.inner.data.provenBlockNumber.saturating_to();
            cursor.pending_block = proven;
            update.events.push(ChainEvent::Pruned { proven_block: proven, l1_block });
        }
    }
}

/// Runs the watcher every `interval` until the task is dropped (catching up in as many steps as
/// it takes at each poll), logging failures and retrying.
/// After each committed step this replica's `view` is reloaded at once, so intake here sees what
/// the watcher committed without waiting for the periodic reload (another replica's view follows
/// within its poll). Either way the insert transaction re-checks that the epoch is still open.
pub async fn run(
    watcher: Watcher,
    interval: Duration,
    status: tokio::sync::watch::Sender<WatcherStatus>,
    view: std::sync::Arc<crate::view::ViewCache>,
) {
    service_kit::every(interval, std::future::pending(), "the L1 watcher", || catch_up(&watcher, &status, &view)).await;
}

/// One poll: takes or confirms the write right, then steps until the cursor reaches the head.
async fn catch_up(
    watcher: &Watcher,
    status: &tokio::sync::watch::Sender<WatcherStatus>,
    view: &crate::view::ViewCache,
) -> Result<(), WatchError> {
    match watcher.acquire().await {
        Ok(true) => {}
        Ok(false) => {
            status.send_modify(|s| s.leader = false);
            return Ok(());
        }
        Err(error) => {
            status.send_modify(|s| s.healthy = false);
            return Err(error.into());
        }
    }
    loop {
        let outcome = match watcher.step().await {
            Ok(outcome) => outcome,
            Err(error) => {
                status.send_modify(|s| s.healthy = false);
                return Err(error);
            }
        };
        if let Err(error) = view.refresh(&watcher.store).await {
            tracing::warn!(%error, "cannot reload the view of L1 after a watcher step");
        }
        status.send_modify(|s| {
            s.leader = true;
            s.healthy = true;
            s.head = outcome.head;
            s.cursor = Some(outcome.cursor);
        });
        if outcome.events > 0 {
            tracing::info!(l1_block = outcome.cursor.l1_block, events = outcome.events, "L1 events applied");
        }
        if outcome.cursor.l1_block >= outcome.head {
            return Ok(());
        }
    }
}

/// What the watcher last achieved, for readiness and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WatcherStatus {
    /// This replica holds the watcher lock.
    pub leader: bool,
    /// The last step succeeded.
    pub healthy: bool,
    /// The L1 head at the last step.
    pub head: u64,
    /// The cursor after the last step.
    pub cursor: Option<ChainCursor>,
}
