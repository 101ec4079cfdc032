//! The rows both backends read, typed by how each stores a uint256 (`N`: PostgreSQL's NUMERIC,
//! SQLite's BLOB) and a fee (`F`: PostgreSQL's INTEGER, SQLite's INTEGER as `i64`), decoded to
//! records in one place.

use alloy::primitives::U256;
use epoch_quote::{EpochProofQuote, SignedEpochProofQuote};

use super::{
    ClaimPayout, ClaimRecord, EpochRecord, ProverEpochQuotes, ProverQuoteTotals, QuoteRecord, RowReader, StoreError,
};
use crate::domain::ClaimOutcome;

/// A uint256 as a backend stores it, read back or refused with the row and column named.
pub(crate) trait StoredUint256 {
    fn read(&self, r: &RowReader, column: &'static str) -> Result<U256, StoreError>;
}

/// The columns of `quotes` a [`QuoteRecord`] is read from.
#[derive(sqlx::FromRow)]
pub(crate) struct QuoteRow<N, F = i64> {
    pub(crate) seq: i64,
    pub(crate) id: Vec<u8>,
    pub(crate) prover: Vec<u8>,
    pub(crate) epoch: i64,
    pub(crate) epoch_init_block: i64,
    pub(crate) epoch_final_block: i64,
    pub(crate) total_fees: N,
    pub(crate) rollup_address: Vec<u8>,
    pub(crate) basis_point_fee: F,
    pub(crate) bond_amount: N,
    pub(crate) valid_until_slot: N,
    pub(crate) signature: Vec<u8>,
    pub(crate) status: String,
    pub(crate) received_at_ms: i64,
}

impl<N: StoredUint256, F: Into<i64>> QuoteRow<N, F> {
    pub(crate) fn decode(self) -> Result<QuoteRecord, StoreError> {
        let r = RowReader::new("quotes", format_args!("seq {}", self.seq));
        let quote = EpochProofQuote {
            prover: r.address("prover", &self.prover)?,
            epoch_number: U256::from(r.u64("epoch", self.epoch)?),
            epoch_init_block: U256::from(r.u64("epoch_init_block", self.epoch_init_block)?),
            epoch_final_block: U256::from(r.u64("epoch_final_block", self.epoch_final_block)?),
            total_fees: self.total_fees.read(&r, "total_fees")?,
            rollup_address: r.address("rollup_address", &self.rollup_address)?,
            basis_point_fee: r.fee("basis_point_fee", self.basis_point_fee.into())?,
            bond_amount: self.bond_amount.read(&r, "bond_amount")?,
            valid_until_slot: self.valid_until_slot.read(&r, "valid_until_slot")?,
        };
        Ok(QuoteRecord {
            seq: self.seq,
            id: r.b256("id", &self.id)?,
            quote: SignedEpochProofQuote { quote, signature: r.signature("signature", &self.signature)? },
            status: r.status("status", &self.status)?,
            received_at_ms: self.received_at_ms,
        })
    }
}

/// The columns of `epochs`.
#[derive(sqlx::FromRow)]
pub(crate) struct EpochRow<N> {
    pub(crate) epoch: i64,
    pub(crate) init_block: i64,
    pub(crate) final_block: i64,
    pub(crate) block_count: i64,
    pub(crate) tx_count: i64,
    pub(crate) total_fees: N,
    pub(crate) proven_at_l1: i64,
    pub(crate) pruned_at_l1: i64,
}

impl<N: StoredUint256> EpochRow<N> {
    pub(crate) fn decode(self) -> Result<EpochRecord, StoreError> {
        let r = RowReader::new("epochs", format_args!("epoch {}", self.epoch));
        Ok(EpochRecord {
            epoch: r.u64("epoch", self.epoch)?,
            init_block: r.u64("init_block", self.init_block)?,
            final_block: r.u64("final_block", self.final_block)?,
            block_count: r.u64("block_count", self.block_count)?,
            tx_count: r.u64("tx_count", self.tx_count)?,
            total_fees: self.total_fees.read(&r, "total_fees")?,
            proven_at: (self.proven_at_l1 != 0).then(|| r.u64("proven_at_l1", self.proven_at_l1)).transpose()?,
            pruned: self.pruned_at_l1 != 0,
        })
    }
}

/// The columns of `claims`.
#[derive(sqlx::FromRow)]
pub(crate) struct ClaimRow<N, F = i64> {
    pub(crate) epoch: i64,
    pub(crate) quote_id: Vec<u8>,
    pub(crate) bond_provider: Vec<u8>,
    pub(crate) proposer: Vec<u8>,
    pub(crate) bond_amount: N,
    pub(crate) basis_point_fee: F,
    pub(crate) claimed_at_slot: i64,
    pub(crate) l1_block: i64,
    pub(crate) l1_tx: Vec<u8>,
    pub(crate) outcome: String,
}

impl<N: StoredUint256, F: Into<i64>> ClaimRow<N, F> {
    pub(crate) fn decode(self) -> Result<(ClaimRecord, ClaimOutcome), StoreError> {
        let r = RowReader::new("claims", format_args!("epoch {} at L1 block {}", self.epoch, self.l1_block));
        let claim = ClaimRecord {
            epoch: r.u64("epoch", self.epoch)?,
            quote_id: r.b256("quote_id", &self.quote_id)?,
            bond_provider: r.address("bond_provider", &self.bond_provider)?,
            proposer: r.address("proposer", &self.proposer)?,
            bond_amount: self.bond_amount.read(&r, "bond_amount")?,
            basis_point_fee: r.fee("basis_point_fee", self.basis_point_fee.into())?,
            claimed_at_slot: r.u64("claimed_at_slot", self.claimed_at_slot)?,
            l1_block: r.u64("l1_block", self.l1_block)?,
            l1_tx: r.b256("l1_tx", &self.l1_tx)?,
        };
        Ok((claim, r.outcome("outcome", &self.outcome)?))
    }
}

/// The columns of `prover_epoch_quotes`.
#[derive(sqlx::FromRow)]
pub(crate) struct ProverEpochRow<F = i64> {
    pub(crate) epoch: i64,
    pub(crate) prover: Vec<u8>,
    pub(crate) quotes: i64,
    pub(crate) best_fee: F,
}

impl<F: Into<i64>> ProverEpochRow<F> {
    pub(crate) fn decode(self) -> Result<ProverEpochQuotes, StoreError> {
        let r = RowReader::new("prover_epoch_quotes", format_args!("epoch {}", self.epoch));
        Ok(ProverEpochQuotes {
            epoch: r.u64("epoch", self.epoch)?,
            prover: r.address("prover", &self.prover)?,
            quotes: r.u64("quotes", self.quotes)?,
            best_fee: r.fee("best_fee", self.best_fee.into())?,
        })
    }
}

/// A prover's rows of `prover_epoch_quotes`, summed.
#[derive(sqlx::FromRow)]
pub(crate) struct QuoteTotalsRow {
    pub(crate) prover: Vec<u8>,
    pub(crate) quotes: i64,
    pub(crate) epochs: i64,
}

impl QuoteTotalsRow {
    pub(crate) fn decode(self) -> Result<ProverQuoteTotals, StoreError> {
        let r = RowReader::new("prover_epoch_quotes", "totals");
        Ok(ProverQuoteTotals {
            prover: r.address("prover", &self.prover)?,
            quotes: r.u64("quotes", self.quotes)?,
            epochs: r.u64("epochs", self.epochs)?,
        })
    }
}

/// A claim with its epoch's total fees (none once the epoch's row is gone).
#[derive(sqlx::FromRow)]
pub(crate) struct PayoutRow<N, F = i64> {
    pub(crate) epoch: i64,
    pub(crate) bond_provider: Vec<u8>,
    pub(crate) basis_point_fee: F,
    pub(crate) outcome: String,
    pub(crate) total_fees: Option<N>,
    pub(crate) quoted: bool,
}

impl<N: StoredUint256, F: Into<i64>> PayoutRow<N, F> {
    pub(crate) fn decode(self) -> Result<ClaimPayout, StoreError> {
        let r = RowReader::new("claims", format_args!("epoch {}", self.epoch));
        let fee = r.fee("basis_point_fee", self.basis_point_fee.into())?;
        let total_fees = self.total_fees.map(|fees| fees.read(&r, "total_fees")).transpose()?.unwrap_or_default();
        Ok(ClaimPayout {
            epoch: r.u64("epoch", self.epoch)?,
            prover: r.address("bond_provider", &self.bond_provider)?,
            outcome: r.outcome("outcome", &self.outcome)?,
            // A proven claim's product fitted (the rollup reverts otherwise).
            payout: epoch_quote::prover_payout(total_fees, fee).unwrap_or_default(),
            quoted: self.quoted,
        })
    }
}
