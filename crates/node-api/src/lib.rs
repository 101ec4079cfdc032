//! The coordination node's API contract, shared by the node and every client of it: the codes a
//! refusal carries, the statuses of a quote, the outcomes of a claim and the kinds of event.
//! Codes are part of the contract: add, never rename.

use std::{fmt, str::FromStr};

use alloy_primitives::B256;
use serde::{Deserialize, Serialize};

#[cfg(feature = "client")]
pub mod client;
pub mod sse;

/// Declares a fieldless enum whose variants are written as fixed snake_case names, with `ALL`,
/// `as_str`, `Display` and `FromStr`.
macro_rules! named_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant,)+];

            /// The name on the wire.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownName;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    other => Err(UnknownName { kind: stringify!($name), name: other.to_owned() }),
                }
            }
        }
    };
}

/// A name that is not one of an enum's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownName {
    /// The enum.
    pub kind: &'static str,
    /// The name given.
    pub name: String,
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} is not a {}", self.name, self.kind)
    }
}

impl std::error::Error for UnknownName {}

named_enum! {
    /// Why the node refused a quote (the `code` of its error answer, and of a gossip verdict).
    /// Each code is one rule; the node never stores a quote it refused.
    pub enum RefusalCode {
        /// The body is not JSON, or not an object.
        InvalidJson => "invalid_json",
        /// A field of the quote is absent (`field` names it).
        MissingField => "missing_field",
        /// A number field is negative, fractional, too large for its type or not a number.
        InvalidNumber => "invalid_number",
        /// An address field is not `0x` and 40 hex digits.
        InvalidAddress => "invalid_address",
        /// `basisPointFee` is above 10000.
        FeeAboveMaximum => "fee_above_maximum",
        /// The signature is malformed, high-`s`, or does not recover to the prover.
        InvalidSignature => "invalid_signature",
        /// The quote names another rollup than the node's.
        WrongRollup => "wrong_rollup",
        /// A gossiped quote is signed for another chain.
        WrongChain => "wrong_chain",
        /// A gossip message is not a quote.
        MalformedMessage => "malformed_message",
        /// The epoch has not ended on L1.
        EpochNotComplete => "epoch_not_complete",
        /// The epoch has no blocks on L1.
        EpochNotFound => "epoch_not_found",
        /// The epoch is proven.
        EpochProven => "epoch_proven",
        /// The epoch was pruned.
        EpochPruned => "epoch_pruned",
        /// Another quote was claimed for the epoch.
        EpochAlreadyClaimed => "epoch_already_claimed",
        /// The quote's block range or fees differ from the epoch's on L1.
        EpochMismatch => "epoch_mismatch",
        /// Past `validUntilSlot` or the epoch's claim window.
        QuoteExpired => "quote_expired",
        /// The bond is below the rollup's minimum.
        BondTooLow => "bond_too_low",
        /// The bond exceeds the prover's escrow deposit.
        InsufficientEscrow => "insufficient_escrow",
        /// The epoch already holds pending quotes from as many provers as the node keeps.
        EpochFull => "epoch_full",
    }
}

impl RefusalCode {
    /// The HTTP status of the answer: `400` for a malformed body, `422` for a quote that would
    /// fail on L1 or that the node cannot keep.
    pub fn http_status(self) -> u16 {
        match self {
            Self::InvalidJson
            | Self::MissingField
            | Self::InvalidNumber
            | Self::InvalidAddress
            | Self::FeeAboveMaximum => 400,
            _ => 422,
        }
    }

    /// Whether an HTTP submission can be refused with this code (the others are verdicts on
    /// gossip messages only).
    pub fn over_http(self) -> bool {
        !matches!(self, Self::WrongChain | Self::MalformedMessage)
    }

    /// Whether the sender of a gossiped quote refused with this code is at fault whatever the
    /// state of L1 (an honest peer never forwards such a quote), rather than the quote being
    /// stale, or valid elsewhere, or uncheckable here now.
    pub fn sender_at_fault(self) -> bool {
        matches!(
            self,
            Self::InvalidJson
                | Self::MissingField
                | Self::InvalidNumber
                | Self::InvalidAddress
                | Self::FeeAboveMaximum
                | Self::MalformedMessage
                | Self::InvalidSignature
                | Self::WrongChain
                | Self::WrongRollup
                | Self::BondTooLow
                | Self::EpochMismatch
                | Self::EpochNotFound
        )
    }

    /// Whether a quote refused with this code is invalid on its face, whatever L1 branch a
    /// node sees (unlike `epoch_mismatch` and `epoch_not_found`, which a node on another branch
    /// may not have found): its gossip sender may be blocked.
    pub fn forged(self) -> bool {
        self.sender_at_fault() && !matches!(self, Self::EpochMismatch | Self::EpochNotFound)
    }
}

named_enum! {
    /// Where a quote is in its life.
    pub enum QuoteStatus {
        /// Valid and claimable as far as the node knows.
        Pending => "pending",
        /// Named by the claim on L1.
        Claimed => "claimed",
        /// Can no longer be claimed (past `validUntilSlot`, or another quote was claimed, or its
        /// epoch was proven or pruned without it).
        Expired => "expired",
        /// Replaced by a newer quote from the same prover for the same epoch.
        Superseded => "superseded",
        /// Claimed, and the epoch was proven: the prover was paid.
        Proven => "proven",
        /// Claimed, and the epoch was not proven in time: the bond was slashed.
        Slashed => "slashed",
    }
}

named_enum! {
    /// What became of a claim.
    pub enum ClaimOutcome {
        /// Its epoch is not proven yet.
        Open => "open",
        /// Its epoch was proven; the bond was returned and the prover paid.
        Proven => "proven",
        /// Its epoch was pruned unproven; the bond was slashed.
        Slashed => "slashed",
    }
}

named_enum! {
    /// The kinds of event on the live stream (`GET /events`), each the SSE `event` name.
    pub enum EventKind {
        /// A quote was stored.
        QuoteAccepted => "quote_accepted",
        /// A newer quote of the same prover and epoch replaced one.
        QuoteSuperseded => "quote_superseded",
        /// A pending quote can no longer be claimed.
        QuoteExpired => "quote_expired",
        /// An epoch with blocks ended.
        EpochCompleted => "epoch_completed",
        /// An epoch was claimed on L1.
        ClaimSeen => "claim_seen",
        /// An epoch was proven on L1.
        ProofSeen => "proof_seen",
        /// A claimed epoch was not proven in time and its bond was slashed.
        BondSlashed => "bond_slashed",
        /// An epoch's blocks were rolled back.
        EpochPruned => "epoch_pruned",
        /// An L1 reorg: the node's view went back to a fork block.
        ChainReorg => "chain_reorg",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_round_trips_through_its_text_and_serde() {
        for code in RefusalCode::ALL {
            assert_eq!(code.as_str().parse::<RefusalCode>(), Ok(*code));
            assert_eq!(serde_json::to_value(code).ok(), Some(serde_json::Value::from(code.as_str())));
        }
        for status in QuoteStatus::ALL {
            assert_eq!(status.as_str().parse::<QuoteStatus>(), Ok(*status));
            assert_eq!(serde_json::to_value(status).ok(), Some(serde_json::Value::from(status.as_str())));
        }
        for kind in EventKind::ALL {
            assert_eq!(serde_json::to_value(kind).ok(), Some(serde_json::Value::from(kind.as_str())));
        }
        for outcome in ClaimOutcome::ALL {
            assert_eq!(outcome.as_str().parse::<ClaimOutcome>(), Ok(*outcome));
        }
        assert!("nope".parse::<RefusalCode>().is_err());
    }

    #[test]
    fn malformed_bodies_are_400_and_chain_rules_422() {
        assert_eq!(RefusalCode::MissingField.http_status(), 400);
        assert_eq!(RefusalCode::EpochNotComplete.http_status(), 422);
        assert!(RefusalCode::InvalidSignature.sender_at_fault());
        assert!(!RefusalCode::QuoteExpired.sender_at_fault());
        assert!(!RefusalCode::EpochAlreadyClaimed.sender_at_fault());
    }
}

/// The answer to a submitted quote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SubmitResponse {
    /// The quote's id (its EIP-712 digest).
    #[schema(value_type = String, pattern = "^0x[0-9a-f]{64}$", example = "0x5e43c35f779b47f2cefa2958882313a9976850657f3cb5ba64b24856694b5e34")]
    pub id: B256,
    /// Its lifecycle status.
    pub status: QuoteStatus,
}
