//! The node's storage: quotes and its view of L1, behind one repository with two backends,
//! PostgreSQL (`DATABASE_URL`) and an embedded SQLite file, on the same SQL through sqlx's `Any`
//! driver. Every write that acknowledges something to a client is committed before it returns.

use std::{
    str::FromStr,
    time::{SystemTime, UNIX_EPOCH},
};

use alloy::primitives::{Address, B256, U256};
use epoch_quote::{EpochProofQuote, QuoteSignature, SignedEpochProofQuote};
use sqlx::{
    AnyPool, Row,
    any::{AnyPoolOptions, AnyRow},
};

static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");

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
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

/// Which database holds the data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// PostgreSQL.
    Postgres,
    /// An embedded SQLite file.
    Sqlite,
}

pub use crate::domain::QuoteStatus;
use crate::domain::{ClaimOutcome, ExpiryReason, NodeEvent};

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
    /// Proven on L1.
    pub proven: bool,
    /// Rolled back by a prune (and no blocks since).
    pub pruned: bool,
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

/// Orders the caller's transaction with every other write that appends events (quote inserts,
/// watcher steps, reorg rollbacks): with PostgreSQL the events table is locked until the
/// transaction ends, so the caller sees everything such a write committed before it, on this
/// replica or another. SQLite runs one transaction at a time anyway.
async fn lock_events(tx: &mut sqlx::AnyConnection, backend: Backend) -> Result<(), StoreError> {
    if backend == Backend::Postgres {
        sqlx::query("LOCK TABLE events IN SHARE ROW EXCLUSIVE MODE").execute(&mut *tx).await?;
    }
    Ok(())
}

/// `head`, then placeholders for each of `epochs` and `)`, then `tail`, with the epochs bound.
fn epochs_query(
    head: &str,
    epochs: &std::collections::BTreeSet<i64>,
    tail: &str,
) -> sqlx::query::Query<'static, sqlx::Any, <sqlx::Any as sqlx::Database>::Arguments> {
    let mut sql = String::from(head);
    push_placeholders(&mut sql, 1, epochs.len(), 1);
    sql.push(')');
    sql.push_str(tail);
    epochs.iter().fold(sqlx::query(sqlx::AssertSqlSafe(sql)), |query, epoch| query.bind(*epoch))
}

/// The epochs among `epochs` that take no more quotes, as committed so far.
async fn closed_epochs(
    tx: &mut sqlx::AnyConnection,
    epochs: &std::collections::BTreeSet<i64>,
) -> Result<std::collections::HashMap<i64, EpochClosed>, StoreError> {
    let mut closed = std::collections::HashMap::new();
    let claimed = epochs_query("SELECT epoch FROM claims WHERE outcome = 'open' AND epoch IN (", epochs, "");
    for row in claimed.fetch_all(&mut *tx).await? {
        closed.insert(row.try_get::<i64, _>(0)?, EpochClosed::Claimed);
    }
    let decided = epochs_query(
        "SELECT epoch, proven_at_l1 FROM epochs WHERE (proven_at_l1 <> 0 OR pruned_at_l1 <> 0) AND epoch IN (",
        epochs,
        "",
    );
    for row in decided.fetch_all(&mut *tx).await? {
        let why = if row.try_get::<i64, _>(1)? != 0 { EpochClosed::Proven } else { EpochClosed::Pruned };
        closed.insert(row.try_get::<i64, _>(0)?, why);
    }
    Ok(closed)
}

/// Appends events in the caller's transaction. With PostgreSQL the table is locked until the
/// transaction ends, so events commit in the order of their sequence numbers and a reader that
/// has seen `seq` never later finds a smaller one appear. (Every caller has taken the lock at the
/// start of its transaction already; taking it here again keeps the guarantee for a new caller
/// that forgets.)
async fn append_events(
    tx: &mut sqlx::AnyConnection,
    backend: Backend,
    events: &[NodeEvent],
    now: i64,
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    lock_events(tx, backend).await?;
    for chunk in events.chunks(300) {
        let mut sql = String::from("INSERT INTO events (kind, data, created_at_ms) VALUES ");
        for (n, _) in chunk.iter().enumerate() {
            if n > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("(${}, ${}, ${})", 3 * n + 1, 3 * n + 2, 3 * n + 3));
        }
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for event in chunk {
            query = query.bind(event.kind().as_str()).bind(event.data()).bind(now);
        }
        query.execute(&mut *tx).await?;
    }
    Ok(())
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

/// Appends `count` placeholders `$first, $first+step, …` separated by commas.
fn push_placeholders(sql: &mut String, first: usize, count: usize, step: usize) {
    for k in 0..count {
        if k > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!("${}", first + k * step));
    }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// A stored integer that must not be negative, or an error naming its table and column.
fn uint(column: &str, v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("{column}: {v} is negative")))
}

fn parse<T: FromStr>(what: &str, text: &str) -> Result<T, StoreError> {
    text.parse().map_err(|_| StoreError::Corrupt(format!("{what}: {text:?}")))
}

/// The repository: one pool, the same queries on either backend.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

/// The columns [`epoch_from_row`] reads.
macro_rules! epoch_columns {
    () => {
        "epoch, init_block, final_block, block_count, tx_count, total_fees, proven_at_l1, pruned_at_l1"
    };
}

fn epoch_from_row(row: &AnyRow) -> Result<EpochRecord, StoreError> {
    Ok(EpochRecord {
        epoch: uint("epochs.epoch", row.try_get("epoch")?)?,
        init_block: uint("epochs.init_block", row.try_get("init_block")?)?,
        final_block: uint("epochs.final_block", row.try_get("final_block")?)?,
        block_count: uint("epochs.block_count", row.try_get("block_count")?)?,
        tx_count: uint("epochs.tx_count", row.try_get("tx_count")?)?,
        total_fees: parse("total_fees", &row.try_get::<String, _>("total_fees")?)?,
        proven: row.try_get::<i64, _>("proven_at_l1")? != 0,
        pruned: row.try_get::<i64, _>("pruned_at_l1")? != 0,
    })
}

/// The columns [`claim_from_row`] reads.
macro_rules! claim_columns {
    () => {
        "epoch, quote_id, bond_provider, proposer, bond_amount, basis_point_fee, claimed_at_slot, l1_block, l1_tx, outcome"
    };
}

fn claim_from_row(row: &AnyRow) -> Result<(ClaimRecord, ClaimOutcome), StoreError> {
    let claim = ClaimRecord {
        epoch: uint("claims.epoch", row.try_get("epoch")?)?,
        quote_id: parse("quote_id", &row.try_get::<String, _>("quote_id")?)?,
        bond_provider: parse("bond_provider", &row.try_get::<String, _>("bond_provider")?)?,
        proposer: parse("proposer", &row.try_get::<String, _>("proposer")?)?,
        bond_amount: parse("bond_amount", &row.try_get::<String, _>("bond_amount")?)?,
        basis_point_fee: u32::try_from(row.try_get::<i64, _>("basis_point_fee")?)
            .map_err(|_| StoreError::Corrupt("claim basis_point_fee".into()))?,
        claimed_at_slot: uint("claims.claimed_at_slot", row.try_get("claimed_at_slot")?)?,
        l1_block: uint("claims.l1_block", row.try_get("l1_block")?)?,
        l1_tx: parse("l1_tx", &row.try_get::<String, _>("l1_tx")?)?,
    };
    let outcome: String = row.try_get("outcome")?;
    let outcome = outcome.parse().map_err(|e| StoreError::Corrupt(format!("claims.outcome: {e}")))?;
    Ok((claim, outcome))
}

/// The columns [`Store::quote_from_row`] reads.
macro_rules! quote_columns {
    () => {
        "seq, id, prover, epoch, epoch_init_block, epoch_final_block, total_fees, rollup_address, basis_point_fee, \
         bond_amount, valid_until_slot, signature, status, received_at_ms"
    };
}

impl Store {
    /// Connects to `url` (`postgres://…` or `sqlite://…`) and applies the migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") { Backend::Sqlite } else { Backend::Postgres };
        let options = AnyPoolOptions::new().acquire_timeout(std::time::Duration::from_secs(3));
        let pool = match backend {
            // One writer at a time is what SQLite allows; a single connection also keeps the
            // embedded store free of "database is locked" errors.
            Backend::Sqlite => options.max_connections(1).connect(url).await?,
            Backend::Postgres => options.max_connections(16).connect(url).await?,
        };
        let store = Self { pool, backend };
        match backend {
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&store.pool).await?,
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&store.pool).await?,
        }
        Ok(store)
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The connection pool (for the watcher's advisory lock).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// True when the database answers.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    /// Stores a validated quote (committed before returning), superseding older pending quotes
    /// of the same prover and epoch, unless it is already stored, the epoch is full, or the
    /// watcher has closed the epoch (claimed, proven or pruned).
    pub async fn insert_quote(
        &self,
        id: B256,
        quote: &SignedEpochProofQuote,
        per_epoch_cap: u32,
    ) -> Result<InsertOutcome, StoreError> {
        let mut outcomes = self.insert_quotes(&[(id, *quote)], per_epoch_cap).await?;
        outcomes.pop().ok_or_else(|| StoreError::Corrupt("no outcome for an inserted quote".into()))
    }

    /// Stores validated quotes in one transaction (committed before returning), in order, with
    /// one outcome each, as if inserted one by one: a quote supersedes the pending quotes of the
    /// same prover and epoch stored before it; the per-epoch cap counts provers with a pending
    /// quote, so a prover replacing its own quote is never refused for it.
    pub async fn insert_quotes(
        &self,
        quotes: &[(B256, SignedEpochProofQuote)],
        per_epoch_cap: u32,
    ) -> Result<Vec<InsertOutcome>, StoreError> {
        if quotes.is_empty() {
            return Ok(Vec::new());
        }
        let key = |q: &SignedEpochProofQuote| (q.quote.prover.to_string(), int(q.quote.epoch_number.saturating_to()));
        let mut tx = self.pool.begin().await?;
        lock_events(&mut tx, self.backend).await?;

        // Epochs the watcher has closed: intake checked a snapshot of the view, which may be older
        // than the watcher's last commit.
        let epochs: std::collections::BTreeSet<i64> = quotes.iter().map(|(_, q)| key(q).1).collect();
        let closed = closed_epochs(&mut tx, &epochs).await?;

        // What is pending already, for the epochs and provers of the batch.
        let query = epochs_query(
            "SELECT epoch, COUNT(*) FROM quotes WHERE status = 'pending' AND epoch IN (",
            &epochs,
            " GROUP BY epoch",
        );
        let mut pending: std::collections::HashMap<i64, i64> = std::collections::HashMap::new();
        for row in query.fetch_all(&mut *tx).await? {
            pending.insert(row.try_get(0)?, row.try_get(1)?);
        }
        let pairs: std::collections::BTreeSet<(String, i64)> = quotes.iter().map(|(_, q)| key(q)).collect();
        let mut sql = String::from("SELECT DISTINCT prover, epoch FROM quotes WHERE status = 'pending' AND (");
        for (n, _) in pairs.iter().enumerate() {
            if n > 0 {
                sql.push_str(" OR ");
            }
            sql.push_str(&format!("(prover = ${} AND epoch = ${})", 2 * n + 1, 2 * n + 2));
        }
        sql.push(')');
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (prover, epoch) in &pairs {
            query = query.bind(prover.clone()).bind(*epoch);
        }
        let mut has_pending: std::collections::HashSet<(String, i64)> = std::collections::HashSet::new();
        for row in query.fetch_all(&mut *tx).await? {
            has_pending.insert((row.try_get(0)?, row.try_get(1)?));
        }

        // Decide, in order: duplicates in the batch, closed epochs, the cap.
        let mut outcomes: Vec<Option<InsertOutcome>> = vec![None; quotes.len()];
        let mut seen_ids = std::collections::HashSet::new();
        let mut admitted = Vec::new();
        for (n, (id, quote)) in quotes.iter().enumerate() {
            if !seen_ids.insert(*id) {
                outcomes[n] = Some(InsertOutcome::AlreadyStored);
                continue;
            }
            let pair = key(quote);
            if let Some(why) = closed.get(&pair.1) {
                outcomes[n] = Some(InsertOutcome::EpochClosed(*why));
                continue;
            }
            if !has_pending.contains(&pair) {
                let count = pending.entry(pair.1).or_insert(0);
                if *count >= i64::from(per_epoch_cap) {
                    outcomes[n] = Some(InsertOutcome::EpochFull);
                    continue;
                }
                *count += 1;
                has_pending.insert(pair);
            }
            admitted.push(n);
        }
        if admitted.is_empty() {
            // Release the events lock now rather than when the connection is next used.
            tx.rollback().await?;
            return Ok(outcomes.into_iter().map(|o| o.unwrap_or(InsertOutcome::AlreadyStored)).collect());
        }

        let now = now_ms();
        const COLUMNS: usize = 13;
        let mut sql = String::from(
            "INSERT INTO quotes (id, prover, epoch, epoch_init_block, epoch_final_block, total_fees, rollup_address, \
             basis_point_fee, bond_amount, valid_until_slot, valid_until_slot_u64, signature, received_at_ms, status, \
             status_changed_at_ms) VALUES ",
        );
        for (row, _) in admitted.iter().enumerate() {
            if row > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            push_placeholders(&mut sql, row * COLUMNS + 1, COLUMNS, 1);
            sql.push_str(&format!(", 'pending', ${})", row * COLUMNS + COLUMNS));
        }
        sql.push_str(" ON CONFLICT (id) DO NOTHING RETURNING id");
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for &n in &admitted {
            let (id, quote) = &quotes[n];
            let q = &quote.quote;
            query = query
                .bind(id.to_string())
                .bind(q.prover.to_string())
                .bind(int(q.epoch_number.saturating_to()))
                .bind(int(q.epoch_init_block.saturating_to()))
                .bind(int(q.epoch_final_block.saturating_to()))
                .bind(q.total_fees.to_string())
                .bind(q.rollup_address.to_string())
                .bind(i64::from(q.basis_point_fee))
                .bind(q.bond_amount.to_string())
                .bind(q.valid_until_slot.to_string())
                .bind(int(q.valid_until_slot.saturating_to()))
                .bind(quote.signature.to_string())
                .bind(now);
        }
        let inserted: std::collections::HashSet<String> =
            query.fetch_all(&mut *tx).await?.iter().map(|row| row.try_get::<String, _>(0)).collect::<Result<_, _>>()?;

        // The last inserted quote of each prover and epoch stays pending; everything else of
        // theirs that is pending is superseded.
        let mut latest: std::collections::HashMap<(String, i64), usize> = std::collections::HashMap::new();
        for &n in &admitted {
            if inserted.contains(&quotes[n].0.to_string()) {
                latest.insert(key(&quotes[n].1), n);
            }
        }
        let mut superseded_by: std::collections::HashMap<(String, i64), Vec<B256>> = std::collections::HashMap::new();
        if !latest.is_empty() {
            let mut sql = String::from(
                "UPDATE quotes SET status = 'superseded', status_changed_at_ms = $1 WHERE status = 'pending' AND (",
            );
            for (k, _) in latest.iter().enumerate() {
                if k > 0 {
                    sql.push_str(" OR ");
                }
                sql.push_str(&format!("(prover = ${} AND epoch = ${} AND id <> ${})", 3 * k + 2, 3 * k + 3, 3 * k + 4));
            }
            sql.push_str(") RETURNING id, prover, epoch");
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now);
            for ((prover, epoch), n) in &latest {
                query = query.bind(prover.clone()).bind(*epoch).bind(quotes[*n].0.to_string());
            }
            for row in query.fetch_all(&mut *tx).await? {
                let id: B256 = parse("quote id", &row.try_get::<String, _>(0)?)?;
                superseded_by.entry((row.try_get(1)?, row.try_get(2)?)).or_default().push(id);
            }
        }
        let mut events = Vec::new();
        for &n in &admitted {
            let (id, quote) = &quotes[n];
            if inserted.contains(&id.to_string()) {
                let q = &quote.quote;
                events.push(NodeEvent::QuoteAccepted {
                    id: *id,
                    prover: q.prover,
                    epoch: q.epoch_number,
                    basis_point_fee: q.basis_point_fee,
                    bond_amount: q.bond_amount,
                });
            }
        }
        for (pair, ids) in &superseded_by {
            if let Some(n) = latest.get(pair) {
                for id in ids {
                    events.push(NodeEvent::QuoteSuperseded { id: *id, by: quotes[*n].0 });
                }
            }
        }
        append_events(&mut tx, self.backend, &events, now).await?;
        tx.commit().await?;

        for &n in &admitted {
            let (id, quote) = &quotes[n];
            outcomes[n] = Some(if !inserted.contains(&id.to_string()) {
                InsertOutcome::AlreadyStored
            } else if latest.get(&key(quote)) == Some(&n) {
                let mut superseded = superseded_by.remove(&key(quote)).unwrap_or_default();
                superseded.sort();
                InsertOutcome::Stored { superseded }
            } else {
                InsertOutcome::Stored { superseded: Vec::new() }
            });
        }
        Ok(outcomes.into_iter().map(|o| o.unwrap_or(InsertOutcome::AlreadyStored)).collect())
    }

    /// Up to `limit` events after `seq`, in order.
    pub async fn events_after(&self, seq: i64, limit: u32) -> Result<Vec<EventRecord>, StoreError> {
        let rows = sqlx::query("SELECT seq, kind, data FROM events WHERE seq > $1 ORDER BY seq LIMIT $2")
            .bind(seq)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok(EventRecord { seq: r.try_get("seq")?, kind: r.try_get("kind")?, data: r.try_get("data")? }))
            .collect()
    }

    /// The sequence number of the latest event (0 when there is none).
    pub async fn latest_event_seq(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COALESCE(MAX(seq), 0) FROM events").fetch_one(&self.pool).await?;
        Ok(row.try_get(0)?)
    }

    fn quote_from_row(row: &AnyRow) -> Result<QuoteRecord, StoreError> {
        let text = |name: &str| row.try_get::<String, _>(name).map_err(StoreError::from);
        let number = |name: &str| row.try_get::<i64, _>(name).map_err(StoreError::from);
        let quote = EpochProofQuote {
            prover: parse("prover", &text("prover")?)?,
            epoch_number: U256::from(uint("quotes.epoch", number("epoch")?)?),
            epoch_init_block: U256::from(uint("quotes.epoch_init_block", number("epoch_init_block")?)?),
            epoch_final_block: U256::from(uint("quotes.epoch_final_block", number("epoch_final_block")?)?),
            total_fees: parse("total_fees", &text("total_fees")?)?,
            rollup_address: parse("rollup_address", &text("rollup_address")?)?,
            basis_point_fee: u32::try_from(number("basis_point_fee")?)
                .map_err(|_| StoreError::Corrupt("basis_point_fee".into()))?,
            bond_amount: parse("bond_amount", &text("bond_amount")?)?,
            valid_until_slot: parse("valid_until_slot", &text("valid_until_slot")?)?,
        };
        let signature = QuoteSignature::from_hex(&text("signature")?)
            .map_err(|e| StoreError::Corrupt(format!("signature: {e}")))?;
        Ok(QuoteRecord {
            seq: number("seq")?,
            id: parse("id", &text("id")?)?,
            quote: SignedEpochProofQuote { quote, signature },
            status: text("status")?.parse().map_err(|e| StoreError::Corrupt(format!("quotes.status: {e}")))?,
            received_at_ms: number("received_at_ms")?,
        })
    }

    /// The quote with this id.
    pub async fn quote(&self, id: B256) -> Result<Option<QuoteRecord>, StoreError> {
        let row = sqlx::query(concat!("SELECT ", quote_columns!(), " FROM quotes WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(Self::quote_from_row).transpose()
    }

    /// Epoch `epoch`, if it has (or had) blocks.
    pub async fn epoch(&self, epoch: u64) -> Result<Option<EpochRecord>, StoreError> {
        let row = sqlx::query(concat!("SELECT ", epoch_columns!(), " FROM epochs WHERE epoch = $1"))
            .bind(int(epoch))
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(epoch_from_row).transpose()
    }

    /// The view of L1 intake validates against: cursor, epochs not proven (and the 64 latest),
    /// the open claim, and every known deposit.
    pub async fn load_view(&self) -> Result<ChainView, StoreError> {
        let cursor = self.cursor().await?;
        let epochs = sqlx::query(concat!(
            "SELECT ",
            epoch_columns!(),
            " FROM epochs WHERE proven_at_l1 = 0 OR epoch >= (SELECT MAX(epoch) FROM epochs) - 64"
        ))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| epoch_from_row(row).map(|e| (e.epoch, e)))
        .collect::<Result<_, _>>()?;
        let deposits = sqlx::query("SELECT address, deposit FROM provers")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                Ok((
                    parse("address", &row.try_get::<String, _>("address")?)?,
                    parse("deposit", &row.try_get::<String, _>("deposit")?)?,
                ))
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(ChainView { cursor, epochs, open_claim: self.open_claim().await?, deposits })
    }

    /// The open claim (on an epoch neither proven nor slashed), if any.
    pub async fn open_claim(&self) -> Result<Option<ClaimRecord>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            claim_columns!(),
            " FROM claims WHERE outcome = 'open' ORDER BY l1_block DESC LIMIT 1"
        ))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(|r| claim_from_row(r).map(|(claim, _)| claim)).transpose()
    }

    /// The claim that named quote `id`, with its outcome, if any.
    pub async fn claim_of_quote(&self, id: B256) -> Result<Option<(ClaimRecord, ClaimOutcome)>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            claim_columns!(),
            " FROM claims WHERE quote_id = $1 ORDER BY l1_block DESC LIMIT 1"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(claim_from_row).transpose()
    }

    /// The claims of `epoch`, newest first, each with its outcome.
    pub async fn claims_of_epoch(&self, epoch: u64) -> Result<Vec<(ClaimRecord, ClaimOutcome)>, StoreError> {
        let rows =
            sqlx::query(concat!("SELECT ", claim_columns!(), " FROM claims WHERE epoch = $1 ORDER BY l1_block DESC"))
                .bind(int(epoch))
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(claim_from_row).collect()
    }

    /// Claims seen on L1, newest first, optionally of one prover, after `before` (an L1 block,
    /// exclusive) for paging; each with its outcome (`open`, `proven`, `slashed`).
    pub async fn claims(
        &self,
        prover: Option<Address>,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<(ClaimRecord, ClaimOutcome)>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            claim_columns!(),
            " FROM claims WHERE ($1 = '' OR bond_provider = $1) AND l1_block < $2 ORDER BY l1_block DESC, epoch DESC \
             LIMIT $3"
        ))
        .bind(prover.map(|p| p.to_string()).unwrap_or_default())
        .bind(before.map_or(i64::MAX, int))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(claim_from_row).collect()
    }

    /// A page of the quotes of `epoch`, best first (lowest fee, then earliest received), with
    /// `status` if given and from `prover` if given, strictly after the position `after`
    /// (`(basis_point_fee, seq)` of the last quote of the previous page).
    pub async fn quotes_page(
        &self,
        epoch: u64,
        status: Option<QuoteStatus>,
        prover: Option<Address>,
        after: Option<(u32, i64)>,
        limit: u32,
    ) -> Result<Vec<QuoteRecord>, StoreError> {
        let (fee, seq) = after.map_or((-1, -1), |(fee, seq)| (i64::from(fee), seq));
        // Only the filters asked for appear in the SQL, so each combination gets a plan that uses
        // the (epoch, status, basis_point_fee, seq) index.
        let mut sql = String::from(concat!("SELECT ", quote_columns!(), " FROM quotes WHERE epoch = $1"));
        let mut next = 2;
        if status.is_some() {
            sql.push_str(&format!(" AND status = ${next}"));
            next += 1;
        }
        if prover.is_some() {
            sql.push_str(&format!(" AND prover = ${next}"));
            next += 1;
        }
        sql.push_str(&format!(
            " AND (basis_point_fee > ${a} OR (basis_point_fee = ${a} AND seq > ${b})) ORDER BY basis_point_fee, seq LIMIT ${c}",
            a = next,
            b = next + 1,
            c = next + 2
        ));
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(int(epoch));
        if let Some(status) = status {
            query = query.bind(status.as_str());
        }
        if let Some(prover) = prover {
            query = query.bind(prover.to_string());
        }
        let rows = query.bind(fee).bind(seq).bind(i64::from(limit)).fetch_all(&self.pool).await?;
        rows.iter().map(Self::quote_from_row).collect()
    }

    /// `prover`'s escrow deposit as last read from L1.
    pub async fn prover_deposit(&self, prover: Address) -> Result<Option<U256>, StoreError> {
        let row = sqlx::query("SELECT deposit FROM provers WHERE address = $1")
            .bind(prover.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| parse("deposit", &r.try_get::<String, _>(0)?)).transpose()
    }

    /// Records `prover`'s deposit as read at L1 block `l1_block` (older readings never win).
    pub async fn set_prover_deposit(&self, prover: Address, deposit: U256, l1_block: u64) -> Result<(), StoreError> {
        Self::upsert_deposit(&mut *self.pool.acquire().await?, prover, deposit, l1_block).await
    }

    async fn upsert_deposit(
        conn: &mut sqlx::AnyConnection,
        prover: Address,
        deposit: U256,
        l1_block: u64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO provers (address, deposit, l1_block) VALUES ($1, $2, $3) ON CONFLICT (address) DO UPDATE \
             SET deposit = excluded.deposit, l1_block = excluded.l1_block WHERE provers.l1_block <= excluded.l1_block",
        )
        .bind(prover.to_string())
        .bind(deposit.to_string())
        .bind(int(l1_block))
        .execute(conn)
        .await?;
        Ok(())
    }

    /// The watcher's cursor, if it has processed any block.
    pub async fn cursor(&self) -> Result<Option<ChainCursor>, StoreError> {
        let row = sqlx::query(
            "SELECT l1_block, l1_hash, l1_timestamp, proven_block, pending_block FROM chain_cursor WHERE id = 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| -> Result<ChainCursor, StoreError> {
            Ok(ChainCursor {
                l1_block: uint("chain_cursor.l1_block", row.try_get("l1_block")?)?,
                l1_hash: parse("l1_hash", &row.try_get::<String, _>("l1_hash")?)?,
                l1_timestamp: uint("chain_cursor.l1_timestamp", row.try_get("l1_timestamp")?)?,
                proven_block: uint("chain_cursor.proven_block", row.try_get("proven_block")?)?,
                pending_block: uint("chain_cursor.pending_block", row.try_get("pending_block")?)?,
            })
        })
        .transpose()
    }

    /// The recorded hash of L1 block `number`, if the watcher processed it recently.
    pub async fn l1_block_hash(&self, number: u64) -> Result<Option<B256>, StoreError> {
        let row = sqlx::query("SELECT hash FROM l1_blocks WHERE number = $1")
            .bind(int(number))
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| parse("l1 hash", &r.try_get::<String, _>(0)?)).transpose()
    }

    /// Applies one watcher step and moves the cursor, atomically.
    pub async fn apply(&self, cursor: ChainCursor, update: &ChainUpdate) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        lock_events(&mut tx, self.backend).await?;
        let now = now_ms();
        let mut events = Vec::new();
        for event in &update.events {
            apply_event(&mut tx, event, now, &mut events).await?;
        }
        for (prover, deposit) in &update.deposits {
            Self::upsert_deposit(&mut tx, *prover, *deposit, cursor.l1_block).await?;
        }
        for (number, hash) in &update.l1_blocks {
            sqlx::query("INSERT INTO l1_blocks (number, hash) VALUES ($1, $2) ON CONFLICT (number) DO UPDATE SET hash = excluded.hash")
                .bind(int(*number))
                .bind(hash.to_string())
                .execute(&mut *tx)
                .await?;
        }
        // Keep the last 256 block hashes: deeper reorgs than that are not expected on L1.
        sqlx::query("DELETE FROM l1_blocks WHERE number < $1")
            .bind(int(cursor.l1_block.saturating_sub(256)))
            .execute(&mut *tx)
            .await?;
        let expired = sqlx::query(
            "UPDATE quotes SET status = 'expired', status_changed_at_ms = $1, status_l1_block = $2 \
             WHERE status = 'pending' AND valid_until_slot_u64 < $3 RETURNING id, epoch",
        )
        .bind(now)
        .bind(int(cursor.l1_block))
        .bind(int(update.current_slot))
        .fetch_all(&mut *tx)
        .await?;
        for row in &expired {
            let id: B256 = parse("quote id", &row.try_get::<String, _>(0)?)?;
            let epoch = uint("quotes.epoch", row.try_get(1)?)?;
            events.push(NodeEvent::QuoteExpired { id, epoch, reason: ExpiryReason::ValidUntilSlot });
        }
        let completed = sqlx::query(concat!(
            "SELECT ",
            epoch_columns!(),
            " FROM epochs WHERE epoch >= $1 AND epoch < $2 AND pruned_at_l1 = 0 ORDER BY epoch"
        ))
        .bind(int(update.completed_epochs.start))
        .bind(int(update.completed_epochs.end))
        .fetch_all(&mut *tx)
        .await?;
        for row in &completed {
            let e = epoch_from_row(row)?;
            events.push(NodeEvent::EpochCompleted {
                epoch: e.epoch,
                init_block: e.init_block,
                final_block: e.final_block,
                block_count: e.block_count,
                tx_count: e.tx_count,
                total_fees: e.total_fees,
            });
        }
        append_events(&mut tx, self.backend, &events, now).await?;
        sqlx::query(
            "INSERT INTO chain_cursor (id, l1_block, l1_hash, l1_timestamp, proven_block, pending_block) \
             VALUES (1, $1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE SET l1_block = excluded.l1_block, \
             l1_hash = excluded.l1_hash, l1_timestamp = excluded.l1_timestamp, proven_block = excluded.proven_block, \
             pending_block = excluded.pending_block",
        )
        .bind(int(cursor.l1_block))
        .bind(cursor.l1_hash.to_string())
        .bind(int(cursor.l1_timestamp))
        .bind(int(cursor.proven_block))
        .bind(int(cursor.pending_block))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

type Events = Vec<NodeEvent>;

/// Moves the quotes of `epoch` from `from` to `to`; quotes that expire this way get an event.
async fn set_epoch_quotes(
    tx: &mut sqlx::AnyConnection,
    epoch: u64,
    from: QuoteStatus,
    to: QuoteStatus,
    l1_block: u64,
    now: i64,
    events: &mut Events,
) -> Result<(), StoreError> {
    let rows = sqlx::query(
        "UPDATE quotes SET status = $1, status_l1_block = $2, status_changed_at_ms = $3 WHERE epoch = $4 AND status = $5 \
         RETURNING id",
    )
    .bind(to.as_str())
    .bind(int(l1_block))
    .bind(now)
    .bind(int(epoch))
    .bind(from.as_str())
    .fetch_all(tx)
    .await?;
    if to == QuoteStatus::Expired {
        for row in &rows {
            let id: B256 = parse("quote id", &row.try_get::<String, _>(0)?)?;
            events.push(NodeEvent::QuoteExpired { id, epoch, reason: ExpiryReason::EpochDecided });
        }
    }
    Ok(())
}

async fn apply_event(
    tx: &mut sqlx::AnyConnection,
    event: &ChainEvent,
    now: i64,
    events: &mut Events,
) -> Result<(), StoreError> {
    match event {
        ChainEvent::BlockProposed(b) => {
            sqlx::query(
                "INSERT INTO l2_blocks (number, epoch, slot, proposer, tx_count, fees, archive, l1_block) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (number, l1_block) DO NOTHING",
            )
            .bind(int(b.number))
            .bind(int(b.epoch))
            .bind(int(b.slot))
            .bind(b.proposer.to_string())
            .bind(int(b.tx_count))
            .bind(b.fees.to_string())
            .bind(b.archive.to_string())
            .bind(int(b.l1_block))
            .execute(&mut *tx)
            .await?;
            refresh_epoch(tx, b.epoch).await?;
        }
        ChainEvent::Claimed(c) => {
            sqlx::query(
                "INSERT INTO claims (epoch, quote_id, bond_provider, proposer, bond_amount, basis_point_fee, \
                 claimed_at_slot, l1_block, l1_tx, outcome) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'open') \
                 ON CONFLICT (epoch, l1_block, quote_id) DO NOTHING",
            )
            .bind(int(c.epoch))
            .bind(c.quote_id.to_string())
            .bind(c.bond_provider.to_string())
            .bind(c.proposer.to_string())
            .bind(c.bond_amount.to_string())
            .bind(i64::from(c.basis_point_fee))
            .bind(int(c.claimed_at_slot))
            .bind(int(c.l1_block))
            .bind(c.l1_tx.to_string())
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE quotes SET status = 'claimed', status_l1_block = $1, status_changed_at_ms = $2 WHERE id = $3",
            )
            .bind(int(c.l1_block))
            .bind(now)
            .bind(c.quote_id.to_string())
            .execute(&mut *tx)
            .await?;
            set_epoch_quotes(tx, c.epoch, QuoteStatus::Pending, QuoteStatus::Expired, c.l1_block, now, events).await?;
            events.push(NodeEvent::ClaimSeen {
                epoch: c.epoch,
                quote_id: c.quote_id,
                bond_provider: c.bond_provider,
                proposer: c.proposer,
                bond_amount: c.bond_amount,
                basis_point_fee: c.basis_point_fee,
                claimed_at_slot: c.claimed_at_slot,
                l1_block: c.l1_block,
                l1_tx: c.l1_tx,
            });
        }
        ChainEvent::Proven { epoch, l1_block } => {
            sqlx::query("UPDATE epochs SET proven_at_l1 = $1 WHERE epoch = $2")
                .bind(int(*l1_block))
                .bind(int(*epoch))
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE claims SET outcome = 'proven', outcome_l1_block = $1 WHERE epoch = $2 AND outcome = 'open'",
            )
            .bind(int(*l1_block))
            .bind(int(*epoch))
            .execute(&mut *tx)
            .await?;
            set_epoch_quotes(tx, *epoch, QuoteStatus::Claimed, QuoteStatus::Proven, *l1_block, now, events).await?;
            set_epoch_quotes(tx, *epoch, QuoteStatus::Pending, QuoteStatus::Expired, *l1_block, now, events).await?;
            events.push(NodeEvent::ProofSeen { epoch: *epoch, l1_block: *l1_block });
        }
        ChainEvent::Slashed { epoch, l1_block } => {
            sqlx::query(
                "UPDATE claims SET outcome = 'slashed', outcome_l1_block = $1 WHERE epoch = $2 AND outcome = 'open'",
            )
            .bind(int(*l1_block))
            .bind(int(*epoch))
            .execute(&mut *tx)
            .await?;
            set_epoch_quotes(tx, *epoch, QuoteStatus::Claimed, QuoteStatus::Slashed, *l1_block, now, events).await?;
            events.push(NodeEvent::BondSlashed { epoch: *epoch, l1_block: *l1_block });
        }
        ChainEvent::EpochPruned { epoch, l1_block } => {
            sqlx::query("UPDATE epochs SET pruned_at_l1 = $1 WHERE epoch = $2")
                .bind(int(*l1_block))
                .bind(int(*epoch))
                .execute(&mut *tx)
                .await?;
            set_epoch_quotes(tx, *epoch, QuoteStatus::Pending, QuoteStatus::Expired, *l1_block, now, events).await?;
            events.push(NodeEvent::EpochPruned { epoch: *epoch, l1_block: *l1_block });
        }
        ChainEvent::Pruned { proven_block, l1_block } => {
            sqlx::query("UPDATE l2_blocks SET pruned_at_l1 = $1 WHERE number > $2 AND pruned_at_l1 = 0")
                .bind(int(*l1_block))
                .bind(int(*proven_block))
                .execute(&mut *tx)
                .await?;
        }
    }
    Ok(())
}

/// Recomputes an epoch's aggregate from its live (not pruned) blocks, so a prune followed by new
/// blocks in the same epoch starts it afresh. An epoch whose blocks were all pruned keeps the
/// aggregate of the blocks last pruned, and is marked pruned at that L1 block.
async fn refresh_epoch(tx: &mut sqlx::AnyConnection, epoch: u64) -> Result<(), StoreError> {
    let live =
        sqlx::query("SELECT number, tx_count, fees, pruned_at_l1 FROM l2_blocks WHERE epoch = $1 AND pruned_at_l1 = 0")
            .bind(int(epoch))
            .fetch_all(&mut *tx)
            .await?;
    let (rows, pruned_at) = if live.is_empty() {
        let last: Option<i64> = sqlx::query("SELECT MAX(pruned_at_l1) FROM l2_blocks WHERE epoch = $1")
            .bind(int(epoch))
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        let Some(last) = last.filter(|l| *l > 0) else {
            sqlx::query("DELETE FROM epochs WHERE epoch = $1").bind(int(epoch)).execute(&mut *tx).await?;
            return Ok(());
        };
        let rows = sqlx::query(
            "SELECT number, tx_count, fees, pruned_at_l1 FROM l2_blocks WHERE epoch = $1 AND pruned_at_l1 = $2",
        )
        .bind(int(epoch))
        .bind(last)
        .fetch_all(&mut *tx)
        .await?;
        (rows, last)
    } else {
        (live, 0)
    };
    let (mut init, mut last, mut txs, mut fees) = (u64::MAX, 0u64, 0u64, U256::ZERO);
    for row in &rows {
        let number = uint("l2_blocks.number", row.try_get("number")?)?;
        init = init.min(number);
        last = last.max(number);
        txs = txs.saturating_add(uint("l2_blocks.tx_count", row.try_get("tx_count")?)?);
        fees = fees.saturating_add(parse("fees", &row.try_get::<String, _>("fees")?)?);
    }
    sqlx::query(
        "INSERT INTO epochs (epoch, init_block, final_block, block_count, tx_count, total_fees, proven_at_l1, \
         pruned_at_l1) VALUES ($1, $2, $3, $4, $5, $6, 0, $7) ON CONFLICT (epoch) DO UPDATE SET \
         init_block = excluded.init_block, final_block = excluded.final_block, block_count = excluded.block_count, \
         tx_count = excluded.tx_count, total_fees = excluded.total_fees, pruned_at_l1 = excluded.pruned_at_l1",
    )
    .bind(int(epoch))
    .bind(int(init))
    .bind(int(last))
    .bind(int(rows.len() as u64))
    .bind(int(txs))
    .bind(fees.to_string())
    .bind(pruned_at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

impl Store {
    /// Undoes everything the L1 blocks after `fork` did (they left the canonical chain), and
    /// moves the cursor back to `fork` so the watcher reads the new branch. Quote statuses set by
    /// those blocks are recomputed from what remains; the next step re-applies expiry by slot.
    pub async fn rollback_to(&self, fork: ChainCursor) -> Result<(), StoreError> {
        let f = int(fork.l1_block);
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        lock_events(&mut tx, self.backend).await?;
        let touched: Vec<i64> = sqlx::query(
            "SELECT DISTINCT epoch FROM l2_blocks WHERE l1_block > $1 OR pruned_at_l1 > $1 \
             UNION SELECT epoch FROM epochs WHERE proven_at_l1 > $1 OR pruned_at_l1 > $1",
        )
        .bind(f)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| r.try_get::<i64, _>(0))
        .collect::<Result<_, _>>()?;
        sqlx::query("DELETE FROM l2_blocks WHERE l1_block > $1").bind(f).execute(&mut *tx).await?;
        sqlx::query("UPDATE l2_blocks SET pruned_at_l1 = 0 WHERE pruned_at_l1 > $1").bind(f).execute(&mut *tx).await?;
        sqlx::query("UPDATE epochs SET proven_at_l1 = 0 WHERE proven_at_l1 > $1").bind(f).execute(&mut *tx).await?;
        for epoch in touched {
            refresh_epoch(&mut tx, uint("epochs.epoch", epoch)?).await?;
        }
        sqlx::query("DELETE FROM claims WHERE l1_block > $1").bind(f).execute(&mut *tx).await?;
        sqlx::query("UPDATE claims SET outcome = 'open', outcome_l1_block = 0 WHERE outcome_l1_block > $1")
            .bind(f)
            .execute(&mut *tx)
            .await?;
        // Quotes whose status came from the dropped blocks: claimed/proven/slashed from their
        // claim if it remains, expired if their epoch is claimed, proven or pruned, else pending;
        // each then records the L1 block that now justifies it, so a deeper rollback finds it.
        sqlx::query("UPDATE quotes SET status_l1_block = -1 WHERE status_l1_block > $1 AND status <> 'superseded'")
            .bind(f)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE quotes SET status_changed_at_ms = $1, status = CASE \
               WHEN EXISTS (SELECT 1 FROM claims c WHERE c.quote_id = quotes.id AND c.outcome = 'open') THEN 'claimed' \
               WHEN EXISTS (SELECT 1 FROM claims c WHERE c.quote_id = quotes.id AND c.outcome = 'proven') THEN 'proven' \
               WHEN EXISTS (SELECT 1 FROM claims c WHERE c.quote_id = quotes.id AND c.outcome = 'slashed') THEN 'slashed' \
               WHEN EXISTS (SELECT 1 FROM claims c WHERE c.epoch = quotes.epoch) THEN 'expired' \
               WHEN EXISTS (SELECT 1 FROM epochs e WHERE e.epoch = quotes.epoch AND (e.proven_at_l1 > 0 OR e.pruned_at_l1 > 0)) THEN 'expired' \
               ELSE 'pending' END \
             WHERE status_l1_block = -1",
        )
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE quotes SET status_l1_block = CASE \
               WHEN status = 'claimed' THEN (SELECT MAX(c.l1_block) FROM claims c WHERE c.quote_id = quotes.id) \
               WHEN status IN ('proven', 'slashed') THEN \
                 (SELECT MAX(c.outcome_l1_block) FROM claims c WHERE c.quote_id = quotes.id) \
               WHEN status = 'expired' THEN COALESCE( \
                 (SELECT MAX(c.l1_block) FROM claims c WHERE c.epoch = quotes.epoch), \
                 (SELECT CASE WHEN e.proven_at_l1 > e.pruned_at_l1 THEN e.proven_at_l1 ELSE e.pruned_at_l1 END \
                    FROM epochs e WHERE e.epoch = quotes.epoch), 0) \
               ELSE 0 END \
             WHERE status_l1_block = -1",
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM l1_blocks WHERE number > $1").bind(f).execute(&mut *tx).await?;
        let reorg = [NodeEvent::ChainReorg { fork_l1_block: fork.l1_block }];
        append_events(&mut tx, self.backend, &reorg, now).await?;
        sqlx::query(
            "UPDATE chain_cursor SET l1_block = $1, l1_hash = $2, l1_timestamp = $3, proven_block = $4, \
             pending_block = $5 WHERE id = 1",
        )
        .bind(f)
        .bind(fork.l1_hash.to_string())
        .bind(int(fork.l1_timestamp))
        .bind(int(fork.proven_block))
        .bind(int(fork.pending_block))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The recorded L1 blocks below `below`, newest first: candidates for a reorg's fork point.
    pub async fn recorded_l1_blocks_below(&self, below: u64) -> Result<Vec<(u64, B256)>, StoreError> {
        let rows = sqlx::query("SELECT number, hash FROM l1_blocks WHERE number < $1 ORDER BY number DESC")
            .bind(int(below))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    uint("l1_blocks.number", r.try_get("number")?)?,
                    parse("l1 hash", &r.try_get::<String, _>("hash")?)?,
                ))
            })
            .collect()
    }
}
