//! The PostgreSQL store. Every query is checked against the schema at compile time (`query!`,
//! with the checked data committed in `.sqlx`, so a build needs no database); uint256 values are
//! `NUMERIC(78,0)`, bytes are `BYTEA`; a batch is one statement over arrays (`UNNEST`); the
//! watcher's advisory lock lives here, on a connection of its own.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use alloy::primitives::{Address, B256, U256};
use epoch_quote::SignedEpochProofQuote;
use sqlx::{
    Connection, PgConnection, PgPool, Postgres, Transaction,
    postgres::{PgConnectOptions, PgPoolOptions},
    types::BigDecimal,
};

use super::{
    ChainCursor, ChainEvent, ChainUpdate, ChainView, ClaimPayout, ClaimRecord, EpochClosed, EpochRecord, EpochTotals,
    EventRecord, EventSignal, InsertOutcome, NodeStore, ProverEpochQuotes, ProverQuoteTotals, QuoteRecord, QuoteStatus,
    RetentionMarks, RowReader, StoreError,
    batch::{Committed, Pair, Plan, pair},
    int, int256, key, now_ms,
    rows::{self, StoredUint256},
};
use crate::domain::{ClaimOutcome, ExpiryReason, NodeEvent};

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

/// The key of the session advisory lock that elects the one watcher writing the view of L1
/// ("pc-watch"; replicas of every version must agree on it).
const WATCHER_LOCK_KEY: i64 = 0x7063_2d77_6174_6368;

/// The channel every transaction that appends events notifies (with the newest sequence number)
/// when it commits; each replica listens on it to wake its event streams.
const EVENTS_CHANNEL: &str = "node_events";

/// The PostgreSQL store.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
    /// The connection holding the watcher's advisory lock, when this replica holds it (a
    /// session lock lives as long as its connection).
    leader: Arc<tokio::sync::Mutex<Option<PgConnection>>>,
    pub(super) events: Arc<EventSignal>,
}

/// A uint256 as PostgreSQL's NUMERIC.
fn numeric(value: U256) -> BigDecimal {
    let digits = num_bigint::BigInt::from_bytes_be(num_bigint::Sign::Plus, &value.to_be_bytes::<32>());
    BigDecimal::new(digits, 0)
}

impl rows::StoredUint256 for BigDecimal {
    /// A uint256 stored as NUMERIC.
    fn read(&self, r: &RowReader, column: &'static str) -> Result<U256, StoreError> {
        if !self.is_integer() {
            return Err(r.corrupt(column, format_args!("{self} is not an integer")));
        }
        let (digits, _) = self.with_scale(0).into_bigint_and_exponent();
        let (sign, bytes) = digits.to_bytes_be();
        if sign == num_bigint::Sign::Minus || bytes.len() > 32 {
            return Err(r.corrupt(column, format_args!("{self} is not a uint256")));
        }
        Ok(U256::from_be_slice(&bytes))
    }
}

/// The rows as PostgreSQL returns them: uint256 as NUMERIC, fees as INTEGER.
type QuoteRow = rows::QuoteRow<BigDecimal, i32>;
type EpochRow = rows::EpochRow<BigDecimal>;
type ClaimRow = rows::ClaimRow<BigDecimal, i32>;

fn decode_all<R, T>(rows: Vec<R>, decode: impl Fn(R) -> Result<T, StoreError>) -> Result<Vec<T>, StoreError> {
    rows.into_iter().map(decode).collect()
}

type Tx<'c> = Transaction<'c, Postgres>;

/// Begins, on a connection of `$pool` bound to `$conn`, the transaction `$tx`, ordered with every
/// other write that appends events (quote inserts, watcher steps, reorg rollbacks): the events
/// table is locked until the transaction ends, so the transaction sees everything such a write
/// committed before it, on this replica or another, and events commit in the order of their
/// sequence numbers (a reader that has seen `seq` never later finds a smaller one appear).
///
/// `BEGIN` and the lock go in one round trip (the writer's transactions are serial, so each one
/// saved counts). Should the lock fail (a `lock_timeout`, a statement cancelled by the server),
/// the connection is left inside a failed transaction that nothing would roll back, so it is
/// closed instead of going back to the pool.
macro_rules! begin_locked {
    ($pool:expr, $conn:ident, $tx:ident) => {
        let mut $conn = $pool.acquire().await?;
        let begun = $conn.begin_with("BEGIN; LOCK TABLE events IN SHARE ROW EXCLUSIVE MODE").await;
        let mut $tx = match begun {
            Ok(tx) => tx,
            failed => {
                // Taking the error out of the result ends its borrow of the connection.
                let error = failed.err().unwrap_or(sqlx::Error::BeginFailed);
                $conn.close_on_drop();
                return Err(error.into());
            }
        };
    };
}

/// Appends events in the caller's transaction, which holds the events lock.
async fn append_events(tx: &mut Tx<'_>, events: &[NodeEvent], now: i64) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let kinds: Vec<String> = events.iter().map(|e| e.kind().as_str().to_owned()).collect();
    let data: Vec<String> = events.iter().map(NodeEvent::data).collect();
    let epochs: Vec<Option<i64>> = events.iter().map(|e| e.epoch().and_then(key)).collect();
    // Appended, and every replica told at commit (PostgreSQL delivers a notification only then).
    sqlx::query!(
        r#"WITH appended AS (
               INSERT INTO events (kind, data, epoch, created_at_ms)
               SELECT kind, data, epoch, $4
               FROM UNNEST($1::text[], $2::text[], $3::int8[]) WITH ORDINALITY AS e(kind, data, epoch, n)
               ORDER BY n
               RETURNING seq)
           SELECT COUNT(*) AS "notified!" FROM (SELECT pg_notify($5, MAX(seq)::text) FROM appended) AS sent"#,
        &kinds,
        &data,
        &epochs as &[Option<i64>],
        now,
        EVENTS_CHANNEL
    )
    .fetch_one(&mut **tx)
    .await?;
    Ok(())
}

/// A prover's pending quotes in an epoch, as a batch found them.
#[derive(Clone, Copy, Debug)]
struct PendingOf {
    count: i64,
    /// The `seq` of the last pending quote inserted (`prover_epoch_quotes.pending_seq`), which may
    /// have stopped being pending since.
    last_inserted: Option<i64>,
}

/// Supersedes, for each prover and epoch of `keepers`, every pending quote but the keeper, and
/// returns each one's id with its prover and epoch. A prover with one pending quote before the
/// batch has it, as a rule, at `last_inserted`, so what is superseded is found by key (with the
/// batch's own earlier quotes): the same cost however many quotes the prover sent before.
/// Otherwise (more than one pending, as after a reorg restored an expired quote, or the one at
/// `last_inserted` no longer pending) the prover's pending quotes are looked up, which walks the
/// index entries every superseded quote left there until vacuum.
async fn supersede(
    tx: &mut Tx<'_>,
    plan: &Plan<'_>,
    keepers: &HashMap<Pair, B256>,
    seq_of: &HashMap<B256, i64>,
    pending_of: &HashMap<Pair, PendingOf>,
    now: i64,
) -> Result<Vec<(B256, Pair)>, StoreError> {
    let mut by_key = Vec::new();
    // The quote each such prover had pending, by its key: if it is not pending there any more,
    // the prover's pending quote is elsewhere and is looked up.
    let mut must_be_pending = HashMap::new();
    let mut look_up = HashSet::new();
    for pair in keepers.keys() {
        match pending_of.get(pair) {
            None => {}
            Some(PendingOf { count: 1, last_inserted: Some(seq) }) => {
                by_key.push(*seq);
                must_be_pending.insert(*seq, *pair);
            }
            Some(_) => {
                look_up.insert(*pair);
            }
        }
    }
    for (id, quote) in plan.admitted() {
        if let Some(&seq) = seq_of.get(id) {
            let pair = pair(quote)?;
            if keepers.get(&pair) != Some(id) && !look_up.contains(&pair) {
                by_key.push(seq);
            }
        }
    }
    let mut superseded = Vec::new();
    if !by_key.is_empty() {
        // The status test is written so that the planner cannot match it to a partial index of
        // pending quotes: with `status = 'pending'` it combined that index, dead entries and all,
        // with the key's (EXPLAIN after 100,000 quotes of 50 provers: 95,850 entries read, 4.4 ms,
        // against 0.3 ms by key alone; BENCHMARKS.md, "Pending counts kept by the database").
        let rows = sqlx::query!(
            r#"UPDATE quotes SET status = 'superseded', status_changed_at_ms = $1
               WHERE seq = ANY($2) AND CASE WHEN status = 'pending' THEN TRUE ELSE FALSE END
               RETURNING seq, id, prover, epoch"#,
            now,
            &by_key
        )
        .fetch_all(&mut **tx)
        .await?;
        for row in rows {
            must_be_pending.remove(&row.seq);
            superseded.push(just_superseded(&row.id, &row.prover, row.epoch)?);
        }
    }
    look_up.extend(must_be_pending.into_values());
    if !look_up.is_empty() {
        let mut provers = Vec::new();
        let mut epochs = Vec::new();
        let mut keep = Vec::new();
        for pair in &look_up {
            if let Some(id) = keepers.get(pair) {
                provers.push(pair.0.to_vec());
                epochs.push(pair.1);
                keep.push(id.to_vec());
            }
        }
        let rows = sqlx::query!(
            r#"UPDATE quotes AS q SET status = 'superseded', status_changed_at_ms = $1
               FROM UNNEST($2::bytea[], $3::int8[], $4::bytea[]) AS k(prover, epoch, keep)
               WHERE q.status = 'pending' AND q.prover = k.prover AND q.epoch = k.epoch AND q.id <> k.keep
               RETURNING q.id AS "id!", q.prover AS "prover!", q.epoch AS "epoch!""#,
            now,
            &provers,
            &epochs,
            &keep
        )
        .fetch_all(&mut **tx)
        .await?;
        for row in rows {
            superseded.push(just_superseded(&row.id, &row.prover, row.epoch)?);
        }
    }
    Ok(superseded)
}

/// A superseded quote's id, prover and epoch as the update returned them.
fn just_superseded(id: &[u8], prover: &[u8], epoch: i64) -> Result<(B256, Pair), StoreError> {
    let r = RowReader::new("quotes", "just superseded");
    Ok((r.b256("id", id)?, (r.address("prover", prover)?, epoch)))
}

impl PgStore {
    /// Connects to `url` and applies the migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options: PgConnectOptions = url.parse()?;
        let pool = PgPoolOptions::new()
            .acquire_timeout(Duration::from_secs(3))
            .max_connections(16)
            .connect_with(options)
            .await?;
        MIGRATIONS.run(&pool).await?;
        Ok(Self { pool, leader: Arc::default(), events: Arc::default() })
    }

    /// Runs for ever: listens on the events channel and passes each notification (another
    /// replica's commit, or this one's) to the [`EventSignal`]. Notifications sent while the
    /// connection is lost are gone, so each reconnection is passed on as one too; until then
    /// the streams find new events by polling.
    pub async fn forward_notifications(&self) {
        loop {
            let mut listener = match sqlx::postgres::PgListener::connect_with(&self.pool).await {
                Ok(listener) => listener,
                Err(error) => {
                    tracing::warn!(%error, "cannot listen for other replicas' events; polling only");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            if let Err(error) = listener.listen(EVENTS_CHANNEL).await {
                tracing::warn!(%error, "cannot listen for other replicas' events; polling only");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            // What was committed before the LISTEN took effect.
            self.events.committed();
            loop {
                match listener.try_recv().await {
                    // A notification, or (`None`) the connection was lost and the next call
                    // reconnects: either way there may be events to read.
                    Ok(_) => self.events.committed(),
                    Err(error) => {
                        tracing::warn!(%error, "lost the events channel; polling until it is back");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        break;
                    }
                }
            }
        }
    }

    /// What the transaction has committed for the epochs and provers of a batch, and for each
    /// prover and epoch with pending quotes, how many and the `seq` of the last one inserted.
    async fn committed(
        tx: &mut Tx<'_>,
        quotes: &[(B256, SignedEpochProofQuote)],
    ) -> Result<(Committed, HashMap<Pair, PendingOf>), StoreError> {
        let (epochs, pairs) = Plan::keys(quotes)?;
        let epochs: Vec<i64> = epochs.into_iter().collect();
        let mut committed = Committed::default();
        let mut pending_of = HashMap::new();
        let (provers, pair_epochs): (Vec<Vec<u8>>, Vec<i64>) = pairs.iter().map(|(p, e)| (p.to_vec(), *e)).unzip();
        // One round trip for what each epoch of the batch holds (whether it is proven or pruned,
        // `proven` true or false, or claimed, and how many pending quotes it has) and which of the
        // batch's provers have a pending quote in it: the counts are rows the database keeps
        // (migration 0005), so this costs the same however full the epoch is.
        let rows = sqlx::query!(
            r#"SELECT e.epoch AS "epoch!", NULL::bytea AS prover, NULL::int8 AS pending_seq,
                   EXISTS (SELECT 1 FROM claims c WHERE c.outcome = 'open' AND c.epoch = e.epoch) AS "claimed!",
                   (SELECT d.proven_at_l1 <> 0 FROM epochs d
                     WHERE d.epoch = e.epoch AND (d.proven_at_l1 <> 0 OR d.pruned_at_l1 <> 0)) AS proven,
                   COALESCE((SELECT p.pending FROM epoch_pending p WHERE p.epoch = e.epoch), 0) AS "pending!"
               FROM UNNEST($1::int8[]) AS e(epoch)
               UNION ALL
               SELECT p.epoch, p.prover, p.pending_seq, FALSE, NULL, p.pending
               FROM prover_epoch_quotes p JOIN UNNEST($2::bytea[], $3::int8[]) AS k(prover, epoch)
                 ON p.epoch = k.epoch AND p.prover = k.prover
               WHERE p.pending > 0"#,
            &epochs,
            &provers,
            &pair_epochs
        )
        .fetch_all(&mut **tx)
        .await?;
        for row in rows {
            if let Some(prover) = row.prover {
                let r = RowReader::new("prover_epoch_quotes", format_args!("epoch {}", row.epoch));
                let pair = (r.address("prover", &prover)?, row.epoch);
                committed.has_pending.insert(pair);
                pending_of.insert(pair, PendingOf { count: row.pending, last_inserted: row.pending_seq });
                continue;
            }
            // Proven or pruned wins over claimed: the claim of a decided epoch is history.
            let closed = match (row.proven, row.claimed) {
                (Some(true), _) => Some(EpochClosed::Proven),
                (Some(false), _) => Some(EpochClosed::Pruned),
                (None, true) => Some(EpochClosed::Claimed),
                (None, false) => None,
            };
            if let Some(why) = closed {
                committed.closed.insert(row.epoch, why);
            }
            committed.pending.insert(row.epoch, row.pending);
        }
        Ok((committed, pending_of))
    }
}

impl NodeStore for PgStore {
    async fn ping(&self) -> bool {
        sqlx::query!("SELECT 1 AS one").fetch_one(&self.pool).await.is_ok()
    }

    async fn insert_quotes(
        &self,
        quotes: &[(B256, SignedEpochProofQuote)],
        per_epoch_cap: u32,
    ) -> Result<Vec<InsertOutcome>, StoreError> {
        if quotes.is_empty() {
            return Ok(Vec::new());
        }
        begin_locked!(self.pool, conn, tx);
        let (committed, pending_of) = Self::committed(&mut tx, quotes).await?;
        let plan = Plan::new(quotes, committed, per_epoch_cap)?;
        if plan.is_empty() {
            // Release the events lock now rather than when the connection is next used.
            tx.rollback().await?;
            return Ok(plan.refused());
        }

        let now = now_ms();
        let mut columns = QuoteColumns::default();
        for (id, quote) in plan.admitted() {
            columns.push(id, quote)?;
        }
        let rows = sqlx::query!(
            r#"INSERT INTO quotes (id, prover, epoch, epoch_init_block, epoch_final_block, total_fees, rollup_address,
                   basis_point_fee, bond_amount, valid_until_slot, signature, received_at_ms, status,
                   status_changed_at_ms)
               SELECT id, prover, epoch, init_block, final_block, total_fees, rollup_address, basis_point_fee,
                   bond_amount, valid_until_slot, signature, $12, 'pending', $12
               FROM UNNEST($1::bytea[], $2::bytea[], $3::int8[], $4::int8[], $5::int8[], $6::numeric[], $7::bytea[],
                   $8::int4[], $9::numeric[], $10::numeric[], $11::bytea[])
                 WITH ORDINALITY AS t(id, prover, epoch, init_block, final_block, total_fees, rollup_address,
                   basis_point_fee, bond_amount, valid_until_slot, signature, n)
               ORDER BY n
               ON CONFLICT (id) DO NOTHING
               RETURNING id, seq"#,
            &columns.id,
            &columns.prover,
            &columns.epoch,
            &columns.init_block,
            &columns.final_block,
            &columns.total_fees,
            &columns.rollup_address,
            &columns.basis_point_fee,
            &columns.bond_amount,
            &columns.valid_until_slot,
            &columns.signature,
            now
        )
        .fetch_all(&mut *tx)
        .await?;
        let mut seq_of = HashMap::with_capacity(rows.len());
        for row in rows {
            seq_of.insert(RowReader::new("quotes", "just inserted").b256("id", &row.id)?, row.seq);
        }
        let inserted: HashSet<B256> = seq_of.keys().copied().collect();

        // The last inserted quote of each prover and epoch stays pending; everything else of
        // theirs that is pending is superseded.
        let keepers = plan.keepers(&inserted)?;
        let superseded = if keepers.is_empty() {
            Vec::new()
        } else {
            supersede(&mut tx, &plan, &keepers, &seq_of, &pending_of, now).await?
        };
        let (outcomes, events) = plan.finish(&inserted, &keepers, superseded);
        append_events(&mut tx, &events, now).await?;
        tx.commit().await?;
        self.events.committed();
        Ok(outcomes)
    }

    async fn events_after(&self, seq: i64, limit: u32) -> Result<Vec<EventRecord>, StoreError> {
        let rows = sqlx::query_as!(
            EventRecord,
            "SELECT seq, kind, data FROM events WHERE seq > $1 ORDER BY seq LIMIT $2",
            seq,
            i64::from(limit)
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    async fn latest_event_seq(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar!(r#"SELECT COALESCE(MAX(seq), 0) AS "seq!" FROM events"#).fetch_one(&self.pool).await?)
    }

    async fn retention_floor(&self, at_most: u64, settled_by_l1: u64) -> Result<u64, StoreError> {
        let floor = sqlx::query_scalar!(
            r#"SELECT LEAST($1, (SELECT MIN(epoch) FROM epochs
                   WHERE NOT ((proven_at_l1 > 0 AND proven_at_l1 <= $2) OR (pruned_at_l1 > 0 AND pruned_at_l1 <= $2))))
               AS "floor!""#,
            key(at_most).unwrap_or(i64::MAX),
            key(settled_by_l1).unwrap_or(i64::MAX)
        )
        .fetch_one(&self.pool)
        .await?;
        RowReader::new("epochs", "retention floor").u64("epoch", floor)
    }

    async fn prune_quotes(&self, below_epoch: u64, limit: u32) -> Result<u64, StoreError> {
        let below = key(below_epoch).unwrap_or(i64::MAX);
        let mut tx = self.pool.begin().await?;
        let deleted = sqlx::query_scalar!(
            r#"WITH gone AS (
                   DELETE FROM quotes WHERE seq IN
                       (SELECT seq FROM quotes WHERE epoch < $1 ORDER BY epoch LIMIT $2)
                   RETURNING 1)
               SELECT COUNT(*) AS "deleted!" FROM gone"#,
            below,
            i64::from(limit)
        )
        .fetch_one(&mut *tx)
        .await?;
        if deleted < i64::from(limit) {
            sqlx::query!(
                "UPDATE retention SET quotes_before_epoch = GREATEST(quotes_before_epoch, $1) WHERE id = 1",
                below
            )
            .execute(&mut *tx)
            .await?;
            // The pending counts of epochs that hold no quote any more.
            sqlx::query!("DELETE FROM epoch_pending WHERE pending = 0 AND epoch < $1", below).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(deleted.unsigned_abs())
    }

    async fn first_event_kept(&self, epoch: u64) -> Result<i64, StoreError> {
        let seq = sqlx::query_scalar!(
            r#"SELECT COALESCE(
                   (SELECT seq FROM events WHERE epoch >= $1 ORDER BY seq LIMIT 1),
                   (SELECT MAX(seq) FROM events)) AS "seq""#,
            key(epoch).unwrap_or(i64::MAX)
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(seq.unwrap_or(0))
    }

    async fn prune_events(&self, below_seq: i64, limit: u32) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let (deleted, through) = sqlx::query!(
            r#"WITH gone AS (
                   DELETE FROM events WHERE seq IN
                       (SELECT seq FROM events WHERE seq < $1 ORDER BY seq LIMIT $2)
                   RETURNING seq)
               SELECT COUNT(*) AS "deleted!", MAX(seq) AS "through" FROM gone"#,
            below_seq,
            i64::from(limit)
        )
        .fetch_one(&mut *tx)
        .await
        .map(|row| (row.deleted, row.through))?;
        if let Some(through) = through {
            sqlx::query!("UPDATE retention SET events_through = GREATEST(events_through, $1) WHERE id = 1", through)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(deleted.unsigned_abs())
    }

    async fn retention_marks(&self) -> Result<RetentionMarks, StoreError> {
        let row = sqlx::query!("SELECT quotes_before_epoch, events_through FROM retention WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(RetentionMarks::default()) };
        let r = RowReader::new("retention", 1);
        Ok(RetentionMarks {
            quotes_before_epoch: r.u64("quotes_before_epoch", row.quotes_before_epoch)?,
            events_through: row.events_through,
        })
    }

    async fn quote(&self, id: B256) -> Result<Option<QuoteRecord>, StoreError> {
        sqlx::query_as!(
            QuoteRow,
            "SELECT seq, id, prover, epoch, epoch_init_block, epoch_final_block, total_fees, rollup_address,
                basis_point_fee, bond_amount, valid_until_slot, signature, status, received_at_ms
             FROM quotes WHERE id = $1",
            id.as_slice()
        )
        .fetch_optional(&self.pool)
        .await?
        .map(QuoteRow::decode)
        .transpose()
    }

    async fn quote_count(&self) -> Result<u64, StoreError> {
        let count = sqlx::query_scalar!(r#"SELECT COUNT(*) AS "count!" FROM quotes"#).fetch_one(&self.pool).await?;
        RowReader::new("quotes", "count").u64("count", count)
    }

    async fn epoch(&self, epoch: u64) -> Result<Option<EpochRecord>, StoreError> {
        let Some(epoch) = key(epoch) else { return Ok(None) };
        sqlx::query_as!(
            EpochRow,
            "SELECT epoch, init_block, final_block, block_count, tx_count, total_fees, proven_at_l1, pruned_at_l1
             FROM epochs WHERE epoch = $1",
            epoch
        )
        .fetch_optional(&self.pool)
        .await?
        .map(EpochRow::decode)
        .transpose()
    }

    async fn load_view(&self) -> Result<ChainView, StoreError> {
        let cursor = self.cursor().await?;
        let epochs = sqlx::query_as!(
            EpochRow,
            "SELECT epoch, init_block, final_block, block_count, tx_count, total_fees, proven_at_l1, pruned_at_l1
             FROM epochs WHERE proven_at_l1 = 0 OR epoch >= (SELECT MAX(epoch) FROM epochs) - 64"
        )
        .fetch_all(&self.pool)
        .await?;
        let epochs = decode_all(epochs, EpochRow::decode)?.into_iter().map(|e| (e.epoch, e)).collect();
        let mut deposits = std::collections::HashMap::new();
        for row in sqlx::query!("SELECT address, deposit FROM provers").fetch_all(&self.pool).await? {
            let r = RowReader::new("provers", alloy::hex::encode_prefixed(&row.address));
            deposits.insert(r.address("address", &row.address)?, row.deposit.read(&r, "deposit")?);
        }
        let open_claim = self.open_claim().await?;
        Ok(ChainView { cursor, epochs, open_claim, deposits })
    }

    async fn open_claim(&self) -> Result<Option<ClaimRecord>, StoreError> {
        sqlx::query_as!(
            ClaimRow,
            "SELECT epoch, quote_id, bond_provider, proposer, bond_amount, basis_point_fee, claimed_at_slot, l1_block,
                l1_tx, outcome
             FROM claims WHERE outcome = 'open' ORDER BY l1_block DESC LIMIT 1"
        )
        .fetch_optional(&self.pool)
        .await?
        .map(|row| row.decode().map(|(claim, _)| claim))
        .transpose()
    }

    async fn claim_of_quote(&self, id: B256) -> Result<Option<(ClaimRecord, ClaimOutcome)>, StoreError> {
        sqlx::query_as!(
            ClaimRow,
            "SELECT epoch, quote_id, bond_provider, proposer, bond_amount, basis_point_fee, claimed_at_slot, l1_block,
                l1_tx, outcome
             FROM claims WHERE quote_id = $1 ORDER BY l1_block DESC LIMIT 1",
            id.as_slice()
        )
        .fetch_optional(&self.pool)
        .await?
        .map(ClaimRow::decode)
        .transpose()
    }

    async fn claims_of_epoch(&self, epoch: u64) -> Result<Vec<(ClaimRecord, ClaimOutcome)>, StoreError> {
        let Some(epoch) = key(epoch) else { return Ok(Vec::new()) };
        let rows = sqlx::query_as!(
            ClaimRow,
            "SELECT epoch, quote_id, bond_provider, proposer, bond_amount, basis_point_fee, claimed_at_slot, l1_block,
                l1_tx, outcome
             FROM claims WHERE epoch = $1 ORDER BY l1_block DESC",
            epoch
        )
        .fetch_all(&self.pool)
        .await?;
        decode_all(rows, ClaimRow::decode)
    }

    async fn claims(
        &self,
        prover: Option<Address>,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<(ClaimRecord, ClaimOutcome)>, StoreError> {
        // A bound beyond every L1 block is no bound.
        let before = before.and_then(key);
        let rows = sqlx::query_as!(
            ClaimRow,
            "SELECT epoch, quote_id, bond_provider, proposer, bond_amount, basis_point_fee, claimed_at_slot, l1_block,
                l1_tx, outcome
             FROM claims
             WHERE ($1::bytea IS NULL OR bond_provider = $1) AND ($2::int8 IS NULL OR l1_block < $2)
             ORDER BY l1_block DESC, epoch DESC LIMIT $3",
            prover.as_ref().map(|p| p.as_slice()),
            before,
            i64::from(limit)
        )
        .fetch_all(&self.pool)
        .await?;
        decode_all(rows, ClaimRow::decode)
    }

    async fn quotes_page(
        &self,
        epoch: u64,
        status: Option<QuoteStatus>,
        prover: Option<Address>,
        after: Option<(u32, i64)>,
        limit: u32,
    ) -> Result<Vec<QuoteRecord>, StoreError> {
        let Some(epoch) = key(epoch) else { return Ok(Vec::new()) };
        let (fee, seq) = after.map_or((-1, -1), |(fee, seq)| (i32::try_from(fee).unwrap_or(i32::MAX), seq));
        let limit = i64::from(limit);
        // One statement per combination of filters, so each gets a plan that walks the
        // (epoch, status, basis_point_fee, seq) index in order.
        let rows = match (status, prover) {
            (Some(status), Some(prover)) => {
                sqlx::query_as!(
                    QuoteRow,
                    "SELECT seq, id, prover, epoch, epoch_init_block, epoch_final_block, total_fees, rollup_address,
                        basis_point_fee, bond_amount, valid_until_slot, signature, status, received_at_ms
                     FROM quotes
                     WHERE epoch = $1 AND status = $2 AND prover = $3 AND (basis_point_fee, seq) > ($4, $5)
                     ORDER BY basis_point_fee, seq LIMIT $6",
                    epoch,
                    status.as_str(),
                    prover.as_slice(),
                    fee,
                    seq,
                    limit
                )
                .fetch_all(&self.pool)
                .await?
            }
            (Some(status), None) => {
                sqlx::query_as!(
                    QuoteRow,
                    "SELECT seq, id, prover, epoch, epoch_init_block, epoch_final_block, total_fees, rollup_address,
                        basis_point_fee, bond_amount, valid_until_slot, signature, status, received_at_ms
                     FROM quotes
                     WHERE epoch = $1 AND status = $2 AND (basis_point_fee, seq) > ($3, $4)
                     ORDER BY basis_point_fee, seq LIMIT $5",
                    epoch,
                    status.as_str(),
                    fee,
                    seq,
                    limit
                )
                .fetch_all(&self.pool)
                .await?
            }
            (None, Some(prover)) => {
                sqlx::query_as!(
                    QuoteRow,
                    "SELECT seq, id, prover, epoch, epoch_init_block, epoch_final_block, total_fees, rollup_address,
                        basis_point_fee, bond_amount, valid_until_slot, signature, status, received_at_ms
                     FROM quotes
                     WHERE epoch = $1 AND prover = $2 AND (basis_point_fee, seq) > ($3, $4)
                     ORDER BY basis_point_fee, seq LIMIT $5",
                    epoch,
                    prover.as_slice(),
                    fee,
                    seq,
                    limit
                )
                .fetch_all(&self.pool)
                .await?
            }
            (None, None) => {
                sqlx::query_as!(
                    QuoteRow,
                    "SELECT seq, id, prover, epoch, epoch_init_block, epoch_final_block, total_fees, rollup_address,
                        basis_point_fee, bond_amount, valid_until_slot, signature, status, received_at_ms
                     FROM quotes
                     WHERE epoch = $1 AND (basis_point_fee, seq) > ($2, $3)
                     ORDER BY basis_point_fee, seq LIMIT $4",
                    epoch,
                    fee,
                    seq,
                    limit
                )
                .fetch_all(&self.pool)
                .await?
            }
        };
        decode_all(rows, QuoteRow::decode)
    }

    async fn epochs_page(&self, before: Option<u64>, limit: u32) -> Result<Vec<EpochRecord>, StoreError> {
        // A bound beyond every epoch is no bound.
        let before = before.and_then(key);
        let rows = sqlx::query_as!(
            EpochRow,
            "SELECT epoch, init_block, final_block, block_count, tx_count, total_fees, proven_at_l1, pruned_at_l1
             FROM epochs WHERE ($1::int8 IS NULL OR epoch < $1) ORDER BY epoch DESC LIMIT $2",
            before,
            i64::from(limit)
        )
        .fetch_all(&self.pool)
        .await?;
        decode_all(rows, EpochRow::decode)
    }

    async fn claims_of_epochs(&self, from: u64, to: u64) -> Result<Vec<(ClaimRecord, ClaimOutcome)>, StoreError> {
        let (Some(from), to) = (key(from), key(to).unwrap_or(i64::MAX)) else { return Ok(Vec::new()) };
        let rows = sqlx::query_as!(
            ClaimRow,
            "SELECT epoch, quote_id, bond_provider, proposer, bond_amount, basis_point_fee, claimed_at_slot, l1_block,
                l1_tx, outcome
             FROM claims WHERE epoch BETWEEN $1 AND $2 ORDER BY l1_block DESC, epoch DESC",
            from,
            to
        )
        .fetch_all(&self.pool)
        .await?;
        decode_all(rows, ClaimRow::decode)
    }

    async fn quotes_by_epoch(&self, from: u64, to: u64) -> Result<Vec<ProverEpochQuotes>, StoreError> {
        let (Some(from), to) = (key(from), key(to).unwrap_or(i64::MAX)) else { return Ok(Vec::new()) };
        let rows = sqlx::query_as!(
            rows::ProverEpochRow::<i32>,
            "SELECT epoch, prover, quotes, best_fee FROM prover_epoch_quotes WHERE epoch BETWEEN $1 AND $2",
            from,
            to
        )
        .fetch_all(&self.pool)
        .await?;
        decode_all(rows, rows::ProverEpochRow::decode)
    }

    async fn prover_epochs(&self, prover: Address, limit: u32) -> Result<Vec<ProverEpochQuotes>, StoreError> {
        let rows = sqlx::query_as!(
            rows::ProverEpochRow::<i32>,
            "SELECT epoch, prover, quotes, best_fee FROM prover_epoch_quotes WHERE prover = $1
             ORDER BY epoch DESC LIMIT $2",
            prover.as_slice(),
            i64::from(limit)
        )
        .fetch_all(&self.pool)
        .await?;
        decode_all(rows, rows::ProverEpochRow::decode)
    }

    async fn quote_totals(&self, prover: Option<Address>) -> Result<Vec<ProverQuoteTotals>, StoreError> {
        let rows = sqlx::query_as!(
            rows::QuoteTotalsRow,
            r#"SELECT prover, SUM(quotes)::BIGINT AS "quotes!", COUNT(*) AS "epochs!" FROM prover_epoch_quotes
               WHERE ($1::bytea IS NULL OR prover = $1) GROUP BY prover"#,
            prover.as_ref().map(|p| p.as_slice())
        )
        .fetch_all(&self.pool)
        .await?;
        decode_all(rows, rows::QuoteTotalsRow::decode)
    }

    async fn claim_payouts(&self, prover: Option<Address>) -> Result<Vec<ClaimPayout>, StoreError> {
        let rows = sqlx::query_as!(
            rows::PayoutRow::<BigDecimal, i32>,
            r#"SELECT c.epoch, c.bond_provider, c.basis_point_fee, c.outcome, e.total_fees AS "total_fees?",
                   EXISTS (SELECT 1 FROM prover_epoch_quotes p WHERE p.epoch = c.epoch AND p.prover = c.bond_provider)
                     AS "quoted!"
               FROM claims c LEFT JOIN epochs e ON e.epoch = c.epoch
               WHERE ($1::bytea IS NULL OR c.bond_provider = $1)"#,
            prover.as_ref().map(|p| p.as_slice())
        )
        .fetch_all(&self.pool)
        .await?;
        decode_all(rows, rows::PayoutRow::decode)
    }

    async fn prover_deposit(&self, prover: Address) -> Result<Option<U256>, StoreError> {
        let deposit = sqlx::query_scalar!("SELECT deposit FROM provers WHERE address = $1", prover.as_slice())
            .fetch_optional(&self.pool)
            .await?;
        deposit.map(|d| d.read(&RowReader::new("provers", prover), "deposit")).transpose()
    }

    async fn set_prover_deposit(&self, prover: Address, deposit: U256, l1_block: u64) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        upsert_deposits(&mut conn, &[(prover, deposit)], l1_block).await
    }

    async fn cursor(&self) -> Result<Option<ChainCursor>, StoreError> {
        let row = sqlx::query!(
            "SELECT l1_block, l1_hash, l1_timestamp, proven_block, pending_block FROM chain_cursor WHERE id = 1"
        )
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            let r = RowReader::new("chain_cursor", 1);
            Ok(ChainCursor {
                l1_block: r.u64("l1_block", row.l1_block)?,
                l1_hash: r.b256("l1_hash", &row.l1_hash)?,
                l1_timestamp: r.u64("l1_timestamp", row.l1_timestamp)?,
                proven_block: r.u64("proven_block", row.proven_block)?,
                pending_block: r.u64("pending_block", row.pending_block)?,
            })
        })
        .transpose()
    }

    async fn l1_block_hash(&self, number: u64) -> Result<Option<B256>, StoreError> {
        let Some(n) = key(number) else { return Ok(None) };
        let hash =
            sqlx::query_scalar!("SELECT hash FROM l1_blocks WHERE number = $1", n).fetch_optional(&self.pool).await?;
        hash.map(|h| RowReader::new("l1_blocks", number).b256("hash", &h)).transpose()
    }

    async fn recorded_l1_blocks_below(&self, below: u64) -> Result<Vec<(u64, B256)>, StoreError> {
        let rows = sqlx::query!(
            "SELECT number, hash FROM l1_blocks WHERE number < $1 ORDER BY number DESC",
            key(below).unwrap_or(i64::MAX)
        )
        .fetch_all(&self.pool)
        .await?;
        decode_all(rows, |row| {
            let r = RowReader::new("l1_blocks", row.number);
            Ok((r.u64("number", row.number)?, r.b256("hash", &row.hash)?))
        })
    }

    async fn apply(&self, cursor: ChainCursor, update: &ChainUpdate) -> Result<(), StoreError> {
        begin_locked!(self.pool, conn, tx);
        let now = now_ms();
        let l1_block = int("chain_cursor.l1_block", cursor.l1_block)?;
        let mut events = Vec::new();
        for event in &update.events {
            apply_event(&mut tx, event, now, &mut events).await?;
        }
        upsert_deposits(&mut tx, &update.deposits, cursor.l1_block).await?;
        // One row per block (the last reading wins, as row by row): an upsert over arrays may
        // not touch a row twice.
        let blocks: std::collections::BTreeMap<u64, B256> = update.l1_blocks.iter().copied().collect();
        let (numbers, hashes): (Vec<i64>, Vec<Vec<u8>>) = blocks
            .into_iter()
            .map(|(number, hash)| Ok((int("l1_blocks.number", number)?, hash.to_vec())))
            .collect::<Result<Vec<_>, StoreError>>()?
            .into_iter()
            .unzip();
        sqlx::query!(
            "INSERT INTO l1_blocks (number, hash) SELECT * FROM UNNEST($1::int8[], $2::bytea[])
             ON CONFLICT (number) DO UPDATE SET hash = excluded.hash",
            &numbers,
            &hashes
        )
        .execute(&mut *tx)
        .await?;
        // Keep the last 256 block hashes: deeper reorgs than that are not expected on L1.
        sqlx::query!("DELETE FROM l1_blocks WHERE number < $1", l1_block.saturating_sub(256)).execute(&mut *tx).await?;
        let expired = sqlx::query!(
            "UPDATE quotes SET status = 'expired', status_changed_at_ms = $1, status_l1_block = $2
             WHERE status = 'pending' AND valid_until_slot < $3 RETURNING id, epoch",
            now,
            l1_block,
            numeric(U256::from(update.current_slot))
        )
        .fetch_all(&mut *tx)
        .await?;
        for row in expired {
            let r = RowReader::new("quotes", "just expired");
            events.push(NodeEvent::QuoteExpired {
                id: r.b256("id", &row.id)?,
                epoch: r.u64("epoch", row.epoch)?,
                reason: ExpiryReason::ValidUntilSlot,
            });
        }
        let completed = sqlx::query_as!(
            EpochRow,
            "SELECT epoch, init_block, final_block, block_count, tx_count, total_fees, proven_at_l1, pruned_at_l1
             FROM epochs WHERE epoch >= $1 AND epoch < $2 AND pruned_at_l1 = 0 ORDER BY epoch",
            int("epochs.epoch", update.completed_epochs.start)?,
            int("epochs.epoch", update.completed_epochs.end)?
        )
        .fetch_all(&mut *tx)
        .await?;
        for e in decode_all(completed, EpochRow::decode)? {
            events.push(NodeEvent::EpochCompleted {
                epoch: e.epoch,
                init_block: e.init_block,
                final_block: e.final_block,
                block_count: e.block_count,
                tx_count: e.tx_count,
                total_fees: e.total_fees,
            });
        }
        append_events(&mut tx, &events, now).await?;
        sqlx::query!(
            "INSERT INTO chain_cursor (id, l1_block, l1_hash, l1_timestamp, proven_block, pending_block)
             VALUES (1, $1, $2, $3, $4, $5)
             ON CONFLICT (id) DO UPDATE SET l1_block = excluded.l1_block, l1_hash = excluded.l1_hash,
                l1_timestamp = excluded.l1_timestamp, proven_block = excluded.proven_block,
                pending_block = excluded.pending_block",
            l1_block,
            cursor.l1_hash.as_slice(),
            int("chain_cursor.l1_timestamp", cursor.l1_timestamp)?,
            int("chain_cursor.proven_block", cursor.proven_block)?,
            int("chain_cursor.pending_block", cursor.pending_block)?
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.events.committed();
        Ok(())
    }

    async fn deposits_read_after(&self, l1_block: u64) -> Result<Vec<Address>, StoreError> {
        let Some(after) = key(l1_block) else { return Ok(Vec::new()) };
        let rows = sqlx::query_scalar!("SELECT address FROM provers WHERE l1_block > $1 ORDER BY address", after)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|address| RowReader::new("provers", "read after").address("address", address)).collect()
    }

    async fn rollback_to(&self, fork: ChainCursor, deposits: &[(Address, U256)]) -> Result<(), StoreError> {
        let f = int("chain_cursor.l1_block", fork.l1_block)?;
        let now = now_ms();
        begin_locked!(self.pool, conn, tx);
        let touched = sqlx::query_scalar!(
            r#"SELECT DISTINCT epoch AS "epoch!" FROM l2_blocks WHERE l1_block > $1 OR pruned_at_l1 > $1
               UNION SELECT epoch FROM epochs WHERE proven_at_l1 > $1 OR pruned_at_l1 > $1"#,
            f
        )
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query!("DELETE FROM l2_blocks WHERE l1_block > $1", f).execute(&mut *tx).await?;
        sqlx::query!("UPDATE l2_blocks SET pruned_at_l1 = 0 WHERE pruned_at_l1 > $1", f).execute(&mut *tx).await?;
        sqlx::query!("UPDATE epochs SET proven_at_l1 = 0 WHERE proven_at_l1 > $1", f).execute(&mut *tx).await?;
        for epoch in touched {
            refresh_epoch(&mut tx, epoch).await?;
        }
        sqlx::query!("DELETE FROM claims WHERE l1_block > $1", f).execute(&mut *tx).await?;
        sqlx::query!("UPDATE claims SET outcome = 'open', outcome_l1_block = 0 WHERE outcome_l1_block > $1", f)
            .execute(&mut *tx)
            .await?;
        // Quotes whose status came from the dropped blocks: claimed/proven/slashed from their
        // claim if it remains, expired if their epoch is claimed, proven or pruned, else pending;
        // each then records the L1 block that now justifies it, so a deeper rollback finds it.
        sqlx::query!("UPDATE quotes SET status_l1_block = -1 WHERE status_l1_block > $1 AND status <> 'superseded'", f)
            .execute(&mut *tx)
            .await?;
        sqlx::query!(
            "UPDATE quotes SET status_changed_at_ms = $1, status = CASE
               WHEN EXISTS (SELECT 1 FROM claims c WHERE c.quote_id = quotes.id AND c.outcome = 'open') THEN 'claimed'
               WHEN EXISTS (SELECT 1 FROM claims c WHERE c.quote_id = quotes.id AND c.outcome = 'proven') THEN 'proven'
               WHEN EXISTS (SELECT 1 FROM claims c WHERE c.quote_id = quotes.id AND c.outcome = 'slashed') THEN 'slashed'
               WHEN EXISTS (SELECT 1 FROM claims c WHERE c.epoch = quotes.epoch) THEN 'expired'
               WHEN EXISTS (SELECT 1 FROM epochs e WHERE e.epoch = quotes.epoch
                              AND (e.proven_at_l1 > 0 OR e.pruned_at_l1 > 0)) THEN 'expired'
               ELSE 'pending' END
             WHERE status_l1_block = -1",
            now
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "UPDATE quotes SET status_l1_block = CASE
               WHEN status = 'claimed' THEN (SELECT MAX(c.l1_block) FROM claims c WHERE c.quote_id = quotes.id)
               WHEN status IN ('proven', 'slashed') THEN
                 (SELECT MAX(c.outcome_l1_block) FROM claims c WHERE c.quote_id = quotes.id)
               WHEN status = 'expired' THEN COALESCE(
                 (SELECT MAX(c.l1_block) FROM claims c WHERE c.epoch = quotes.epoch),
                 (SELECT GREATEST(e.proven_at_l1, e.pruned_at_l1) FROM epochs e WHERE e.epoch = quotes.epoch), 0)
               ELSE 0 END
             WHERE status_l1_block = -1"
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!("DELETE FROM l1_blocks WHERE number > $1", f).execute(&mut *tx).await?;
        sqlx::query!("DELETE FROM provers WHERE l1_block > $1", f).execute(&mut *tx).await?;
        upsert_deposits(&mut tx, deposits, fork.l1_block).await?;
        append_events(&mut tx, &[NodeEvent::ChainReorg { fork_l1_block: fork.l1_block }], now).await?;
        sqlx::query!(
            "UPDATE chain_cursor SET l1_block = $1, l1_hash = $2, l1_timestamp = $3, proven_block = $4,
                pending_block = $5 WHERE id = 1",
            f,
            fork.l1_hash.as_slice(),
            int("chain_cursor.l1_timestamp", fork.l1_timestamp)?,
            int("chain_cursor.proven_block", fork.proven_block)?,
            int("chain_cursor.pending_block", fork.pending_block)?
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.events.committed();
        Ok(())
    }

    async fn lead_watcher(&self) -> Result<bool, StoreError> {
        // A database that stops answering must not hold the watcher (and this lock) for ever.
        const WAIT: Duration = Duration::from_secs(3);
        let timed_out = || StoreError::Database(sqlx::Error::PoolTimedOut);
        let mut held = self.leader.lock().await;
        if let Some(conn) = held.as_mut() {
            // Still holding the lock if its connection is alive.
            if matches!(tokio::time::timeout(WAIT, conn.ping()).await, Ok(Ok(()))) {
                return Ok(true);
            }
            *held = None;
        }
        let options = self.pool.connect_options();
        let mut conn =
            tokio::time::timeout(WAIT, PgConnection::connect_with(&options)).await.map_err(|_| timed_out())??;
        let locked = sqlx::query_scalar!(r#"SELECT pg_try_advisory_lock($1) AS "locked!""#, WATCHER_LOCK_KEY)
            .fetch_one(&mut conn);
        let locked = tokio::time::timeout(WAIT, locked).await.map_err(|_| timed_out())??;
        if locked {
            *held = Some(conn);
        } else {
            // Another replica leads; this connection is not needed until the next try.
            let _ = conn.close().await;
        }
        Ok(locked)
    }
}

/// The columns of a batch of quotes, as the arrays the insert unnests.
#[derive(Default)]
struct QuoteColumns {
    id: Vec<Vec<u8>>,
    prover: Vec<Vec<u8>>,
    epoch: Vec<i64>,
    init_block: Vec<i64>,
    final_block: Vec<i64>,
    total_fees: Vec<BigDecimal>,
    rollup_address: Vec<Vec<u8>>,
    basis_point_fee: Vec<i32>,
    bond_amount: Vec<BigDecimal>,
    valid_until_slot: Vec<BigDecimal>,
    signature: Vec<Vec<u8>>,
}

impl QuoteColumns {
    fn push(&mut self, id: &B256, quote: &SignedEpochProofQuote) -> Result<(), StoreError> {
        let q = &quote.quote;
        self.id.push(id.to_vec());
        self.prover.push(q.prover.to_vec());
        self.epoch.push(int256("quotes.epoch", q.epoch_number)?);
        self.init_block.push(int256("quotes.epoch_init_block", q.epoch_init_block)?);
        self.final_block.push(int256("quotes.epoch_final_block", q.epoch_final_block)?);
        self.total_fees.push(numeric(q.total_fees));
        self.rollup_address.push(q.rollup_address.to_vec());
        self.basis_point_fee.push(i32::try_from(q.basis_point_fee).map_err(|_| StoreError::OutOfRange {
            column: "quotes.basis_point_fee",
            value: q.basis_point_fee.to_string(),
        })?);
        self.bond_amount.push(numeric(q.bond_amount));
        self.valid_until_slot.push(numeric(q.valid_until_slot));
        self.signature.push(quote.signature.as_bytes().to_vec());
        Ok(())
    }
}

/// Records deposits read at `l1_block` (older readings never win).
async fn upsert_deposits(
    conn: &mut PgConnection,
    deposits: &[(Address, U256)],
    l1_block: u64,
) -> Result<(), StoreError> {
    if deposits.is_empty() {
        return Ok(());
    }
    // One row per prover (the last reading wins): an upsert over arrays may not touch a row twice.
    let deposits: std::collections::BTreeMap<Address, U256> = deposits.iter().copied().collect();
    let (provers, amounts): (Vec<Vec<u8>>, Vec<BigDecimal>) =
        deposits.into_iter().map(|(prover, deposit)| (prover.to_vec(), numeric(deposit))).unzip();
    sqlx::query!(
        "INSERT INTO provers (address, deposit, l1_block) SELECT address, deposit, $3
         FROM UNNEST($1::bytea[], $2::numeric[]) AS d(address, deposit)
         ON CONFLICT (address) DO UPDATE SET deposit = excluded.deposit, l1_block = excluded.l1_block
         WHERE provers.l1_block <= excluded.l1_block",
        &provers,
        &amounts,
        int("provers.l1_block", l1_block)?
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Moves the quotes of `epoch` from `from` to `to`; quotes that expire this way get an event.
async fn set_epoch_quotes(
    tx: &mut Tx<'_>,
    epoch: u64,
    (from, to): (QuoteStatus, QuoteStatus),
    l1_block: u64,
    now: i64,
    events: &mut Vec<NodeEvent>,
) -> Result<(), StoreError> {
    let ids = sqlx::query_scalar!(
        "UPDATE quotes SET status = $1, status_l1_block = $2, status_changed_at_ms = $3
         WHERE epoch = $4 AND status = $5 RETURNING id",
        to.as_str(),
        int("quotes.status_l1_block", l1_block)?,
        now,
        int("quotes.epoch", epoch)?,
        from.as_str()
    )
    .fetch_all(&mut **tx)
    .await?;
    if to == QuoteStatus::Expired {
        for id in ids {
            let id = RowReader::new("quotes", format_args!("of epoch {epoch}")).b256("id", &id)?;
            events.push(NodeEvent::QuoteExpired { id, epoch, reason: ExpiryReason::EpochDecided });
        }
    }
    Ok(())
}

async fn apply_event(
    tx: &mut Tx<'_>,
    event: &ChainEvent,
    now: i64,
    events: &mut Vec<NodeEvent>,
) -> Result<(), StoreError> {
    use QuoteStatus::{Claimed, Expired, Pending, Proven, Slashed};
    match event {
        ChainEvent::BlockProposed(b) => {
            let epoch = int("l2_blocks.epoch", b.epoch)?;
            sqlx::query!(
                "INSERT INTO l2_blocks (number, epoch, slot, proposer, tx_count, fees, archive, l1_block)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (number, l1_block) DO NOTHING",
                int("l2_blocks.number", b.number)?,
                epoch,
                int("l2_blocks.slot", b.slot)?,
                b.proposer.as_slice(),
                int("l2_blocks.tx_count", b.tx_count)?,
                numeric(b.fees),
                b.archive.as_slice(),
                int("l2_blocks.l1_block", b.l1_block)?
            )
            .execute(&mut **tx)
            .await?;
            refresh_epoch(tx, epoch).await?;
        }
        ChainEvent::Claimed(c) => {
            let l1_block = int("claims.l1_block", c.l1_block)?;
            sqlx::query!(
                "INSERT INTO claims (epoch, quote_id, bond_provider, proposer, bond_amount, basis_point_fee,
                    claimed_at_slot, l1_block, l1_tx, outcome)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'open') ON CONFLICT (epoch, l1_block, quote_id) DO NOTHING",
                int("claims.epoch", c.epoch)?,
                c.quote_id.as_slice(),
                c.bond_provider.as_slice(),
                c.proposer.as_slice(),
                numeric(c.bond_amount),
                i32::try_from(c.basis_point_fee).map_err(|_| StoreError::OutOfRange {
                    column: "claims.basis_point_fee",
                    value: c.basis_point_fee.to_string()
                })?,
                int("claims.claimed_at_slot", c.claimed_at_slot)?,
                l1_block,
                c.l1_tx.as_slice()
            )
            .execute(&mut **tx)
            .await?;
            sqlx::query!(
                "UPDATE quotes SET status = 'claimed', status_l1_block = $1, status_changed_at_ms = $2 WHERE id = $3",
                l1_block,
                now,
                c.quote_id.as_slice()
            )
            .execute(&mut **tx)
            .await?;
            set_epoch_quotes(tx, c.epoch, (Pending, Expired), c.l1_block, now, events).await?;
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
            let (e, b) = (int("epochs.epoch", *epoch)?, int("epochs.proven_at_l1", *l1_block)?);
            sqlx::query!("UPDATE epochs SET proven_at_l1 = $1 WHERE epoch = $2", b, e).execute(&mut **tx).await?;
            sqlx::query!(
                "UPDATE claims SET outcome = 'proven', outcome_l1_block = $1 WHERE epoch = $2 AND outcome = 'open'",
                b,
                e
            )
            .execute(&mut **tx)
            .await?;
            set_epoch_quotes(tx, *epoch, (Claimed, Proven), *l1_block, now, events).await?;
            set_epoch_quotes(tx, *epoch, (Pending, Expired), *l1_block, now, events).await?;
            events.push(NodeEvent::ProofSeen { epoch: *epoch, l1_block: *l1_block });
        }
        ChainEvent::Slashed { epoch, l1_block } => {
            sqlx::query!(
                "UPDATE claims SET outcome = 'slashed', outcome_l1_block = $1 WHERE epoch = $2 AND outcome = 'open'",
                int("claims.outcome_l1_block", *l1_block)?,
                int("claims.epoch", *epoch)?
            )
            .execute(&mut **tx)
            .await?;
            set_epoch_quotes(tx, *epoch, (Claimed, Slashed), *l1_block, now, events).await?;
            events.push(NodeEvent::BondSlashed { epoch: *epoch, l1_block: *l1_block });
        }
        ChainEvent::EpochPruned { epoch, l1_block } => {
            sqlx::query!(
                "UPDATE epochs SET pruned_at_l1 = $1 WHERE epoch = $2",
                int("epochs.pruned_at_l1", *l1_block)?,
                int("epochs.epoch", *epoch)?
            )
            .execute(&mut **tx)
            .await?;
            set_epoch_quotes(tx, *epoch, (Pending, Expired), *l1_block, now, events).await?;
            events.push(NodeEvent::EpochPruned { epoch: *epoch, l1_block: *l1_block });
        }
        ChainEvent::Pruned { proven_block, l1_block } => {
            sqlx::query!(
                "UPDATE l2_blocks SET pruned_at_l1 = $1 WHERE number > $2 AND pruned_at_l1 = 0",
                int("l2_blocks.pruned_at_l1", *l1_block)?,
                int("l2_blocks.number", *proven_block)?
            )
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

/// Recomputes an epoch's aggregate from its live (not pruned) blocks, so a prune followed by new
/// blocks in the same epoch starts it afresh. An epoch whose blocks were all pruned keeps the
/// aggregate of the blocks last pruned, and is marked pruned at that L1 block.
async fn refresh_epoch(tx: &mut Tx<'_>, epoch: i64) -> Result<(), StoreError> {
    let last_pruned = sqlx::query_scalar!(
        "SELECT CASE WHEN MIN(pruned_at_l1) = 0 THEN 0 ELSE MAX(pruned_at_l1) END AS pruned_at
         FROM l2_blocks WHERE epoch = $1",
        epoch
    )
    .fetch_one(&mut **tx)
    .await?;
    let Some(pruned_at) = last_pruned else {
        sqlx::query!("DELETE FROM epochs WHERE epoch = $1", epoch).execute(&mut **tx).await?;
        return Ok(());
    };
    let rows = sqlx::query!(
        "SELECT number, tx_count, fees FROM l2_blocks WHERE epoch = $1 AND pruned_at_l1 = $2",
        epoch,
        pruned_at
    )
    .fetch_all(&mut **tx)
    .await?;
    let mut totals = EpochTotals::default();
    for row in rows {
        let r = RowReader::new("l2_blocks", format_args!("number {} at L1 block {pruned_at}", row.number));
        totals.add(r.u64("number", row.number)?, r.u64("tx_count", row.tx_count)?, row.fees.read(&r, "fees")?);
    }
    sqlx::query!(
        "INSERT INTO epochs (epoch, init_block, final_block, block_count, tx_count, total_fees, proven_at_l1,
            pruned_at_l1)
         VALUES ($1, $2, $3, $4, $5, $6, 0, $7)
         ON CONFLICT (epoch) DO UPDATE SET init_block = excluded.init_block, final_block = excluded.final_block,
            block_count = excluded.block_count, tx_count = excluded.tx_count, total_fees = excluded.total_fees,
            pruned_at_l1 = excluded.pruned_at_l1",
        epoch,
        int("epochs.init_block", totals.init_block)?,
        int("epochs.final_block", totals.final_block)?,
        int("epochs.block_count", totals.block_count)?,
        int("epochs.tx_count", totals.tx_count)?,
        numeric(totals.fees),
        pruned_at
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_round_trips_every_width() {
        let r = RowReader::new("test", 0);
        for value in [U256::ZERO, U256::from(1), U256::from(u64::MAX), U256::MAX] {
            assert_eq!(numeric(value).read(&r, "v").expect("reads back"), value);
        }
        let too_big = numeric(U256::MAX) + BigDecimal::from(1);
        assert!(matches!(too_big.read(&r, "v"), Err(StoreError::Corrupt { column: "v", .. })));
        assert!(BigDecimal::from(-1).read(&r, "v").is_err());
        assert!("1.5".parse::<BigDecimal>().expect("decimal").read(&r, "v").is_err());
        assert_eq!("7.000".parse::<BigDecimal>().expect("decimal").read(&r, "v").expect("integer"), U256::from(7));
    }
}
