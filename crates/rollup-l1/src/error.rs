//! Errors of L1 calls, with contract reverts decoded into the contracts' own custom errors.

use std::fmt;

use alloy::{
    primitives::{Bytes, TxHash},
    sol_types::{SolInterface, decode_revert_reason},
};

use crate::bindings::{
    FeeToken::FeeTokenErrors, ProofCommitmentEscrow::ProofCommitmentEscrowErrors, Rollup::RollupErrors,
};

/// A revert, decoded into the custom error of the contract that raised it.
#[derive(Debug, PartialEq, Eq)]
pub enum Revert {
    /// A rollup rule refused the call (a claim rejection, a proof or proposal rule).
    Rollup(RollupErrors),
    /// The escrow refused (deposit, withdrawal or bond accounting).
    Escrow(ProofCommitmentEscrowErrors),
    /// The token refused (balance or allowance).
    Token(FeeTokenErrors),
    /// A revert with a string reason or a panic code.
    Reason(String),
    /// Revert data that matches none of the contracts' errors.
    Unknown(Bytes),
}

impl Revert {
    /// Decodes revert data, trying the rollup's errors, then the escrow's, then the token's.
    pub fn decode(data: &[u8]) -> Self {
        if let Ok(e) = RollupErrors::abi_decode(data) {
            Self::Rollup(e)
        } else if let Ok(e) = ProofCommitmentEscrowErrors::abi_decode(data) {
            Self::Escrow(e)
        } else if let Ok(e) = FeeTokenErrors::abi_decode(data) {
            Self::Token(e)
        } else if let Some(reason) = decode_revert_reason(data) {
            Self::Reason(reason)
        } else {
            Self::Unknown(Bytes::copy_from_slice(data))
        }
    }

    /// The rollup error, if the rollup raised it.
    pub fn as_rollup(&self) -> Option<&RollupErrors> {
        match self {
            Self::Rollup(e) => Some(e),
            _ => None,
        }
    }
}

impl fmt::Display for Revert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The generated errors' Debug form names the error and its arguments, e.g.
        // `QuoteExpired(QuoteExpired { currentSlot: 12, validUntilSlot: 10 })`.
        match self {
            Self::Rollup(e) => write!(f, "rollup: {e:?}"),
            Self::Escrow(e) => write!(f, "escrow: {e:?}"),
            Self::Token(e) => write!(f, "token: {e:?}"),
            Self::Reason(reason) => write!(f, "{reason}"),
            Self::Unknown(data) => write!(f, "unknown revert data {data}"),
        }
    }
}

/// Why an L1 call or transaction failed.
#[derive(Debug, thiserror::Error)]
pub enum L1Error {
    /// The contract refused the call (found in simulation or gas estimation).
    #[error("reverted: {0}")]
    Revert(Revert),
    /// The transaction was mined but failed (the chain changed between simulation and mining).
    #[error("transaction {0} was mined but reverted")]
    Failed(TxHash),
    /// The L1 node answered with an error that is not a revert (a nonce too low, say).
    #[error("L1 RPC error: {0}")]
    Rpc(String),
    /// The L1 node could not be reached, or did not answer in time
    /// ([`crate::L1_REQUEST_TIMEOUT`]).
    #[error("L1 unreachable: {0}")]
    Unreachable(String),
}

impl L1Error {
    /// The decoded revert, if the contract refused the call.
    pub fn revert(&self) -> Option<&Revert> {
        match self {
            Self::Revert(r) => Some(r),
            _ => None,
        }
    }

    /// The rollup's custom error, if the rollup refused the call.
    pub fn rollup_error(&self) -> Option<&RollupErrors> {
        self.revert().and_then(Revert::as_rollup)
    }
}

impl From<alloy::contract::Error> for L1Error {
    fn from(e: alloy::contract::Error) -> Self {
        match e {
            alloy::contract::Error::TransportError(e) => e.into(),
            alloy::contract::Error::PendingTransactionError(e) => e.into(),
            e => match e.as_revert_data() {
                Some(data) => Self::Revert(Revert::decode(&data)),
                None => Self::Rpc(e.to_string()),
            },
        }
    }
}

impl From<alloy::transports::TransportError> for L1Error {
    fn from(e: alloy::transports::TransportError) -> Self {
        if e.is_transport_error() {
            return Self::Unreachable(e.to_string());
        }
        match e.as_error_resp().and_then(|resp| resp.as_revert_data()) {
            Some(data) => Self::Revert(Revert::decode(&data)),
            None => Self::Rpc(e.to_string()),
        }
    }
}

impl From<alloy::providers::PendingTransactionError> for L1Error {
    fn from(e: alloy::providers::PendingTransactionError) -> Self {
        match e {
            alloy::providers::PendingTransactionError::TransportError(e) => e.into(),
            e => Self::Rpc(e.to_string()),
        }
    }
}

impl L1Error {
    /// Whether the L1 node could not be reached or did not answer in time: the L1 counts as down,
    /// and the outcome of a transaction being sent is unknown.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Self::Unreachable(_))
    }
}
