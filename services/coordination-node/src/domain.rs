//! The node's domain: why a quote is refused and what the node reports happened. Nothing here
//! knows about HTTP or the database; the API and the store translate to and from these types.

use alloy::primitives::{Address, B256, U256};
use epoch_quote::QuoteJsonError;
pub use node_api::{ClaimOutcome, EventKind, QuoteStatus, RefusalCode};
use serde::Serialize;

/// Why the node refused a quote, with the values involved: one variant per rule, each with one
/// [`RefusalCode`]. HTTP intake answers it as an error; gossip validation turns it into a verdict.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The body is not a quote in its JSON form (the quote library names the field).
    #[error(transparent)]
    Malformed(QuoteJsonError),
    /// The signature does not recover to the prover under the node's EIP-712 domain.
    #[error("{0}")]
    InvalidSignature(String),
    /// The quote is for another rollup.
    #[error("the quote is for rollup {quote}; this node serves rollup {node}")]
    WrongRollup {
        /// The quote's rollup.
        quote: Address,
        /// The node's.
        node: Address,
    },
    /// A gossiped quote signed for another chain.
    #[error("the quote is signed for chain {quote}; this node serves chain {node}")]
    WrongChain {
        /// The quote's chain id.
        quote: u64,
        /// The node's.
        node: u64,
    },
    /// The epoch has not ended as far as the node can tell.
    #[error("epoch {epoch} has not ended (the L1 is in epoch {current})")]
    EpochNotComplete {
        /// The quote's epoch.
        epoch: U256,
        /// The epoch L1 is in.
        current: u64,
    },
    /// The epoch has no blocks.
    #[error("epoch {0} has no blocks on L1")]
    EpochNotFound(u64),
    /// The epoch is proven.
    #[error("epoch {0} is already proven")]
    EpochProven(u64),
    /// The epoch was pruned.
    #[error("epoch {0} was pruned")]
    EpochPruned(u64),
    /// Another quote was claimed for the epoch.
    #[error("epoch {epoch} is already claimed{}", by.map(|p| format!(" with the quote of {p}")).unwrap_or_default())]
    EpochAlreadyClaimed {
        /// The epoch.
        epoch: u64,
        /// The prover whose quote was claimed, when known.
        by: Option<Address>,
    },
    /// The quote's block range or fees differ from the epoch's on L1.
    #[error(
        "the quote is for blocks {}..={} with fees {}; epoch {epoch} on L1 is blocks {}..={} with fees {}",
        quote.0, quote.1, quote.2, l1.0, l1.1, l1.2
    )]
    EpochMismatch {
        /// The epoch.
        epoch: u64,
        /// The quote's first block, last block and fees.
        quote: (U256, U256, U256),
        /// The epoch's on L1.
        l1: (u64, u64, U256),
    },
    /// Past `validUntilSlot` or the claim window.
    #[error(
        "the quote can no longer be claimed: slot {slot}, valid until slot {valid_until_slot}, claim window ends at slot {window_end}"
    )]
    QuoteExpired {
        /// The current slot.
        slot: u64,
        /// The quote's last slot.
        valid_until_slot: U256,
        /// The last slot of the claim window.
        window_end: u64,
    },
    /// The bond is below the rollup's minimum.
    #[error("bond {bond} is below the rollup's minimum of {minimum}")]
    BondTooLow {
        /// The quote's bond.
        bond: U256,
        /// The rollup's minimum.
        minimum: U256,
    },
    /// The bond exceeds the prover's escrow deposit.
    #[error("bond {bond} exceeds the prover's escrow deposit of {deposit}")]
    InsufficientEscrow {
        /// The quote's bond.
        bond: U256,
        /// The deposit.
        deposit: U256,
    },
    /// The epoch holds pending quotes from as many provers as the node keeps.
    #[error("epoch {epoch} already holds pending quotes from {cap} provers")]
    EpochFull {
        /// The epoch.
        epoch: u64,
        /// The per-epoch cap.
        cap: u32,
    },
}

impl Refusal {
    /// The stable code.
    pub fn code(&self) -> RefusalCode {
        match self {
            Self::Malformed(error) => match error {
                QuoteJsonError::Syntax(_) => RefusalCode::InvalidJson,
                QuoteJsonError::Field(field) => match field.kind {
                    epoch_quote::FieldErrorKind::Missing => RefusalCode::MissingField,
                    epoch_quote::FieldErrorKind::Number(_) => RefusalCode::InvalidNumber,
                    epoch_quote::FieldErrorKind::FeeAboveMaximum(_) => RefusalCode::FeeAboveMaximum,
                    epoch_quote::FieldErrorKind::Address => RefusalCode::InvalidAddress,
                    epoch_quote::FieldErrorKind::Signature(_) => RefusalCode::InvalidSignature,
                },
            },
            Self::InvalidSignature(_) => RefusalCode::InvalidSignature,
            Self::WrongRollup { .. } => RefusalCode::WrongRollup,
            Self::WrongChain { .. } => RefusalCode::WrongChain,
            Self::EpochNotComplete { .. } => RefusalCode::EpochNotComplete,
            Self::EpochNotFound(_) => RefusalCode::EpochNotFound,
            Self::EpochProven(_) => RefusalCode::EpochProven,
            Self::EpochPruned(_) => RefusalCode::EpochPruned,
            Self::EpochAlreadyClaimed { .. } => RefusalCode::EpochAlreadyClaimed,
            Self::EpochMismatch { .. } => RefusalCode::EpochMismatch,
            Self::QuoteExpired { .. } => RefusalCode::QuoteExpired,
            Self::BondTooLow { .. } => RefusalCode::BondTooLow,
            Self::InsufficientEscrow { .. } => RefusalCode::InsufficientEscrow,
            Self::EpochFull { .. } => RefusalCode::EpochFull,
        }
    }

    /// The request field at fault, when the refusal is about one field.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::Malformed(QuoteJsonError::Field(field)) => Some(field.field),
            Self::Malformed(QuoteJsonError::Syntax(_)) => None,
            Self::InvalidSignature(_) => Some("signature"),
            Self::WrongRollup { .. } => Some("rollupAddress"),
            _ => None,
        }
    }
}

/// Why a pending quote expired.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpiryReason {
    /// Its `validUntilSlot` passed.
    ValidUntilSlot,
    /// Its epoch was claimed (with another quote), proven or pruned.
    EpochDecided,
}

/// What the node reports on its event stream, in the order it happened. Serialised as the
/// event's kind and its JSON data (the `data` of the SSE event).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
pub enum NodeEvent {
    /// A quote was stored.
    #[serde(rename_all = "camelCase")]
    QuoteAccepted {
        /// Its id.
        id: B256,
        /// Its prover (EIP-55).
        #[serde(with = "as_text")]
        prover: Address,
        /// Its epoch (decimal string).
        #[serde(with = "as_text")]
        epoch: U256,
        /// Its fee.
        basis_point_fee: u32,
        /// Its bond (decimal string).
        #[serde(with = "as_text")]
        bond_amount: U256,
    },
    /// A newer quote of the same prover and epoch replaced `id`.
    QuoteSuperseded {
        /// The replaced quote.
        id: B256,
        /// The quote that replaced it.
        by: B256,
        /// Their epoch (absent from events stored by earlier versions).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        epoch: Option<u64>,
    },
    /// A pending quote can no longer be claimed.
    QuoteExpired {
        /// The quote.
        id: B256,
        /// Its epoch.
        epoch: u64,
        /// Why.
        reason: ExpiryReason,
    },
    /// An epoch with blocks ended.
    #[serde(rename_all = "camelCase")]
    EpochCompleted {
        /// The epoch.
        epoch: u64,
        /// Its first block.
        init_block: u64,
        /// Its last block.
        final_block: u64,
        /// Its blocks.
        block_count: u64,
        /// Its transactions.
        tx_count: u64,
        /// Its fees (decimal string).
        #[serde(with = "as_text")]
        total_fees: U256,
    },
    /// An epoch was claimed.
    #[serde(rename_all = "camelCase")]
    ClaimSeen {
        /// The epoch.
        epoch: u64,
        /// The claimed quote.
        quote_id: B256,
        /// Its prover, whose bond is staked (EIP-55).
        #[serde(with = "as_text")]
        bond_provider: Address,
        /// The proposer that claimed (EIP-55).
        #[serde(with = "as_text")]
        proposer: Address,
        /// The bond (decimal string).
        #[serde(with = "as_text")]
        bond_amount: U256,
        /// The fee.
        basis_point_fee: u32,
        /// The slot of the claim.
        claimed_at_slot: u64,
        /// The L1 block of the claim.
        l1_block: u64,
        /// The L1 transaction of the claim.
        l1_tx: B256,
    },
    /// An epoch was proven.
    #[serde(rename_all = "camelCase")]
    ProofSeen {
        /// The epoch.
        epoch: u64,
        /// The L1 block of the proof.
        l1_block: u64,
    },
    /// A claimed bond was slashed.
    #[serde(rename_all = "camelCase")]
    BondSlashed {
        /// The epoch.
        epoch: u64,
        /// The L1 block of the prune that slashed it.
        l1_block: u64,
    },
    /// An epoch's blocks were rolled back.
    #[serde(rename_all = "camelCase")]
    EpochPruned {
        /// The epoch.
        epoch: u64,
        /// The L1 block of the prune.
        l1_block: u64,
    },
    /// An L1 reorg: the view went back to `fork_l1_block`.
    #[serde(rename_all = "camelCase")]
    ChainReorg {
        /// The newest L1 block still canonical.
        fork_l1_block: u64,
    },
}

impl NodeEvent {
    /// Its kind.
    pub fn kind(&self) -> EventKind {
        match self {
            Self::QuoteAccepted { .. } => EventKind::QuoteAccepted,
            Self::QuoteSuperseded { .. } => EventKind::QuoteSuperseded,
            Self::QuoteExpired { .. } => EventKind::QuoteExpired,
            Self::EpochCompleted { .. } => EventKind::EpochCompleted,
            Self::ClaimSeen { .. } => EventKind::ClaimSeen,
            Self::ProofSeen { .. } => EventKind::ProofSeen,
            Self::BondSlashed { .. } => EventKind::BondSlashed,
            Self::EpochPruned { .. } => EventKind::EpochPruned,
            Self::ChainReorg { .. } => EventKind::ChainReorg,
        }
    }

    /// The epoch it concerns, if any (a reorg concerns none).
    pub fn epoch(&self) -> Option<u64> {
        match self {
            Self::QuoteAccepted { epoch, .. } => u64::try_from(*epoch).ok(),
            Self::QuoteSuperseded { epoch, .. } => *epoch,
            Self::QuoteExpired { epoch, .. }
            | Self::EpochCompleted { epoch, .. }
            | Self::ClaimSeen { epoch, .. }
            | Self::ProofSeen { epoch, .. }
            | Self::BondSlashed { epoch, .. }
            | Self::EpochPruned { epoch, .. } => Some(*epoch),
            Self::ChainReorg { .. } => None,
        }
    }

    /// Its data as JSON text (the stream's `data` field).
    pub fn data(&self) -> String {
        let mut tagged = serde_json::to_value(self).unwrap_or_default();
        tagged.get_mut("data").map(serde_json::Value::take).unwrap_or_default().to_string()
    }

    /// Reads an event back from its kind and data.
    pub fn parse(kind: &str, data: &str) -> Result<Self, serde_json::Error> {
        let data: serde_json::Value = serde_json::from_str(data)?;
        serde_json::from_value(serde_json::json!({"kind": kind, "data": data}))
    }
}

/// A value written as its `Display` text and read back with `FromStr`: addresses EIP-55
/// checksummed and uint256 values as decimal strings, as in the quote's JSON form.
pub(crate) mod as_text {
    use std::{fmt::Display, str::FromStr};

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<T: Display, S: Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }

    /// An optional value as text, or `null`.
    pub(crate) fn serialize_option<T: Display, S: Serializer>(
        value: &Option<T>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => serializer.collect_str(value),
            None => serializer.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, T, D>(deserializer: D) -> Result<T, D::Error>
    where
        T: FromStr,
        T::Err: Display,
        D: Deserializer<'de>,
    {
        String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_keep_their_json_shape() {
        let event = NodeEvent::QuoteAccepted {
            id: B256::repeat_byte(1),
            prover: Address::repeat_byte(0xab),
            epoch: U256::from(7),
            basis_point_fee: 250,
            bond_amount: U256::MAX,
        };
        assert_eq!(event.kind(), EventKind::QuoteAccepted);
        let data: serde_json::Value = serde_json::from_str(&event.data()).expect("json");
        assert_eq!(data["epoch"], "7");
        assert_eq!(data["basisPointFee"], 250);
        assert_eq!(data["bondAmount"], U256::MAX.to_string());
        assert_eq!(data["prover"], Address::repeat_byte(0xab).to_checksum(None));
        assert_eq!(NodeEvent::parse("quote_accepted", &event.data()).expect("reads back"), event);
        let reorg = NodeEvent::ChainReorg { fork_l1_block: 41 };
        assert_eq!(reorg.data(), r#"{"forkL1Block":41}"#);
        let expired = NodeEvent::QuoteExpired { id: B256::ZERO, epoch: 3, reason: ExpiryReason::ValidUntilSlot };
        assert!(expired.data().contains(r#""reason":"valid_until_slot""#), "{}", expired.data());
        // A superseded quote's event names its epoch; one stored before it did still reads.
        let superseded = NodeEvent::QuoteSuperseded { id: B256::ZERO, by: B256::repeat_byte(2), epoch: Some(5) };
        assert!(superseded.data().contains(r#""epoch":5"#), "{}", superseded.data());
        let old = format!(r#"{{"id":"{}","by":"{}"}}"#, B256::ZERO, B256::repeat_byte(2));
        let read = NodeEvent::parse("quote_superseded", &old).expect("an earlier version's event reads");
        assert_eq!(read.epoch(), None);
    }

    #[test]
    fn every_refusal_has_its_code() {
        let refusal = Refusal::EpochAlreadyClaimed { epoch: 3, by: Some(Address::repeat_byte(1)) };
        assert_eq!(refusal.code(), RefusalCode::EpochAlreadyClaimed);
        assert!(refusal.to_string().contains("with the quote of 0x0101"), "{refusal}");
        assert_eq!(Refusal::EpochAlreadyClaimed { epoch: 3, by: None }.to_string(), "epoch 3 is already claimed");
    }
}
