//! The prover node's own small state, in a local SQLite file, so a restart neither quotes an
//! epoch twice nor starts a second proving job.

use alloy::primitives::{B256, U256};
use sqlx::{Row, SqlitePool, sqlite::SqliteConnectOptions};

/// What was quoted for an epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quoted {
    /// The quote's id.
    pub quote_id: B256,
    /// Its fee.
    pub basis_point_fee: u32,
    /// Its bond.
    pub bond_amount: U256,
}

/// Where a proving job is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobStatus {
    /// Started, proof not yet on L1.
    Running,
    /// The proof was accepted on L1.
    Submitted,
}

/// The state file.
#[derive(Clone, Debug)]
pub struct ProverState {
    pool: SqlitePool,
}

impl ProverState {
    /// Opens (creating) the state file at `path`.
    pub async fn open(path: &std::path::Path) -> Result<Self, sqlx::Error> {
        let options = SqliteConnectOptions::new().filename(path).create_if_missing(true);
        let pool = sqlx::sqlite::SqlitePoolOptions::new().max_connections(1).connect_with(options).await?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS quoted (epoch INTEGER PRIMARY KEY, quote_id TEXT NOT NULL, \
             basis_point_fee INTEGER NOT NULL, bond_amount TEXT NOT NULL)",
        )
        .execute(&pool)
        .await?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS jobs (epoch INTEGER PRIMARY KEY, quote_id TEXT NOT NULL, status TEXT NOT NULL, \
             proof_tx TEXT)",
        )
        .execute(&pool)
        .await?;
        Ok(Self { pool })
    }

    /// What was last quoted for `epoch`.
    pub async fn quoted(&self, epoch: u64) -> Result<Option<Quoted>, sqlx::Error> {
        let row = sqlx::query("SELECT quote_id, basis_point_fee, bond_amount FROM quoted WHERE epoch = $1")
            .bind(epoch as i64)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.and_then(|r| {
            Some(Quoted {
                quote_id: r.try_get::<String, _>(0).ok()?.parse().ok()?,
                basis_point_fee: u32::try_from(r.try_get::<i64, _>(1).ok()?).ok()?,
                bond_amount: r.try_get::<String, _>(2).ok()?.parse().ok()?,
            })
        }))
    }

    /// Records the quote sent for `epoch`.
    pub async fn record_quote(&self, epoch: u64, quoted: Quoted) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO quoted (epoch, quote_id, basis_point_fee, bond_amount) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (epoch) DO UPDATE SET quote_id = excluded.quote_id, basis_point_fee = excluded.basis_point_fee, \
             bond_amount = excluded.bond_amount",
        )
        .bind(epoch as i64)
        .bind(quoted.quote_id.to_string())
        .bind(i64::from(quoted.basis_point_fee))
        .bind(quoted.bond_amount.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records that the job for `epoch` starts; `false` if one was started before (by this
    /// process or an earlier one).
    pub async fn start_job(&self, epoch: u64, quote_id: B256) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "INSERT INTO jobs (epoch, quote_id, status) VALUES ($1, $2, 'running') ON CONFLICT (epoch) DO NOTHING",
        )
        .bind(epoch as i64)
        .bind(quote_id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The job of `epoch`, if one was started.
    pub async fn job(&self, epoch: u64) -> Result<Option<JobStatus>, sqlx::Error> {
        let row = sqlx::query("SELECT status FROM jobs WHERE epoch = $1")
            .bind(epoch as i64)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row
            .and_then(|r| r.try_get::<String, _>(0).ok())
            .map(|s| if s == "submitted" { JobStatus::Submitted } else { JobStatus::Running }))
    }

    /// Records that the proof of `epoch` landed in `tx`.
    pub async fn finish_job(&self, epoch: u64, tx: B256) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE jobs SET status = 'submitted', proof_tx = $1 WHERE epoch = $2")
            .bind(tx.to_string())
            .bind(epoch as i64)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
