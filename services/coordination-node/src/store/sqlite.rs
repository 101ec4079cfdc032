//! The embedded SQLite store: one file, one connection (SQLite runs one writer at a time). A
//! batch of quotes is looked up, inserted, superseded and recorded in events with multi-row
//! statements (each statement is a round trip to the connection's thread); the rest runs a
//! statement per row. uint256 values are 32-byte big-endian BLOBs (SQLite compares BLOBs
//! byte by byte, so they order as numbers); ids, addresses and signatures are BLOBs.

use std::{collections::HashSet, sync::Arc, time::Duration};

use alloy::primitives::{Address, B256, U256};
use epoch_quote::SignedEpochProofQuote;
use sqlx::{
    QueryBuilder, Sqlite, SqliteConnection, SqlitePool, Transaction,
    sqlite::{SqliteConnectOptions, SqlitePoolOptions},
};

use super::{
    ChainCursor, ChainEvent, ChainUpdate, ChainView, ClaimPayout, ClaimRecord, EpochClosed, EpochRecord, EpochTotals,
    EventRecord, EventSignal, InsertOutcome, NodeStore, ProverEpochQuotes, ProverQuoteTotals, QuoteRecord, QuoteStatus,
    RetentionMarks, RowReader, StoreError,
    batch::{Committed, Plan},
    int, int256, key, now_ms,
    rows::{self, StoredUint256},
};
use crate::domain::{ClaimOutcome, ExpiryReason, NodeEvent};

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");

/// The uint256 columns, which migration `0002` copies as decimal text for
/// [`SqliteStore::convert_text_uint256`] to turn into BLOBs.
const UINT256_COLUMNS: [(&str, &str); 7] = [
    ("quotes", "total_fees"),
    ("quotes", "bond_amount"),
    ("quotes", "valid_until_slot"),
    ("l2_blocks", "fees"),
    ("epochs", "total_fees"),
    ("claims", "bond_amount"),
    ("provers", "deposit"),
];

/// Most rows one statement lists (each takes up to 13 of the 32,766 variables SQLite allows).
const ROWS_PER_STATEMENT: usize = 1_000;

/// The SQLite store.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    pub(super) events: Arc<EventSignal>,
}

/// A uint256 as the BLOB that stores it.
fn blob(value: U256) -> [u8; 32] {
    value.to_be_bytes()
}

impl rows::StoredUint256 for Vec<u8> {
    /// A uint256 stored as a 32-byte big-endian BLOB.
    fn read(&self, r: &RowReader, column: &'static str) -> Result<U256, StoreError> {
        if self.len() != 32 {
            return Err(r.corrupt(column, format_args!("{} bytes, not 32", self.len())));
        }
        Ok(U256::from_be_slice(self))
    }
}

const QUOTE_COLUMNS: &str = "seq, id, prover, epoch, epoch_init_block, epoch_final_block, total_fees, rollup_address, \
     basis_point_fee, bond_amount, valid_until_slot, signature, status, received_at_ms";

const EPOCH_COLUMNS: &str =
    "epoch, init_block, final_block, block_count, tx_count, total_fees, proven_at_l1, pruned_at_l1";

const CLAIM_COLUMNS: &str = "epoch, quote_id, bond_provider, proposer, bond_amount, basis_point_fee, claimed_at_slot, \
     l1_block, l1_tx, outcome";

/// The rows as SQLite returns them: uint256 as BLOB, fees as INTEGER.
type QuoteRow = rows::QuoteRow<Vec<u8>>;
type EpochRow = rows::EpochRow<Vec<u8>>;
type ClaimRow = rows::ClaimRow<Vec<u8>>;

/// `SELECT <columns> FROM <rest>`, as a statement sqlx accepts (every part is a constant).
fn select(columns: &'static str, rest: &'static str) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(format!("SELECT {columns} FROM {rest}"))
}

type Tx<'c> = Transaction<'c, sqlx::Sqlite>;

/// Appends events in the caller's transaction.
async fn append_events(tx: &mut SqliteConnection, events: &[NodeEvent], now: i64) -> Result<(), StoreError> {
    // In order: SQLite numbers the rows of a multi-row insert as listed (a test checks it).
    for chunk in events.chunks(ROWS_PER_STATEMENT) {
        let mut insert = QueryBuilder::<Sqlite>::new("INSERT INTO events (kind, data, epoch, created_at_ms) ");
        insert.push_values(chunk, |mut row, event| {
            row.push_bind(event.kind().as_str())
                .push_bind(event.data())
                .push_bind(event.epoch().and_then(key))
                .push_bind(now);
        });
        insert.build().persistent(false).execute(&mut *tx).await?;
    }
    Ok(())
}

impl SqliteStore {
    /// Opens (creating it if `mode=rwc`) the file at `url` and applies the migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options: SqliteConnectOptions = url.parse()?;
        // One writer at a time is what SQLite allows; a single connection also keeps the embedded
        // store free of "database is locked" errors.
        let pool = SqlitePoolOptions::new()
            .acquire_timeout(Duration::from_secs(3))
            .max_connections(1)
            .connect_with(options)
            .await?;
        MIGRATIONS.run(&pool).await?;
        let store = Self { pool, events: Arc::default() };
        store.convert_text_uint256().await?;
        Ok(store)
    }

    /// Finishes migration `0002`: uint256 values still held as decimal text become BLOBs. Runs at
    /// every start; once converted, it finds nothing to do.
    async fn convert_text_uint256(&self) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for (table, column) in UINT256_COLUMNS {
            let rows: Vec<(i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT rowid, {column} FROM {table} WHERE typeof({column}) = 'text'"
            )))
            .fetch_all(&mut *tx)
            .await?;
            for (rowid, text) in rows {
                let value: U256 = text.parse().map_err(|_| StoreError::Corrupt {
                    table,
                    row: format!("rowid {rowid}"),
                    column,
                    problem: format!("{text:?} is not a decimal uint256"),
                })?;
                sqlx::query(sqlx::AssertSqlSafe(format!("UPDATE {table} SET {column} = ? WHERE rowid = ?")))
                    .bind(&blob(value)[..])
                    .bind(rowid)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// What the transaction has committed for the epochs and provers of a batch.
    async fn committed(tx: &mut Tx<'_>, quotes: &[(B256, SignedEpochProofQuote)]) -> Result<Committed, StoreError> {
        let (epochs, pairs) = Plan::keys(quotes)?;
        let mut committed = Committed::default();
        for epoch in epochs {
            let claimed: Option<i64> =
                sqlx::query_scalar("SELECT 1 FROM claims WHERE outcome = 'open' AND epoch = ? LIMIT 1")
                    .bind(epoch)
                    .fetch_optional(&mut **tx)
                    .await?;
            let decided: Option<i64> = sqlx::query_scalar(
                "SELECT proven_at_l1 FROM epochs WHERE (proven_at_l1 <> 0 OR pruned_at_l1 <> 0) AND epoch = ?",
            )
            .bind(epoch)
            .fetch_optional(&mut **tx)
            .await?;
            match (decided, claimed) {
                (Some(proven), _) => {
                    committed.closed.insert(epoch, if proven != 0 { EpochClosed::Proven } else { EpochClosed::Pruned });
                }
                (None, Some(_)) => {
                    committed.closed.insert(epoch, EpochClosed::Claimed);
                }
                (None, None) => {}
            }
            // Counts the database keeps (migration 0005): the same cost however full the epoch is.
            let pending: Option<i64> = sqlx::query_scalar("SELECT pending FROM epoch_pending WHERE epoch = ?")
                .bind(epoch)
                .fetch_optional(&mut **tx)
                .await?;
            committed.pending.insert(epoch, pending.unwrap_or(0));
        }
        let pairs: Vec<_> = pairs.into_iter().collect();
        for chunk in pairs.chunks(ROWS_PER_STATEMENT) {
            let mut lookup = QueryBuilder::<Sqlite>::new(
                "SELECT prover, epoch FROM prover_epoch_quotes WHERE pending > 0 AND (prover, epoch) IN (",
            );
            lookup.push_values(chunk, |mut row, (prover, epoch)| {
                row.push_bind(prover.as_slice()).push_bind(*epoch);
            });
            lookup.push(")");
            let found: Vec<(Vec<u8>, i64)> = lookup.build_query_as().persistent(false).fetch_all(&mut **tx).await?;
            for (prover, epoch) in found {
                let r = RowReader::new("prover_epoch_quotes", format_args!("epoch {epoch}"));
                committed.has_pending.insert((r.address("prover", &prover)?, epoch));
            }
        }
        Ok(committed)
    }
}

impl NodeStore for SqliteStore {
    async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    async fn insert_quotes(
        &self,
        quotes: &[(B256, SignedEpochProofQuote)],
        per_epoch_cap: u32,
    ) -> Result<Vec<InsertOutcome>, StoreError> {
        if quotes.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.pool.begin().await?;
        let committed = Self::committed(&mut tx, quotes).await?;
        let plan = Plan::new(quotes, committed, per_epoch_cap)?;
        if plan.is_empty() {
            tx.rollback().await?;
            return Ok(plan.refused());
        }
        let now = now_ms();
        // A statement for the batch's quotes and one for what they supersede (per
        // `ROWS_PER_STATEMENT`): each statement is a round trip to the connection's thread, which
        // cost more than the rows themselves.
        let mut rows = Vec::new();
        for (id, quote) in plan.admitted() {
            let q = &quote.quote;
            rows.push((
                id,
                q,
                int256("quotes.epoch", q.epoch_number)?,
                int256("quotes.epoch_init_block", q.epoch_init_block)?,
                int256("quotes.epoch_final_block", q.epoch_final_block)?,
                &quote.signature,
            ));
        }
        let mut inserted = HashSet::new();
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO quotes (id, prover, epoch, epoch_init_block, epoch_final_block, total_fees, \
                 rollup_address, basis_point_fee, bond_amount, valid_until_slot, signature, received_at_ms, status, \
                 status_changed_at_ms) ",
            );
            insert.push_values(chunk, |mut row, (id, q, epoch, init_block, final_block, signature)| {
                row.push_bind(id.as_slice())
                    .push_bind(q.prover.as_slice())
                    .push_bind(*epoch)
                    .push_bind(*init_block)
                    .push_bind(*final_block)
                    .push_bind(blob(q.total_fees).to_vec())
                    .push_bind(q.rollup_address.as_slice())
                    .push_bind(i64::from(q.basis_point_fee))
                    .push_bind(blob(q.bond_amount).to_vec())
                    .push_bind(blob(q.valid_until_slot).to_vec())
                    .push_bind(signature.as_bytes().to_vec())
                    .push_bind(now)
                    .push("'pending'")
                    .push_bind(now);
            });
            insert.push(" ON CONFLICT (id) DO NOTHING RETURNING id");
            for id in insert.build_query_scalar::<Vec<u8>>().persistent(false).fetch_all(&mut *tx).await? {
                inserted.insert(RowReader::new("quotes", "just inserted").b256("id", &id)?);
            }
        }

        // The last inserted quote of each prover and epoch stays pending; everything else of
        // theirs that is pending is superseded. A keeper's id belongs to its own pair only, so
        // leaving every keeper out is leaving out each pair's own.
        let keepers = plan.keepers(&inserted)?;
        let mut superseded = Vec::new();
        let keepers_listed: Vec<_> = keepers.iter().collect();
        for chunk in keepers_listed.chunks(ROWS_PER_STATEMENT) {
            let mut update =
                QueryBuilder::<Sqlite>::new("UPDATE quotes SET status = 'superseded', status_changed_at_ms = ");
            update.push_bind(now).push(" WHERE status = 'pending' AND (prover, epoch) IN (VALUES ");
            let mut pairs = update.separated(", ");
            for ((prover, epoch), _) in chunk {
                pairs.push("(").push_bind_unseparated(prover.as_slice()).push_unseparated(", ");
                pairs.push_bind_unseparated(*epoch).push_unseparated(")");
            }
            update.push(") AND id NOT IN (");
            let mut kept = update.separated(", ");
            for (_, id) in chunk {
                kept.push_bind(id.as_slice());
            }
            update.push(") RETURNING id, prover, epoch");
            let rows: Vec<(Vec<u8>, Vec<u8>, i64)> =
                update.build_query_as().persistent(false).fetch_all(&mut *tx).await?;
            for (id, prover, epoch) in rows {
                let r = RowReader::new("quotes", "just superseded");
                superseded.push((r.b256("id", &id)?, (r.address("prover", &prover)?, epoch)));
            }
        }
        let (outcomes, events) = plan.finish(&inserted, &keepers, superseded);
        append_events(&mut tx, &events, now).await?;
        tx.commit().await?;
        self.events.committed();
        Ok(outcomes)
    }

    async fn events_after(&self, seq: i64, limit: u32) -> Result<Vec<EventRecord>, StoreError> {
        let rows: Vec<(i64, String, String)> =
            sqlx::query_as("SELECT seq, kind, data FROM events WHERE seq > ? ORDER BY seq LIMIT ?")
                .bind(seq)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(|(seq, kind, data)| EventRecord { seq, kind, data }).collect())
    }

    async fn latest_event_seq(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM events").fetch_one(&self.pool).await?)
    }

    async fn retention_floor(&self, at_most: u64, settled_by_l1: u64) -> Result<u64, StoreError> {
        let at_most = key(at_most).unwrap_or(i64::MAX);
        let floor: i64 = sqlx::query_scalar(
            "SELECT min(?1, coalesce((SELECT MIN(epoch) FROM epochs
                 WHERE NOT ((proven_at_l1 > 0 AND proven_at_l1 <= ?2) OR (pruned_at_l1 > 0 AND pruned_at_l1 <= ?2))), ?1))",
        )
        .bind(at_most)
        .bind(key(settled_by_l1).unwrap_or(i64::MAX))
        .fetch_one(&self.pool)
        .await?;
        RowReader::new("epochs", "retention floor").u64("epoch", floor)
    }

    async fn prune_quotes(&self, below_epoch: u64, limit: u32) -> Result<u64, StoreError> {
        let below = key(below_epoch).unwrap_or(i64::MAX);
        let mut tx = self.pool.begin().await?;
        let deleted = sqlx::query(
            "DELETE FROM quotes WHERE seq IN (SELECT seq FROM quotes WHERE epoch < ? ORDER BY epoch LIMIT ?)",
        )
        .bind(below)
        .bind(i64::from(limit))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if deleted < u64::from(limit) {
            sqlx::query("UPDATE retention SET quotes_before_epoch = max(quotes_before_epoch, ?) WHERE id = 1")
                .bind(below)
                .execute(&mut *tx)
                .await?;
            // The pending counts of epochs that hold no quote any more.
            sqlx::query("DELETE FROM epoch_pending WHERE pending = 0 AND epoch < ?")
                .bind(below)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(deleted)
    }

    async fn first_event_kept(&self, epoch: u64) -> Result<i64, StoreError> {
        let seq: Option<i64> = sqlx::query_scalar(
            "SELECT coalesce((SELECT seq FROM events WHERE epoch >= ? ORDER BY seq LIMIT 1), (SELECT MAX(seq) FROM events))",
        )
        .bind(key(epoch).unwrap_or(i64::MAX))
        .fetch_one(&self.pool)
        .await?;
        Ok(seq.unwrap_or(0))
    }

    async fn prune_events(&self, below_seq: i64, limit: u32) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let gone: Vec<i64> = sqlx::query_scalar(
            "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE seq < ? ORDER BY seq LIMIT ?) RETURNING seq",
        )
        .bind(below_seq)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        if let Some(through) = gone.iter().max() {
            sqlx::query("UPDATE retention SET events_through = max(events_through, ?) WHERE id = 1")
                .bind(through)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(gone.len() as u64)
    }

    async fn retention_marks(&self) -> Result<RetentionMarks, StoreError> {
        let row: Option<(i64, i64)> =
            sqlx::query_as("SELECT quotes_before_epoch, events_through FROM retention WHERE id = 1")
                .fetch_optional(&self.pool)
                .await?;
        let Some((quotes_before_epoch, events_through)) = row else { return Ok(RetentionMarks::default()) };
        Ok(RetentionMarks {
            quotes_before_epoch: RowReader::new("retention", 1).u64("quotes_before_epoch", quotes_before_epoch)?,
            events_through,
        })
    }

    async fn quote(&self, id: B256) -> Result<Option<QuoteRecord>, StoreError> {
        sqlx::query_as::<_, QuoteRow>(select(QUOTE_COLUMNS, "quotes WHERE id = ?"))
            .bind(id.as_slice())
            .fetch_optional(&self.pool)
            .await?
            .map(QuoteRow::decode)
            .transpose()
    }

    async fn quote_count(&self) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM quotes").fetch_one(&self.pool).await?;
        RowReader::new("quotes", "count").u64("count", count)
    }

    async fn epoch(&self, epoch: u64) -> Result<Option<EpochRecord>, StoreError> {
        let Some(epoch) = key(epoch) else { return Ok(None) };
        sqlx::query_as::<_, EpochRow>(select(EPOCH_COLUMNS, "epochs WHERE epoch = ?"))
            .bind(epoch)
            .fetch_optional(&self.pool)
            .await?
            .map(EpochRow::decode)
            .transpose()
    }

    async fn load_view(&self) -> Result<ChainView, StoreError> {
        let cursor = self.cursor().await?;
        let epochs = sqlx::query_as::<_, EpochRow>(select(
            EPOCH_COLUMNS,
            "epochs WHERE proven_at_l1 = 0 OR epoch >= (SELECT MAX(epoch) FROM epochs) - 64",
        ))
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|row| row.decode().map(|e| (e.epoch, e)))
        .collect::<Result<_, _>>()?;
        let rows: Vec<(Vec<u8>, Vec<u8>)> =
            sqlx::query_as("SELECT address, deposit FROM provers").fetch_all(&self.pool).await?;
        let mut deposits = std::collections::HashMap::new();
        for (address, deposit) in rows {
            let r = RowReader::new("provers", alloy::hex::encode_prefixed(&address));
            deposits.insert(r.address("address", &address)?, deposit.read(&r, "deposit")?);
        }
        let open_claim = self.open_claim().await?;
        Ok(ChainView { cursor, epochs, open_claim, deposits })
    }

    async fn open_claim(&self) -> Result<Option<ClaimRecord>, StoreError> {
        sqlx::query_as::<_, ClaimRow>(select(
            CLAIM_COLUMNS,
            "claims WHERE outcome = 'open' ORDER BY l1_block DESC LIMIT 1",
        ))
        .fetch_optional(&self.pool)
        .await?
        .map(|row| row.decode().map(|(claim, _)| claim))
        .transpose()
    }

    async fn claim_of_quote(&self, id: B256) -> Result<Option<(ClaimRecord, ClaimOutcome)>, StoreError> {
        sqlx::query_as::<_, ClaimRow>(select(CLAIM_COLUMNS, "claims WHERE quote_id = ? ORDER BY l1_block DESC LIMIT 1"))
            .bind(id.as_slice())
            .fetch_optional(&self.pool)
            .await?
            .map(ClaimRow::decode)
            .transpose()
    }

    async fn claims_of_epoch(&self, epoch: u64) -> Result<Vec<(ClaimRecord, ClaimOutcome)>, StoreError> {
        let Some(epoch) = key(epoch) else { return Ok(Vec::new()) };
        sqlx::query_as::<_, ClaimRow>(select(CLAIM_COLUMNS, "claims WHERE epoch = ? ORDER BY l1_block DESC"))
            .bind(epoch)
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(ClaimRow::decode)
            .collect()
    }

    async fn claims(
        &self,
        prover: Option<Address>,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<(ClaimRecord, ClaimOutcome)>, StoreError> {
        sqlx::query_as::<_, ClaimRow>(select(
            CLAIM_COLUMNS,
            "claims WHERE (?1 IS NULL OR bond_provider = ?1) AND (?2 IS NULL OR l1_block < ?2) \
             ORDER BY l1_block DESC, epoch DESC LIMIT ?3",
        ))
        .bind(prover.as_ref().map(|p| p.as_slice()))
        // A bound beyond every L1 block is no bound.
        .bind(before.and_then(key))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(ClaimRow::decode)
        .collect()
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
        let (fee, seq) = after.map_or((-1, -1), |(fee, seq)| (i64::from(fee), seq));
        // One statement per combination of filters, so each gets a plan that walks the
        // (epoch, status, basis_point_fee, seq) index in order.
        let rest = match (status.is_some(), prover.is_some()) {
            (true, true) => {
                "quotes WHERE epoch = ?1 AND status = ?2 AND prover = ?3 AND (basis_point_fee, seq) > (?4, ?5) \
                 ORDER BY basis_point_fee, seq LIMIT ?6"
            }
            (true, false) => {
                "quotes WHERE epoch = ?1 AND status = ?2 AND (basis_point_fee, seq) > (?4, ?5) \
                 ORDER BY basis_point_fee, seq LIMIT ?6"
            }
            (false, true) => {
                "quotes WHERE epoch = ?1 AND prover = ?3 AND (basis_point_fee, seq) > (?4, ?5) \
                 ORDER BY basis_point_fee, seq LIMIT ?6"
            }
            (false, false) => {
                "quotes WHERE epoch = ?1 AND (basis_point_fee, seq) > (?4, ?5) \
                 ORDER BY basis_point_fee, seq LIMIT ?6"
            }
        };
        sqlx::query_as::<_, QuoteRow>(select(QUOTE_COLUMNS, rest))
            .bind(epoch)
            .bind(status.map(QuoteStatus::as_str))
            .bind(prover.as_ref().map(|p| p.as_slice()))
            .bind(fee)
            .bind(seq)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(QuoteRow::decode)
            .collect()
    }

    async fn epochs_page(&self, before: Option<u64>, limit: u32) -> Result<Vec<EpochRecord>, StoreError> {
        // A bound beyond every epoch is no bound.
        let before = before.and_then(key);
        sqlx::query_as::<_, EpochRow>(select(
            EPOCH_COLUMNS,
            "epochs WHERE (?1 IS NULL OR epoch < ?1) ORDER BY epoch DESC LIMIT ?2",
        ))
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(EpochRow::decode)
        .collect()
    }

    async fn claims_of_epochs(&self, from: u64, to: u64) -> Result<Vec<(ClaimRecord, ClaimOutcome)>, StoreError> {
        let (Some(from), to) = (key(from), key(to).unwrap_or(i64::MAX)) else { return Ok(Vec::new()) };
        sqlx::query_as::<_, ClaimRow>(select(
            CLAIM_COLUMNS,
            "claims WHERE epoch BETWEEN ? AND ? ORDER BY l1_block DESC, epoch DESC",
        ))
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(ClaimRow::decode)
        .collect()
    }

    async fn quotes_by_epoch(&self, from: u64, to: u64) -> Result<Vec<ProverEpochQuotes>, StoreError> {
        let (Some(from), to) = (key(from), key(to).unwrap_or(i64::MAX)) else { return Ok(Vec::new()) };
        sqlx::query_as::<_, rows::ProverEpochRow>(
            "SELECT epoch, prover, quotes, best_fee FROM prover_epoch_quotes WHERE epoch BETWEEN ? AND ?",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(rows::ProverEpochRow::decode)
        .collect()
    }

    async fn prover_epochs(&self, prover: Address, limit: u32) -> Result<Vec<ProverEpochQuotes>, StoreError> {
        sqlx::query_as::<_, rows::ProverEpochRow>(
            "SELECT epoch, prover, quotes, best_fee FROM prover_epoch_quotes WHERE prover = ? \
             ORDER BY epoch DESC LIMIT ?",
        )
        .bind(prover.as_slice())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(rows::ProverEpochRow::decode)
        .collect()
    }

    async fn quote_totals(&self, prover: Option<Address>) -> Result<Vec<ProverQuoteTotals>, StoreError> {
        sqlx::query_as::<_, rows::QuoteTotalsRow>(
            "SELECT prover, SUM(quotes) AS quotes, COUNT(*) AS epochs FROM prover_epoch_quotes \
             WHERE (?1 IS NULL OR prover = ?1) GROUP BY prover",
        )
        .bind(prover.as_ref().map(|p| p.as_slice()))
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(rows::QuoteTotalsRow::decode)
        .collect()
    }

    async fn claim_payouts(&self, prover: Option<Address>) -> Result<Vec<ClaimPayout>, StoreError> {
        sqlx::query_as::<_, rows::PayoutRow<Vec<u8>>>(
            "SELECT c.epoch, c.bond_provider, c.basis_point_fee, c.outcome, e.total_fees, \
             EXISTS (SELECT 1 FROM prover_epoch_quotes p WHERE p.epoch = c.epoch AND p.prover = c.bond_provider) \
             AS quoted FROM claims c LEFT JOIN epochs e ON e.epoch = c.epoch WHERE (?1 IS NULL OR c.bond_provider = ?1)",
        )
        .bind(prover.as_ref().map(|p| p.as_slice()))
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(rows::PayoutRow::decode)
        .collect()
    }

    async fn prover_deposit(&self, prover: Address) -> Result<Option<U256>, StoreError> {
        let deposit: Option<Vec<u8>> = sqlx::query_scalar("SELECT deposit FROM provers WHERE address = ?")
            .bind(prover.as_slice())
            .fetch_optional(&self.pool)
            .await?;
        deposit.map(|d| d.read(&RowReader::new("provers", prover), "deposit")).transpose()
    }

    async fn set_prover_deposit(&self, prover: Address, deposit: U256, l1_block: u64) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        upsert_deposit(&mut conn, prover, deposit, l1_block).await
    }

    async fn cursor(&self) -> Result<Option<ChainCursor>, StoreError> {
        let row: Option<(i64, Vec<u8>, i64, i64, i64)> = sqlx::query_as(
            "SELECT l1_block, l1_hash, l1_timestamp, proven_block, pending_block FROM chain_cursor WHERE id = 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        row.map(|(l1_block, l1_hash, l1_timestamp, proven_block, pending_block)| {
            let r = RowReader::new("chain_cursor", 1);
            Ok(ChainCursor {
                l1_block: r.u64("l1_block", l1_block)?,
                l1_hash: r.b256("l1_hash", &l1_hash)?,
                l1_timestamp: r.u64("l1_timestamp", l1_timestamp)?,
                proven_block: r.u64("proven_block", proven_block)?,
                pending_block: r.u64("pending_block", pending_block)?,
            })
        })
        .transpose()
    }

    async fn l1_block_hash(&self, number: u64) -> Result<Option<B256>, StoreError> {
        let Some(n) = key(number) else { return Ok(None) };
        let hash: Option<Vec<u8>> = sqlx::query_scalar("SELECT hash FROM l1_blocks WHERE number = ?")
            .bind(n)
            .fetch_optional(&self.pool)
            .await?;
        hash.map(|h| RowReader::new("l1_blocks", number).b256("hash", &h)).transpose()
    }

    async fn recorded_l1_blocks_below(&self, below: u64) -> Result<Vec<(u64, B256)>, StoreError> {
        let rows: Vec<(i64, Vec<u8>)> =
            sqlx::query_as("SELECT number, hash FROM l1_blocks WHERE number < ? ORDER BY number DESC")
                .bind(key(below).unwrap_or(i64::MAX))
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter()
            .map(|(number, hash)| {
                let r = RowReader::new("l1_blocks", number);
                Ok((r.u64("number", number)?, r.b256("hash", &hash)?))
            })
            .collect()
    }

    async fn apply(&self, cursor: ChainCursor, update: &ChainUpdate) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let now = now_ms();
        let l1_block = int("chain_cursor.l1_block", cursor.l1_block)?;
        let mut events = Vec::new();
        for event in &update.events {
            apply_event(&mut tx, event, now, &mut events).await?;
        }
        for (prover, deposit) in &update.deposits {
            upsert_deposit(&mut tx, *prover, *deposit, cursor.l1_block).await?;
        }
        for (number, hash) in &update.l1_blocks {
            sqlx::query("INSERT INTO l1_blocks (number, hash) VALUES (?, ?) ON CONFLICT (number) DO UPDATE SET hash = excluded.hash")
                .bind(int("l1_blocks.number", *number)?)
                .bind(hash.as_slice())
                .execute(&mut *tx)
                .await?;
        }
        // Keep the last 256 block hashes: deeper reorgs than that are not expected on L1.
        sqlx::query("DELETE FROM l1_blocks WHERE number < ?")
            .bind(l1_block.saturating_sub(256))
            .execute(&mut *tx)
            .await?;
        let expired: Vec<(Vec<u8>, i64)> = sqlx::query_as(
            "UPDATE quotes SET status = 'expired', status_changed_at_ms = ?, status_l1_block = ? \
             WHERE status = 'pending' AND valid_until_slot < ? RETURNING id, epoch",
        )
        .bind(now)
        .bind(l1_block)
        .bind(&blob(U256::from(update.current_slot))[..])
        .fetch_all(&mut *tx)
        .await?;
        for (id, epoch) in expired {
            let r = RowReader::new("quotes", "just expired");
            events.push(NodeEvent::QuoteExpired {
                id: r.b256("id", &id)?,
                epoch: r.u64("epoch", epoch)?,
                reason: ExpiryReason::ValidUntilSlot,
            });
        }
        let completed = sqlx::query_as::<_, EpochRow>(select(
            EPOCH_COLUMNS,
            "epochs WHERE epoch >= ? AND epoch < ? AND pruned_at_l1 = 0 ORDER BY epoch",
        ))
        .bind(int("epochs.epoch", update.completed_epochs.start)?)
        .bind(int("epochs.epoch", update.completed_epochs.end)?)
        .fetch_all(&mut *tx)
        .await?;
        for row in completed {
            let e = row.decode()?;
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
        sqlx::query(
            "INSERT INTO chain_cursor (id, l1_block, l1_hash, l1_timestamp, proven_block, pending_block) \
             VALUES (1, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET l1_block = excluded.l1_block, \
             l1_hash = excluded.l1_hash, l1_timestamp = excluded.l1_timestamp, proven_block = excluded.proven_block, \
             pending_block = excluded.pending_block",
        )
        .bind(l1_block)
        .bind(cursor.l1_hash.as_slice())
        .bind(int("chain_cursor.l1_timestamp", cursor.l1_timestamp)?)
        .bind(int("chain_cursor.proven_block", cursor.proven_block)?)
        .bind(int("chain_cursor.pending_block", cursor.pending_block)?)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.events.committed();
        Ok(())
    }

    async fn deposits_read_after(&self, l1_block: u64) -> Result<Vec<Address>, StoreError> {
        let Some(after) = key(l1_block) else { return Ok(Vec::new()) };
        let rows: Vec<Vec<u8>> = sqlx::query_scalar("SELECT address FROM provers WHERE l1_block > ? ORDER BY address")
            .bind(after)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|address| RowReader::new("provers", "read after").address("address", address)).collect()
    }

    async fn rollback_to(&self, fork: ChainCursor, deposits: &[(Address, U256)]) -> Result<(), StoreError> {
        let f = int("chain_cursor.l1_block", fork.l1_block)?;
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let touched: Vec<i64> = sqlx::query_scalar(
            "SELECT DISTINCT epoch FROM l2_blocks WHERE l1_block > ?1 OR pruned_at_l1 > ?1 \
             UNION SELECT epoch FROM epochs WHERE proven_at_l1 > ?1 OR pruned_at_l1 > ?1",
        )
        .bind(f)
        .fetch_all(&mut *tx)
        .await?;
        for statement in [
            "DELETE FROM l2_blocks WHERE l1_block > ?",
            "UPDATE l2_blocks SET pruned_at_l1 = 0 WHERE pruned_at_l1 > ?",
            "UPDATE epochs SET proven_at_l1 = 0 WHERE proven_at_l1 > ?",
        ] {
            sqlx::query(statement).bind(f).execute(&mut *tx).await?;
        }
        for epoch in touched {
            refresh_epoch(&mut tx, epoch).await?;
        }
        // Quotes whose status came from the dropped blocks: claimed/proven/slashed from their
        // claim if it remains, expired if their epoch is claimed, proven or pruned, else pending;
        // each then records the L1 block that now justifies it, so a deeper rollback finds it.
        for statement in [
            "DELETE FROM claims WHERE l1_block > ?",
            "UPDATE claims SET outcome = 'open', outcome_l1_block = 0 WHERE outcome_l1_block > ?",
            "UPDATE quotes SET status_l1_block = -1 WHERE status_l1_block > ? AND status <> 'superseded'",
            "DELETE FROM l1_blocks WHERE number > ?",
            "DELETE FROM provers WHERE l1_block > ?",
        ] {
            sqlx::query(statement).bind(f).execute(&mut *tx).await?;
        }
        for (prover, deposit) in deposits {
            upsert_deposit(&mut tx, *prover, *deposit, fork.l1_block).await?;
        }
        sqlx::query(
            "UPDATE quotes SET status_changed_at_ms = ?, status = CASE \
               WHEN EXISTS (SELECT 1 FROM claims c WHERE c.quote_id = quotes.id AND c.outcome = 'open') THEN 'claimed' \
               WHEN EXISTS (SELECT 1 FROM claims c WHERE c.quote_id = quotes.id AND c.outcome = 'proven') THEN 'proven' \
               WHEN EXISTS (SELECT 1 FROM claims c WHERE c.quote_id = quotes.id AND c.outcome = 'slashed') THEN 'slashed' \
               WHEN EXISTS (SELECT 1 FROM claims c WHERE c.epoch = quotes.epoch) THEN 'expired' \
               WHEN EXISTS (SELECT 1 FROM epochs e WHERE e.epoch = quotes.epoch \
                              AND (e.proven_at_l1 > 0 OR e.pruned_at_l1 > 0)) THEN 'expired' \
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
                 (SELECT MAX(e.proven_at_l1, e.pruned_at_l1) FROM epochs e WHERE e.epoch = quotes.epoch), 0) \
               ELSE 0 END \
             WHERE status_l1_block = -1",
        )
        .execute(&mut *tx)
        .await?;
        append_events(&mut tx, &[NodeEvent::ChainReorg { fork_l1_block: fork.l1_block }], now).await?;
        sqlx::query(
            "UPDATE chain_cursor SET l1_block = ?, l1_hash = ?, l1_timestamp = ?, proven_block = ?, pending_block = ? \
             WHERE id = 1",
        )
        .bind(f)
        .bind(fork.l1_hash.as_slice())
        .bind(int("chain_cursor.l1_timestamp", fork.l1_timestamp)?)
        .bind(int("chain_cursor.proven_block", fork.proven_block)?)
        .bind(int("chain_cursor.pending_block", fork.pending_block)?)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.events.committed();
        Ok(())
    }

    async fn lead_watcher(&self) -> Result<bool, StoreError> {
        // The file belongs to this process alone: its watcher always writes.
        Ok(true)
    }
}

/// Records a deposit read at `l1_block` (older readings never win).
async fn upsert_deposit(
    conn: &mut SqliteConnection,
    prover: Address,
    deposit: U256,
    l1_block: u64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO provers (address, deposit, l1_block) VALUES (?, ?, ?) ON CONFLICT (address) DO UPDATE \
         SET deposit = excluded.deposit, l1_block = excluded.l1_block WHERE provers.l1_block <= excluded.l1_block",
    )
    .bind(prover.as_slice())
    .bind(&blob(deposit)[..])
    .bind(int("provers.l1_block", l1_block)?)
    .execute(conn)
    .await?;
    Ok(())
}

/// Moves the quotes of `epoch` from `from` to `to`; quotes that expire this way get an event.
async fn set_epoch_quotes(
    tx: &mut SqliteConnection,
    epoch: u64,
    (from, to): (QuoteStatus, QuoteStatus),
    l1_block: u64,
    now: i64,
    events: &mut Vec<NodeEvent>,
) -> Result<(), StoreError> {
    let ids: Vec<Vec<u8>> = sqlx::query_scalar(
        "UPDATE quotes SET status = ?, status_l1_block = ?, status_changed_at_ms = ? WHERE epoch = ? AND status = ? \
         RETURNING id",
    )
    .bind(to.as_str())
    .bind(int("quotes.status_l1_block", l1_block)?)
    .bind(now)
    .bind(int("quotes.epoch", epoch)?)
    .bind(from.as_str())
    .fetch_all(&mut *tx)
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
    tx: &mut SqliteConnection,
    event: &ChainEvent,
    now: i64,
    events: &mut Vec<NodeEvent>,
) -> Result<(), StoreError> {
    use QuoteStatus::{Claimed, Expired, Pending, Proven, Slashed};
    match event {
        ChainEvent::BlockProposed(b) => {
            let epoch = int("l2_blocks.epoch", b.epoch)?;
            sqlx::query(
                "INSERT INTO l2_blocks (number, epoch, slot, proposer, tx_count, fees, archive, l1_block) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (number, l1_block) DO NOTHING",
            )
            .bind(int("l2_blocks.number", b.number)?)
            .bind(epoch)
            .bind(int("l2_blocks.slot", b.slot)?)
            .bind(b.proposer.as_slice())
            .bind(int("l2_blocks.tx_count", b.tx_count)?)
            .bind(&blob(b.fees)[..])
            .bind(b.archive.as_slice())
            .bind(int("l2_blocks.l1_block", b.l1_block)?)
            .execute(&mut *tx)
            .await?;
            refresh_epoch(tx, epoch).await?;
        }
        ChainEvent::Claimed(c) => {
            let l1_block = int("claims.l1_block", c.l1_block)?;
            sqlx::query(
                "INSERT INTO claims (epoch, quote_id, bond_provider, proposer, bond_amount, basis_point_fee, \
                 claimed_at_slot, l1_block, l1_tx, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'open') \
                 ON CONFLICT (epoch, l1_block, quote_id) DO NOTHING",
            )
            .bind(int("claims.epoch", c.epoch)?)
            .bind(c.quote_id.as_slice())
            .bind(c.bond_provider.as_slice())
            .bind(c.proposer.as_slice())
            .bind(&blob(c.bond_amount)[..])
            .bind(i64::from(c.basis_point_fee))
            .bind(int("claims.claimed_at_slot", c.claimed_at_slot)?)
            .bind(l1_block)
            .bind(c.l1_tx.as_slice())
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE quotes SET status = 'claimed', status_l1_block = ?, status_changed_at_ms = ? WHERE id = ?",
            )
            .bind(l1_block)
            .bind(now)
            .bind(c.quote_id.as_slice())
            .execute(&mut *tx)
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
            sqlx::query("UPDATE epochs SET proven_at_l1 = ? WHERE epoch = ?").bind(b).bind(e).execute(&mut *tx).await?;
            sqlx::query(
                "UPDATE claims SET outcome = 'proven', outcome_l1_block = ? WHERE epoch = ? AND outcome = 'open'",
            )
            .bind(b)
            .bind(e)
            .execute(&mut *tx)
            .await?;
            set_epoch_quotes(tx, *epoch, (Claimed, Proven), *l1_block, now, events).await?;
            set_epoch_quotes(tx, *epoch, (Pending, Expired), *l1_block, now, events).await?;
            events.push(NodeEvent::ProofSeen { epoch: *epoch, l1_block: *l1_block });
        }
        ChainEvent::Slashed { epoch, l1_block } => {
            sqlx::query(
                "UPDATE claims SET outcome = 'slashed', outcome_l1_block = ? WHERE epoch = ? AND outcome = 'open'",
            )
            .bind(int("claims.outcome_l1_block", *l1_block)?)
            .bind(int("claims.epoch", *epoch)?)
            .execute(&mut *tx)
            .await?;
            set_epoch_quotes(tx, *epoch, (Claimed, Slashed), *l1_block, now, events).await?;
            events.push(NodeEvent::BondSlashed { epoch: *epoch, l1_block: *l1_block });
        }
        ChainEvent::EpochPruned { epoch, l1_block } => {
            sqlx::query("UPDATE epochs SET pruned_at_l1 = ? WHERE epoch = ?")
                .bind(int("epochs.pruned_at_l1", *l1_block)?)
                .bind(int("epochs.epoch", *epoch)?)
                .execute(&mut *tx)
                .await?;
            set_epoch_quotes(tx, *epoch, (Pending, Expired), *l1_block, now, events).await?;
            events.push(NodeEvent::EpochPruned { epoch: *epoch, l1_block: *l1_block });
        }
        ChainEvent::Pruned { proven_block, l1_block } => {
            sqlx::query("UPDATE l2_blocks SET pruned_at_l1 = ? WHERE number > ? AND pruned_at_l1 = 0")
                .bind(int("l2_blocks.pruned_at_l1", *l1_block)?)
                .bind(int("l2_blocks.number", *proven_block)?)
                .execute(&mut *tx)
                .await?;
        }
    }
    Ok(())
}

/// Recomputes an epoch's aggregate from its live (not pruned) blocks, so a prune followed by new
/// blocks in the same epoch starts it afresh. An epoch whose blocks were all pruned keeps the
/// aggregate of the blocks last pruned, and is marked pruned at that L1 block.
async fn refresh_epoch(tx: &mut SqliteConnection, epoch: i64) -> Result<(), StoreError> {
    let pruned_at: Option<i64> = sqlx::query_scalar(
        "SELECT CASE WHEN MIN(pruned_at_l1) = 0 THEN 0 ELSE MAX(pruned_at_l1) END FROM l2_blocks WHERE epoch = ?",
    )
    .bind(epoch)
    .fetch_one(&mut *tx)
    .await?;
    let Some(pruned_at) = pruned_at else {
        sqlx::query("DELETE FROM epochs WHERE epoch = ?").bind(epoch).execute(&mut *tx).await?;
        return Ok(());
    };
    let rows: Vec<(i64, i64, Vec<u8>)> =
        sqlx::query_as("SELECT number, tx_count, fees FROM l2_blocks WHERE epoch = ? AND pruned_at_l1 = ?")
            .bind(epoch)
            .bind(pruned_at)
            .fetch_all(&mut *tx)
            .await?;
    let mut totals = EpochTotals::default();
    for (number, tx_count, fees) in rows {
        let r = RowReader::new("l2_blocks", format_args!("number {number} at L1 block {pruned_at}"));
        totals.add(r.u64("number", number)?, r.u64("tx_count", tx_count)?, fees.read(&r, "fees")?);
    }
    sqlx::query(
        "INSERT INTO epochs (epoch, init_block, final_block, block_count, tx_count, total_fees, proven_at_l1, \
         pruned_at_l1) VALUES (?, ?, ?, ?, ?, ?, 0, ?) ON CONFLICT (epoch) DO UPDATE SET \
         init_block = excluded.init_block, final_block = excluded.final_block, block_count = excluded.block_count, \
         tx_count = excluded.tx_count, total_fees = excluded.total_fees, pruned_at_l1 = excluded.pruned_at_l1",
    )
    .bind(epoch)
    .bind(int("epochs.init_block", totals.init_block)?)
    .bind(int("epochs.final_block", totals.final_block)?)
    .bind(int("epochs.block_count", totals.block_count)?)
    .bind(int("epochs.tx_count", totals.tx_count)?)
    .bind(&blob(totals.fees)[..])
    .bind(pruned_at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
