//! The signed `EpochProofQuote`: a prover's binding offer to prove one epoch of the rollup for a
//! share of its fees, backed by a bond from the prover's escrow deposit.
//!
//! This crate is the one place that defines how a quote is hashed (EIP-712), signed, verified and
//! written as JSON, so that the pricing service, the coordination node, the prover node, the
//! proposer and the L1 contract all agree on the same bytes.
//!
//! ```
//! use alloy_primitives::{address, U256};
//! use epoch_quote::{EpochProofQuote, QuoteDomain, QuoteSigner};
//!
//! let rollup = address!("0x5FbDB2315678afecb367f032d93F642f64180aa3");
//! let domain = QuoteDomain::new(31337, rollup);
//! let signer: QuoteSigner =
//!     "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d".parse().unwrap();
//! let quote = EpochProofQuote {
//!     prover: signer.address(),
//!     epoch_number: U256::from(7),
//!     epoch_init_block: U256::from(225),
//!     epoch_final_block: U256::from(256),
//!     total_fees: U256::from(1_000_000u64),
//!     rollup_address: rollup,
//!     basis_point_fee: 250,
//!     bond_amount: U256::from(5_000u64),
//!     valid_until_slot: U256::from(260),
//! };
//! let signed = signer.sign(quote, &domain);
//! assert_eq!(signed.verify(&domain).unwrap(), signer.address());
//!
//! let json = serde_json::to_string(&signed).unwrap();
//! let back: epoch_quote::SignedEpochProofQuote = json.parse().unwrap();
//! assert_eq!(back, signed);
//! ```

mod domain;
mod json;
pub mod num;
mod quote;
mod signature;
mod signer;

pub use domain::{DOMAIN_NAME, DOMAIN_VERSION, EIP712_DOMAIN_TYPE, QuoteDomain};
pub use json::{FieldError, FieldErrorKind, QuoteJsonError};
pub use quote::{
    EPOCH_PROOF_QUOTE_TYPE, EpochProofQuote, MAX_BASIS_POINT_FEE, SignedEpochProofQuote, VerifyError, prover_payout,
};
pub use signature::{QuoteSignature, SignatureError};
pub use signer::{KeyError, QuoteSigner};

/// Re-exported so that users of this crate name the same primitive types.
pub use alloy_primitives::{Address, B256, U256};
