//! The pricing policy: what an epoch costs this prover to prove, the margin it wants, the
//! limits past which it declines, the bond it will stake, and how long its quotes stay valid.
//!
//! A policy is read from TOML (see `policy.example.toml`), with environment overrides applied on
//! top, and validated as a whole: a policy that could answer a fee or a bond of 0, or a fee over
//! 100 %, is refused.

use std::{fmt, path::Path};

use alloy_primitives::U256;
use epoch_quote::{MAX_BASIS_POINT_FEE, num::JsonScalar};
use serde::{Deserialize, Serialize};

/// Basis points in one whole.
const BPS: u64 = 10_000;

/// A validated pricing policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    /// Slots per epoch of the rollup, to turn an epoch number into an absolute slot.
    pub epoch_duration_slots: u64,
    /// What proving costs, in fee-token base units.
    pub cost: CostModel,
    /// How the fee is set.
    pub fee: FeeRule,
    /// Epochs past these limits are declined.
    pub limits: Limits,
    /// The bond offered.
    pub bond: BondRule,
    /// Slots, from the start of the epoch after the quoted one, during which a quote may be claimed.
    pub validity_slots: u64,
}

/// Proving cost: `per_epoch + per_block × blocks + per_tx × txs`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CostModel {
    /// Fixed cost of any epoch.
    #[schema(value_type = String)]
    #[serde(with = "decimal")]
    pub per_epoch: U256,
    /// Cost per L2 block.
    #[schema(value_type = String)]
    #[serde(with = "decimal")]
    pub per_block: U256,
    /// Cost per transaction.
    #[schema(value_type = String)]
    #[serde(with = "decimal")]
    pub per_tx: U256,
}

/// The fee: enough basis points of the epoch's fees to earn the cost plus the margin, at least
/// `min_bps`; above `max_bps` the epoch is declined.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FeeRule {
    /// Profit over cost, in basis points of the cost (2000 = cost + 20 %).
    pub margin_bps: u32,
    /// The lowest fee quoted (at least 1: a fee of 0 is never quoted).
    pub min_bps: u32,
    /// The highest fee quoted (at most 10000).
    pub max_bps: u32,
}

/// Limits past which an epoch is declined.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    /// Most transactions in an epoch this prover will take on.
    pub max_tx_count: u64,
    /// Most L2 blocks in an epoch this prover will take on.
    pub max_blocks: u64,
}

/// How the bond is chosen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "rule", rename_all = "snake_case", rename_all_fields = "camelCase")]
pub enum BondRule {
    /// The same bond for every quote.
    Fixed {
        /// The bond.
        #[schema(value_type = String)]
        #[serde(with = "decimal")]
        amount: U256,
    },
    /// A multiple of the expected payout, clamped to `[min, max]`.
    PayoutMultiple {
        /// The multiple in basis points (25000 = 2.5 × the payout).
        #[serde(rename = "multipleBps")]
        multiple_bps: u64,
        /// The smallest bond (at least 1).
        #[schema(value_type = String)]
        #[serde(with = "decimal")]
        min: U256,
        /// The largest bond.
        #[schema(value_type = String)]
        #[serde(with = "decimal")]
        max: U256,
    },
}

/// An epoch to price.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EpochSummary {
    /// The epoch.
    pub epoch_number: u64,
    /// First L2 block.
    pub from_block: u64,
    /// Last L2 block (inclusive, at least `from_block`).
    pub end_block: u64,
    /// Transactions in the epoch.
    pub tx_count: u64,
    /// Sum of the epoch's fees.
    pub total_fees: U256,
}

impl EpochSummary {
    /// Number of blocks in the epoch.
    pub fn blocks(&self) -> u64 {
        self.end_block.saturating_sub(self.from_block).saturating_add(1)
    }
}

/// A priced quote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Priced {
    /// The fee, 1..=10000.
    pub basis_point_fee: u32,
    /// The bond, at least 1.
    pub bond_amount: U256,
    /// Last slot (absolute, inclusive) at which the quote may be claimed.
    pub valid_until_slot: u64,
    /// Whether that slot is the one requested or the policy's limit.
    pub validity_from: ValidityFrom,
    /// What proving the epoch costs under the policy.
    pub cost: U256,
    /// What the prover is paid at this fee (`total_fees × fee / 10000`, rounded down as on L1).
    pub payout: U256,
}

/// Where a quote's `validUntilSlot` comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ValidityFrom {
    /// The slot the request asked for (at most the policy's limit).
    Request,
    /// The policy's limit: none was asked for, or the one asked for was later.
    Policy,
}

/// Why an epoch is not quoted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Decline {
    /// More transactions than `limits.max_tx_count`.
    #[error("{tx_count} transactions exceed the limit of {max}")]
    TooManyTxs {
        /// Transactions in the epoch.
        tx_count: u64,
        /// The limit.
        max: u64,
    },
    /// More blocks than `limits.max_blocks`.
    #[error("{blocks} blocks exceed the limit of {max}")]
    TooManyBlocks {
        /// Blocks in the epoch.
        blocks: u64,
        /// The limit.
        max: u64,
    },
    /// Even the whole of the fees would not cover the cost.
    #[error("the epoch's fees ({total_fees}) do not cover the proving cost ({cost})")]
    FeesBelowCost {
        /// The epoch's fees.
        total_fees: U256,
        /// The proving cost.
        cost: U256,
    },
    /// The fee needed for cost plus margin is above `fee.max_bps`.
    #[error("covering cost and margin needs {required_bps} basis points, above the maximum of {max_bps}")]
    FeeAboveMaximum {
        /// The fee needed.
        required_bps: U256,
        /// The maximum.
        max_bps: u32,
    },
    /// The requested `validUntilSlot` ends before the epoch's claim window opens: such a quote
    /// could never be claimed.
    #[error("validUntilSlot {requested} is before the epoch's claim window opens at slot {window_start}")]
    ValidityBeforeClaimWindow {
        /// The slot asked for.
        requested: u64,
        /// The first slot of the claim window.
        window_start: u64,
    },
}

impl Decline {
    /// The stable machine-readable reason.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooManyTxs { .. } => "too_many_txs",
            Self::TooManyBlocks { .. } => "too_many_blocks",
            Self::FeesBelowCost { .. } => "fees_below_cost",
            Self::FeeAboveMaximum { .. } => "fee_above_maximum",
            Self::ValidityBeforeClaimWindow { .. } => "validity_before_claim_window",
        }
    }

    /// Every reason, for metrics and documentation.
    pub const CODES: [&'static str; 5] =
        ["too_many_txs", "too_many_blocks", "fees_below_cost", "fee_above_maximum", "validity_before_claim_window"];
}

fn div_ceil(a: U256, b: U256) -> U256 {
    let (q, r) = a.div_rem(b);
    if r.is_zero() { q } else { q + U256::from(1) }
}

impl Policy {
    /// Prices `epoch`, valid until `requested_validity` when one is asked for and the policy's
    /// validity reaches that far (never beyond the policy's), or says why not.
    pub fn price(&self, epoch: &EpochSummary, requested_validity: Option<u64>) -> Result<Priced, Decline> {
        if epoch.tx_count > self.limits.max_tx_count {
            return Err(Decline::TooManyTxs { tx_count: epoch.tx_count, max: self.limits.max_tx_count });
        }
        let blocks = epoch.blocks();
        if blocks > self.limits.max_blocks {
            return Err(Decline::TooManyBlocks { blocks, max: self.limits.max_blocks });
        }
        let cost = self
            .cost
            .per_epoch
            .saturating_add(self.cost.per_block.saturating_mul(U256::from(blocks)))
            .saturating_add(self.cost.per_tx.saturating_mul(U256::from(epoch.tx_count)));
        if epoch.total_fees.is_zero() || epoch.total_fees < cost {
            return Err(Decline::FeesBelowCost { total_fees: epoch.total_fees, cost });
        }
        let bps = U256::from(BPS);
        // Rounded up twice, so the payout (rounded down on L1) never falls below cost + margin.
        let target = div_ceil(cost.saturating_mul(bps + U256::from(self.fee.margin_bps)), bps);
        let required_bps = div_ceil(target.saturating_mul(bps), epoch.total_fees);
        if required_bps > U256::from(self.fee.max_bps) {
            return Err(Decline::FeeAboveMaximum { required_bps, max_bps: self.fee.max_bps });
        }
        let basis_point_fee = required_bps.saturating_to::<u32>().max(self.fee.min_bps);
        let payout = epoch.total_fees.saturating_mul(U256::from(basis_point_fee)) / bps;
        let bond_amount = match &self.bond {
            BondRule::Fixed { amount } => *amount,
            BondRule::PayoutMultiple { multiple_bps, min, max } => {
                (payout.saturating_mul(U256::from(*multiple_bps)) / bps).clamp(*min, *max)
            }
        };
        let window_start = epoch.epoch_number.saturating_add(1).saturating_mul(self.epoch_duration_slots);
        let limit = window_start.saturating_add(self.validity_slots - 1);
        let (valid_until_slot, validity_from) = match requested_validity {
            Some(requested) if requested < window_start => {
                return Err(Decline::ValidityBeforeClaimWindow { requested, window_start });
            }
            Some(requested) if requested <= limit => (requested, ValidityFrom::Request),
            _ => (limit, ValidityFrom::Policy),
        };
        Ok(Priced { basis_point_fee, bond_amount, valid_until_slot, validity_from, cost, payout })
    }

    /// Reads a policy from TOML text, applies `overrides` and validates it.
    pub fn from_toml(text: &str, overrides: &[Override]) -> Result<Self, PolicyError> {
        let mut table: toml::Table = toml::from_str(text).map_err(|e| PolicyError::Toml(e.to_string()))?;
        for o in overrides {
            o.apply(&mut table)?;
        }
        let file: PolicyFile = toml::Value::Table(table).try_into().map_err(|e| PolicyError::Toml(e.to_string()))?;
        file.validate()
    }

    /// Reads and validates the policy file at `path`.
    pub fn from_file(path: &Path, overrides: &[Override]) -> Result<Self, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|e| PolicyError::Read(format!("{}: {e}", path.display())))?;
        Self::from_toml(&text, overrides)
    }

    /// The built-in policy (used without a policy file), with `overrides` applied.
    pub fn builtin(overrides: &[Override]) -> Result<Self, PolicyError> {
        Self::from_toml(BUILTIN_POLICY, overrides)
    }
}

/// The built-in policy: the example file shipped with the service.
pub const BUILTIN_POLICY: &str = include_str!("../policy.example.toml");

/// An environment override: `QUOTE_POLICY__FEE__MAX_BPS=4000` sets `fee.max_bps`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Override {
    /// The TOML key path, lower case (`["fee", "max_bps"]`).
    pub path: Vec<String>,
    /// The raw value: a TOML value (`4000`, `"1000"`, `true`), or else taken as a string.
    pub value: String,
}

/// The prefix of environment overrides.
pub const OVERRIDE_PREFIX: &str = "QUOTE_POLICY__";

impl Override {
    /// The overrides among `vars` (environment variables).
    pub fn from_env_vars(vars: impl IntoIterator<Item = (String, String)>) -> Vec<Self> {
        let mut overrides: Vec<Self> = vars
            .into_iter()
            .filter_map(|(name, value)| {
                let rest = name.strip_prefix(OVERRIDE_PREFIX)?;
                let path = rest.split("__").map(str::to_ascii_lowercase).collect();
                Some(Self { path, value })
            })
            .collect();
        overrides.sort_by(|a, b| a.path.cmp(&b.path));
        overrides
    }

    fn apply(&self, table: &mut toml::Table) -> Result<(), PolicyError> {
        let name = self.path.join(".");
        let (last, parents) = self.path.split_last().ok_or_else(|| PolicyError::Override(name.clone()))?;
        let mut current = table;
        for key in parents {
            let entry = current.entry(key.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
            current = entry.as_table_mut().ok_or_else(|| PolicyError::Override(name.clone()))?;
        }
        let value = toml::from_str::<toml::Table>(&format!("v = {}", self.value))
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(self.value.clone()));
        current.insert(last.clone(), value);
        Ok(())
    }
}

/// Why a policy was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be read.
    #[error("cannot read the policy file {0}")]
    Read(String),
    /// Not valid TOML, or not the policy's shape (unknown keys are refused, to catch typos).
    #[error("invalid policy: {0}")]
    Toml(String),
    /// An override names a key inside a value that is not a table.
    #[error("override {0} does not name a policy key")]
    Override(String),
    /// A value out of its allowed range.
    #[error("invalid policy: {field} {reason}")]
    Invalid {
        /// The key.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
}

fn invalid(field: &'static str, reason: impl fmt::Display) -> PolicyError {
    PolicyError::Invalid { field, reason: reason.to_string() }
}

/// The file's shape. Amounts are integers or decimal/hex strings (TOML integers stop at 2^63).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    epoch_duration_slots: u64,
    validity_slots: u64,
    cost: CostFile,
    fee: FeeFile,
    limits: LimitsFile,
    bond: BondFile,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CostFile {
    per_epoch: JsonScalar,
    per_block: JsonScalar,
    per_tx: JsonScalar,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FeeFile {
    margin_bps: u32,
    min_bps: u32,
    max_bps: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsFile {
    max_tx_count: u64,
    max_blocks: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BondFile {
    rule: String,
    amount: Option<JsonScalar>,
    multiple: Option<f64>,
    min: Option<JsonScalar>,
    max: Option<JsonScalar>,
}

fn amount(field: &'static str, value: &JsonScalar) -> Result<U256, PolicyError> {
    value.to_u256().map_err(|e| invalid(field, e))
}

fn required_amount(field: &'static str, value: &Option<JsonScalar>) -> Result<U256, PolicyError> {
    amount(field, value.as_ref().ok_or_else(|| invalid(field, "is required by this bond rule"))?)
}

impl PolicyFile {
    fn validate(self) -> Result<Policy, PolicyError> {
        if self.epoch_duration_slots == 0 {
            return Err(invalid("epoch_duration_slots", "must be at least 1"));
        }
        if self.validity_slots == 0 {
            return Err(invalid("validity_slots", "must be at least 1"));
        }
        let fee = FeeRule { margin_bps: self.fee.margin_bps, min_bps: self.fee.min_bps, max_bps: self.fee.max_bps };
        if fee.min_bps == 0 {
            return Err(invalid("fee.min_bps", "must be at least 1 (a fee of 0 is never quoted)"));
        }
        if fee.max_bps > MAX_BASIS_POINT_FEE {
            return Err(invalid("fee.max_bps", "must be at most 10000"));
        }
        if fee.min_bps > fee.max_bps {
            return Err(invalid("fee.min_bps", format!("{} is above fee.max_bps ({})", fee.min_bps, fee.max_bps)));
        }
        if self.limits.max_tx_count == 0 || self.limits.max_blocks == 0 {
            return Err(invalid("limits", "max_tx_count and max_blocks must be at least 1"));
        }
        let bond = match self.bond.rule.as_str() {
            "fixed" => {
                let amount = required_amount("bond.amount", &self.bond.amount)?;
                if amount.is_zero() {
                    return Err(invalid("bond.amount", "must be at least 1 (a bond of 0 is never quoted)"));
                }
                BondRule::Fixed { amount }
            }
            "payout_multiple" => {
                let multiple = self.bond.multiple.ok_or_else(|| invalid("bond.multiple", "is required"))?;
                if !(multiple.is_finite() && multiple > 0.0 && multiple <= 1_000_000.0) {
                    return Err(invalid("bond.multiple", "must be a number above 0 (and at most 1000000)"));
                }
                let min = required_amount("bond.min", &self.bond.min)?;
                let max = required_amount("bond.max", &self.bond.max)?;
                if min.is_zero() {
                    return Err(invalid("bond.min", "must be at least 1 (a bond of 0 is never quoted)"));
                }
                if min > max {
                    return Err(invalid("bond.min", "is above bond.max"));
                }
                BondRule::PayoutMultiple { multiple_bps: (multiple * BPS as f64).round() as u64, min, max }
            }
            other => return Err(invalid("bond.rule", format!("{other:?} is not \"fixed\" or \"payout_multiple\""))),
        };
        Ok(Policy {
            epoch_duration_slots: self.epoch_duration_slots,
            cost: CostModel {
                per_epoch: amount("cost.per_epoch", &self.cost.per_epoch)?,
                per_block: amount("cost.per_block", &self.cost.per_block)?,
                per_tx: amount("cost.per_tx", &self.cost.per_tx)?,
            },
            fee,
            limits: Limits { max_tx_count: self.limits.max_tx_count, max_blocks: self.limits.max_blocks },
            bond,
            validity_slots: self.validity_slots,
        })
    }
}

/// Serializes a `U256` as a decimal string.
mod decimal {
    use alloy_primitives::U256;
    use serde::Serializer;

    pub(super) fn serialize<S: Serializer>(value: &U256, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }
}
