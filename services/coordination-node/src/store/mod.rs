//! The node's storage: one contract ([`NodeStore`]) and two implementations, each written for its
//! database: [`postgres::PgStore`] (`DATABASE_URL`; queries checked at compile time against the
//! schema, batches as arrays, the watcher's advisory lock) and [`sqlite::SqliteStore`] (the
//! embedded default). [`Store`] is whichever one the configuration chose. Every write that
//! acknowledges something to a client is committed before it returns.

mod batch;
pub mod postgres;
mod rows;
pub mod sqlite;

use std::{fmt::Display, future::Future};

use alloy::primitives::{Address, B256, U256};
use epoch_quote::{QuoteSignature, SignedEpochProofQuote};

use crate::domain::ClaimOutcome;
pub use crate::domain::QuoteStatus;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or refused the operation.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration failed.
    #[error("database migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A stored value could not be read back (a bug or a hand-edited row).
    #[error("corrupt row: {table} {row}, column {column}: {problem}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// Which row (its key).
        row: String,
        /// The column.
        column: &'static str,
        /// What is wrong with the value.
        problem: String,
    },
    /// A value does not fit the column that would hold it; nothing was written.
    #[error("{column}: {value} does not fit the column")]
    OutOfRange {
        /// The column.
        column: &'static str,
        /// The value.
        value: String,
    },
}

/// Which database holds the data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// PostgreSQL.
    Postgres,
    /// An embedded SQLite file.
    Sqlite,
}

/// A stored quote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuoteRecord {
    /// Arrival order (earlier is smaller).
    pub seq: i64,
    /// The quote's id (its EIP-712 digest).
    pub id: B256,
    /// The signed quote.
    pub quote: SignedEpochProofQuote,
    /// Its lifecycle status.
    pub status: QuoteStatus,
    /// When the node stored it (ms since the Unix epoch).
    pub received_at_ms: i64,
}

/// What storing a quote came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InsertOutcome {
    /// Stored (committed); older pending quotes of the same prover and epoch are now superseded.
    Stored {
        /// Ids of the quotes it superseded.
        superseded: Vec<B256>,
    },
    /// A quote with this id was already stored.
    AlreadyStored,
    /// The epoch already holds the most pending quotes the node keeps for one epoch.
    EpochFull,
    /// The watcher has committed that the epoch takes no more quotes (checked inside the insert's
    /// transaction, so nothing committed before it is missed).
    EpochClosed(EpochClosed),
}

/// Why an epoch takes no more quotes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EpochClosed {
    /// Another quote was claimed for it.
    Claimed,
    /// It was proven.
    Proven,
    /// It was pruned.
    Pruned,
}

/// An epoch with blocks, as the node saw it on L1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EpochRecord {
    /// The epoch number.
    pub epoch: u64,
    /// First L2 block.
    pub init_block: u64,
    /// Last L2 block (inclusive).
    pub final_block: u64,
    /// Number of blocks.
    pub block_count: u64,
    /// Transactions in them.
    pub tx_count: u64,
    /// Sum of their fees.
    pub total_fees: U256,
    /// The L1 block of its proof, once proven.
    pub proven_at: Option<u64>,
    /// Rolled back by a prune (and no blocks since).
    pub pruned: bool,
}

impl EpochRecord {
    /// Proven on L1.
    pub fn proven(&self) -> bool {
        self.proven_at.is_some()
    }
}

/// What one prover quoted for one epoch: counted by the database as the quotes were stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProverEpochQuotes {
    /// The epoch.
    pub epoch: u64,
    /// The prover.
    pub prover: Address,
    /// Quotes stored (every status, superseded ones included).
    pub quotes: u64,
    /// The lowest fee among them, in basis points.
    pub best_fee: u32,
}

/// One prover's quotes over every epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProverQuoteTotals {
    /// The prover.
    pub prover: Address,
    /// Quotes stored.
    pub quotes: u64,
    /// Epochs it quoted for.
    pub epochs: u64,
}

/// A claim as it counts towards its prover's record: the outcome, and what the prover is paid
/// when the epoch is proven ([`epoch_quote::prover_payout`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClaimPayout {
    /// The claimed epoch.
    pub epoch: u64,
    /// The prover whose bond was staked.
    pub prover: Address,
    /// Open, proven or slashed.
    pub outcome: ClaimOutcome,
    /// The prover's share of the epoch's fees (paid once proven).
    pub payout: U256,
    /// The node holds quotes of that prover for that epoch.
    pub quoted: bool,
}

/// An L2 block as proposed on L1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct L2BlockRecord {
    /// Block number.
    pub number: u64,
    /// Its epoch.
    pub epoch: u64,
    /// Its slot.
    pub slot: u64,
    /// Its proposer.
    pub proposer: Address,
    /// Transactions.
    pub tx_count: u64,
    /// Fees.
    pub fees: U256,
    /// Archive root after it.
    pub archive: B256,
    /// The L1 block that carried the proposal.
    pub l1_block: u64,
}

/// A claim seen on L1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimRecord {
    /// The claimed epoch.
    pub epoch: u64,
    /// The claimed quote.
    pub quote_id: B256,
    /// The prover whose bond is staked.
    pub bond_provider: Address,
    /// The proposer that claimed.
    pub proposer: Address,
    /// The bond.
    pub bond_amount: U256,
    /// The fee.
    pub basis_point_fee: u32,
    /// Slot of the claim.
    pub claimed_at_slot: u64,
    /// L1 block of the claim.
    pub l1_block: u64,
    /// L1 transaction of the claim.
    pub l1_tx: B256,
}

/// One L1 event, applied in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChainEvent {
    /// An L2 block was proposed.
    BlockProposed(L2BlockRecord),
    /// An epoch was claimed.
    Claimed(ClaimRecord),
    /// An epoch was proven.
    Proven {
        /// The epoch.
        epoch: u64,
        /// The L1 block of the proof.
        l1_block: u64,
    },
    /// A claimed bond was slashed.
    Slashed {
        /// The epoch.
        epoch: u64,
        /// The L1 block of the prune that slashed it.
        l1_block: u64,
    },
    /// An epoch's blocks were rolled back.
    EpochPruned {
        /// The epoch.
        epoch: u64,
        /// The L1 block of the prune.
        l1_block: u64,
    },
    /// The pending chain was rolled back to `proven_block`.
    Pruned {
        /// The proven tip it was rolled back to.
        proven_block: u64,
        /// The L1 block of the prune.
        l1_block: u64,
    },
}

/// One entry of the live event stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventRecord {
    /// Its position in the stream (the SSE id).
    pub seq: i64,
    /// What happened: `quote_accepted`, `quote_superseded`, `quote_expired`, `epoch_completed`,
    /// `claim_seen`, `proof_seen`, `bond_slashed`, `epoch_pruned`, `chain_reorg`.
    pub kind: String,
    /// The details, as JSON.
    pub data: String,
}

/// What retention has deleted: every quote of an epoch below `quotes_before_epoch`, every event
/// up to `events_through` (events are deleted oldest first, so the stream keeps no hole).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RetentionMarks {
    /// Every quote of an epoch below this one has been deleted.
    pub quotes_before_epoch: u64,
    /// Every event up to this sequence number has been deleted.
    pub events_through: i64,
}

/// A consistent snapshot of the stored view of L1, as intake validates against it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChainView {
    /// Where the watcher is.
    pub cursor: Option<ChainCursor>,
    /// Epochs not yet proven, and the most recent proven ones.
    pub epochs: std::collections::HashMap<u64, EpochRecord>,
    /// The open claim.
    pub open_claim: Option<ClaimRecord>,
    /// Escrow deposits of the provers seen.
    pub deposits: std::collections::HashMap<Address, U256>,
}

/// Where the watcher is, and the chain as of that L1 block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainCursor {
    /// Last L1 block processed.
    pub l1_block: u64,
    /// Its hash.
    pub l1_hash: B256,
    /// Its timestamp.
    pub l1_timestamp: u64,
    /// Proven L2 tip.
    pub proven_block: u64,
    /// Pending L2 tip.
    pub pending_block: u64,
}

/// What one watcher step writes, in one transaction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChainUpdate {
    /// Events, in chain order.
    pub events: Vec<ChainEvent>,
    /// Escrow deposits read at the new cursor block.
    pub deposits: Vec<(Address, U256)>,
    /// Hashes of the L1 blocks processed, for reorg detection.
    pub l1_blocks: Vec<(u64, B256)>,
    /// Quotes valid until a slot before this one are expired.
    pub current_slot: u64,
    /// Epochs that ended with this step (an `epoch_completed` event is written for those with
    /// blocks).
    pub completed_epochs: std::ops::Range<u64>,
}

/// A 64-bit unsigned value as the signed 64-bit integer both databases store, or an error naming
/// the column when it does not fit (never a clamped number).
pub(crate) fn int(column: &'static str, value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::OutOfRange { column, value: value.to_string() })
}

/// A value a read looks up: one beyond what a row can hold (`None`) matches no row, which is not
/// an error (`GET /epochs/18446744073709551615` is simply not found).
pub(crate) fn key(value: u64) -> Option<i64> {
    i64::try_from(value).ok()
}

/// A uint256 that must fit 64 bits to be stored (a quote's epoch and blocks).
pub(crate) fn int256(column: &'static str, value: U256) -> Result<i64, StoreError> {
    u64::try_from(value)
        .ok()
        .and_then(|v| i64::try_from(v).ok())
        .ok_or_else(|| StoreError::OutOfRange { column, value: value.to_string() })
}

/// Reads the columns of one stored row, each conversion failing with an error that names the
/// table, the row and the column.
pub(crate) struct RowReader {
    table: &'static str,
    row: String,
}

impl RowReader {
    /// A reader for the row of `table` whose key is `row`.
    pub(crate) fn new(table: &'static str, row: impl Display) -> Self {
        Self { table, row: row.to_string() }
    }

    /// The error for a value of `column` that cannot be read back.
    pub(crate) fn corrupt(&self, column: &'static str, problem: impl Display) -> StoreError {
        StoreError::Corrupt { table: self.table, row: self.row.clone(), column, problem: problem.to_string() }
    }

    /// A non-negative integer.
    pub(crate) fn u64(&self, column: &'static str, value: i64) -> Result<u64, StoreError> {
        u64::try_from(value).map_err(|_| self.corrupt(column, format_args!("{value} is negative")))
    }

    /// A fee in basis points.
    pub(crate) fn fee(&self, column: &'static str, value: i64) -> Result<u32, StoreError> {
        u32::try_from(value)
            .ok()
            .filter(|fee| *fee <= 10_000)
            .ok_or_else(|| self.corrupt(column, format_args!("{value} is not a fee in basis points")))
    }

    /// A 32-byte id or hash.
    pub(crate) fn b256(&self, column: &'static str, bytes: &[u8]) -> Result<B256, StoreError> {
        B256::try_from(bytes).map_err(|_| self.corrupt(column, format_args!("{} bytes, not 32", bytes.len())))
    }

    /// A 20-byte address.
    pub(crate) fn address(&self, column: &'static str, bytes: &[u8]) -> Result<Address, StoreError> {
        Address::try_from(bytes).map_err(|_| self.corrupt(column, format_args!("{} bytes, not 20", bytes.len())))
    }

    /// A 65-byte signature.
    pub(crate) fn signature(&self, column: &'static str, bytes: &[u8]) -> Result<QuoteSignature, StoreError> {
        QuoteSignature::from_bytes(bytes).map_err(|e| self.corrupt(column, e))
    }

    /// A quote status.
    pub(crate) fn status(&self, column: &'static str, text: &str) -> Result<QuoteStatus, StoreError> {
        text.parse().map_err(|e| self.corrupt(column, e))
    }

    /// A claim outcome.
    pub(crate) fn outcome(&self, column: &'static str, text: &str) -> Result<ClaimOutcome, StoreError> {
        text.parse().map_err(|e| self.corrupt(column, e))
    }
}

pub(crate) fn now_ms() -> i64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Declares the storage contract once: the [`NodeStore`] trait both backends implement, and the
/// same methods on [`Store`], which passes each call to the backend it holds.
macro_rules! contract {
    ($(
        $(#[$doc:meta])*
        fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $out:ty;
    )*) => {
        /// What the node needs from its database. Both backends pass the same test suite
        /// (`tests/node/store.rs`), which is this contract's definition in behaviour.
        pub trait NodeStore: Clone + Send + Sync + 'static {
            $(
                $(#[$doc])*
                fn $name(&self $(, $arg: $ty)*) -> impl Future<Output = $out> + Send;
            )*
        }

        impl Store {
            $(
                $(#[$doc])*
                pub async fn $name(&self $(, $arg: $ty)*) -> $out {
                    match self {
                        Self::Postgres(store) => store.$name($($arg),*).await,
                        Self::Sqlite(store) => store.$name($($arg),*).await,
                    }
                }
            )*
        }
    };
}

contract! {
    /// True when the database answers.
    fn ping(&self) -> bool;

    /// Stores validated quotes in one transaction (committed before returning), in order, with
    /// one outcome each, as if inserted one by one: a quote supersedes the pending quotes of the
    /// same prover and epoch stored before it; the per-epoch cap counts provers with a pending
    /// quote, so a prover replacing its own quote is never refused for it; a quote for an epoch
    /// the watcher has closed (claimed, proven or pruned, as committed when the transaction
    /// runs) is refused.
    fn insert_quotes(&self, quotes: &[(B256, SignedEpochProofQuote)], per_epoch_cap: u32) -> Result<Vec<InsertOutcome>, StoreError>;

    /// Up to `limit` events after `seq`, in order.
    fn events_after(&self, seq: i64, limit: u32) -> Result<Vec<EventRecord>, StoreError>;

    /// The sequence number of the latest event (0 when there is none).
    fn latest_event_seq(&self) -> Result<i64, StoreError>;

    /// The first epoch whose quotes and events retention keeps: `at_most`, or, when lower, the
    /// first epoch with blocks that is not settled: neither proven nor pruned in an L1 block up
    /// to `settled_by_l1` (its quotes may still be claimed, its claim still proven, or a reorg
    /// may still undo its proof).
    fn retention_floor(&self, at_most: u64, settled_by_l1: u64) -> Result<u64, StoreError>;

    /// Deletes up to `limit` quotes of epochs below `below_epoch`, oldest epochs first, in one
    /// short transaction, and returns how many; once fewer than `limit` were left, records that
    /// every quote below `below_epoch` is gone ([`RetentionMarks::quotes_before_epoch`]).
    fn prune_quotes(&self, below_epoch: u64, limit: u32) -> Result<u64, StoreError>;

    /// The sequence number of the first event kept when the epochs from `epoch` on are kept: the
    /// first event concerning `epoch` or a later one, and never beyond the latest event (which is
    /// always kept, so sequence numbers are never reused); 0 when there is no event.
    fn first_event_kept(&self, epoch: u64) -> Result<i64, StoreError>;

    /// Deletes up to `limit` of the oldest events before `below_seq`, in one short transaction,
    /// records the highest deleted ([`RetentionMarks::events_through`]) and returns how many.
    fn prune_events(&self, below_seq: i64, limit: u32) -> Result<u64, StoreError>;

    /// What retention has deleted so far.
    fn retention_marks(&self) -> Result<RetentionMarks, StoreError>;

    /// The quote with this id.
    fn quote(&self, id: B256) -> Result<Option<QuoteRecord>, StoreError>;

    /// How many quotes are stored, in every status.
    fn quote_count(&self) -> Result<u64, StoreError>;

    /// Epoch `epoch`, if it has (or had) blocks.
    fn epoch(&self, epoch: u64) -> Result<Option<EpochRecord>, StoreError>;

    /// The view of L1 intake validates against: cursor, epochs not proven (and the 64 latest),
    /// the open claim, and every known deposit.
    fn load_view(&self) -> Result<ChainView, StoreError>;

    /// The open claim (on an epoch neither proven nor slashed), if any.
    fn open_claim(&self) -> Result<Option<ClaimRecord>, StoreError>;

    /// The claim that named quote `id`, with its outcome, if any.
    fn claim_of_quote(&self, id: B256) -> Result<Option<(ClaimRecord, ClaimOutcome)>, StoreError>;

    /// The claims of `epoch`, newest first, each with its outcome.
    fn claims_of_epoch(&self, epoch: u64) -> Result<Vec<(ClaimRecord, ClaimOutcome)>, StoreError>;

    /// Claims seen on L1, newest first, optionally of one prover, before L1 block `before`
    /// (exclusive) for paging; each with its outcome.
    fn claims(&self, prover: Option<Address>, before: Option<u64>, limit: u32) -> Result<Vec<(ClaimRecord, ClaimOutcome)>, StoreError>;

    /// A page of the quotes of `epoch`, best first (lowest fee, then earliest received), with
    /// `status` if given and from `prover` if given, strictly after the position `after`
    /// (`(basis_point_fee, seq)` of the last quote of the previous page).
    fn quotes_page(&self, epoch: u64, status: Option<QuoteStatus>, prover: Option<Address>, after: Option<(u32, i64)>, limit: u32) -> Result<Vec<QuoteRecord>, StoreError>;

    /// Epochs with blocks, newest first, below `before` (exclusive) when given.
    fn epochs_page(&self, before: Option<u64>, limit: u32) -> Result<Vec<EpochRecord>, StoreError>;

    /// The claims of the epochs `from..=to`, newest first, each with its outcome.
    fn claims_of_epochs(&self, from: u64, to: u64) -> Result<Vec<(ClaimRecord, ClaimOutcome)>, StoreError>;

    /// What each prover quoted for the epochs `from..=to`: a row per prover and epoch.
    fn quotes_by_epoch(&self, from: u64, to: u64) -> Result<Vec<ProverEpochQuotes>, StoreError>;

    /// The epochs `prover` quoted for, newest first, at most `limit`.
    fn prover_epochs(&self, prover: Address, limit: u32) -> Result<Vec<ProverEpochQuotes>, StoreError>;

    /// Each prover's quotes summed over every epoch (or only `prover`'s).
    fn quote_totals(&self, prover: Option<Address>) -> Result<Vec<ProverQuoteTotals>, StoreError>;

    /// Every claim (or only `prover`'s) with its outcome and payout.
    fn claim_payouts(&self, prover: Option<Address>) -> Result<Vec<ClaimPayout>, StoreError>;

    /// `prover`'s escrow deposit as last read from L1.
    fn prover_deposit(&self, prover: Address) -> Result<Option<U256>, StoreError>;

    /// Records `prover`'s deposit as read at L1 block `l1_block` (older readings never win).
    fn set_prover_deposit(&self, prover: Address, deposit: U256, l1_block: u64) -> Result<(), StoreError>;

    /// The watcher's cursor, if it has processed any block.
    fn cursor(&self) -> Result<Option<ChainCursor>, StoreError>;

    /// The recorded hash of L1 block `number`, if the watcher processed it recently.
    fn l1_block_hash(&self, number: u64) -> Result<Option<B256>, StoreError>;

    /// The recorded L1 blocks below `below`, newest first: candidates for a reorg's fork point.
    fn recorded_l1_blocks_below(&self, below: u64) -> Result<Vec<(u64, B256)>, StoreError>;

    /// Applies one watcher step and moves the cursor, atomically.
    fn apply(&self, cursor: ChainCursor, update: &ChainUpdate) -> Result<(), StoreError>;

    /// The provers whose deposit was last read at an L1 block after `l1_block`.
    fn deposits_read_after(&self, l1_block: u64) -> Result<Vec<Address>, StoreError>;

    /// Undoes everything the L1 blocks after `fork` did (they left the canonical chain), and
    /// moves the cursor back to `fork` so the watcher reads the new branch. Quote statuses set by
    /// those blocks are recomputed from what remains; the next step re-applies expiry by slot.
    /// The deposits read after `fork` are dropped and `deposits`, read at `fork`, written (a
    /// deposit whose change was dropped is otherwise never read again).
    fn rollback_to(&self, fork: ChainCursor, deposits: &[(Address, U256)]) -> Result<(), StoreError>;

    /// Takes, or confirms it still holds, the right to write the view of L1: one watcher among
    /// the replicas sharing a database writes it. Always granted on SQLite (one process owns
    /// the file); on PostgreSQL a session advisory lock, held by a connection of its own.
    fn lead_watcher(&self) -> Result<bool, StoreError>;
}

/// Says when a transaction that appended events has committed through this store, so that the
/// event streams read them at once instead of at their next poll. On PostgreSQL the same
/// transactions also notify every other replica (see [`postgres::PgStore::forward_notifications`]).
#[derive(Debug)]
pub struct EventSignal(tokio::sync::watch::Sender<u64>);

impl Default for EventSignal {
    fn default() -> Self {
        Self(tokio::sync::watch::channel(0).0)
    }
}

impl EventSignal {
    /// Events were committed.
    pub(crate) fn committed(&self) {
        self.0.send_modify(|count| *count = count.wrapping_add(1));
    }

    /// How many commits it has signalled.
    pub(crate) fn count(&self) -> u64 {
        *self.0.borrow()
    }

    /// A receiver that sees a change at each commit after this call.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.0.subscribe()
    }
}

/// The store the node runs on.
#[derive(Clone, Debug)]
pub enum Store {
    /// PostgreSQL.
    Postgres(postgres::PgStore),
    /// An embedded SQLite file.
    Sqlite(sqlite::SqliteStore),
}

impl Store {
    /// Connects to `url` (`postgres://…` or `sqlite://…`) and applies the migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite(sqlite::SqliteStore::connect(url).await?))
        } else {
            Ok(Self::Postgres(postgres::PgStore::connect(url).await?))
        }
    }

    /// Changes each time events are committed: through this store, or (on PostgreSQL, while
    /// [`Store::forward_notifications`] runs) by any replica.
    pub fn events_committed(&self) -> tokio::sync::watch::Receiver<u64> {
        match self {
            Self::Postgres(store) => store.events.subscribe(),
            Self::Sqlite(store) => store.events.subscribe(),
        }
    }

    /// Runs for ever, passing the other replicas' event commits to [`Store::events_committed`]
    /// (PostgreSQL's `LISTEN`); nothing to do on SQLite, whose one process is this one.
    pub async fn forward_notifications(&self) {
        match self {
            Self::Postgres(store) => store.forward_notifications().await,
            Self::Sqlite(_) => std::future::pending().await,
        }
    }

    /// A number that moves whenever a quote's status or a claim may have changed, counting every
    /// such change committed before the call: on PostgreSQL the latest event's sequence number
    /// (each of those changes appends events in its transaction, whichever replica made it); on
    /// SQLite, whose one process makes every change, this store's count of commits that appended
    /// events. (Blocks and deposits change without events: this is no version of those.)
    pub async fn read_version(&self) -> Result<u64, StoreError> {
        match self {
            Self::Postgres(store) => Ok(store.latest_event_seq().await?.unsigned_abs()),
            Self::Sqlite(store) => Ok(store.events.count()),
        }
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        match self {
            Self::Postgres(_) => Backend::Postgres,
            Self::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// Stores one validated quote; see [`NodeStore::insert_quotes`].
    pub async fn insert_quote(
        &self,
        id: B256,
        quote: &SignedEpochProofQuote,
        per_epoch_cap: u32,
    ) -> Result<InsertOutcome, StoreError> {
        let mut outcomes = self.insert_quotes(&[(id, *quote)], per_epoch_cap).await?;
        Ok(outcomes.pop().unwrap_or(InsertOutcome::AlreadyStored))
    }
}

/// An epoch's range, size and fees, summed from its blocks.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EpochTotals {
    pub(crate) init_block: u64,
    pub(crate) final_block: u64,
    pub(crate) block_count: u64,
    pub(crate) tx_count: u64,
    pub(crate) fees: U256,
}

impl Default for EpochTotals {
    fn default() -> Self {
        Self { init_block: u64::MAX, final_block: 0, block_count: 0, tx_count: 0, fees: U256::ZERO }
    }
}

impl EpochTotals {
    /// Counts one block.
    pub(crate) fn add(&mut self, number: u64, tx_count: u64, fees: U256) {
        self.init_block = self.init_block.min(number);
        self.final_block = self.final_block.max(number);
        self.block_count += 1;
        self.tx_count = self.tx_count.saturating_add(tx_count);
        self.fees = self.fees.saturating_add(fees);
    }
}
