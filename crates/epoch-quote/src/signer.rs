//! Signing quotes with a prover's local private key.

use std::{fmt, str::FromStr};

use alloy_primitives::{Address, hex};
use secp256k1::{Message, PublicKey, SecretKey, ecdsa::RecoverableSignature};

use crate::{EpochProofQuote, QuoteDomain, QuoteSignature, SignedEpochProofQuote, signature::public_key_address};

/// A prover's signing key. Its `Debug` form never shows the key.
#[derive(Clone)]
pub struct QuoteSigner {
    key: SecretKey,
    address: Address,
}

/// Why a private key was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not 32 bytes of hex.
    #[error("private key must be 32 bytes of hex (64 hex digits, optionally 0x-prefixed)")]
    Format,
    /// Zero or not below the curve order.
    #[error("private key is not a valid secp256k1 scalar (zero or not below the curve order)")]
    OutOfRange,
}

impl QuoteSigner {
    /// A signer for the 32-byte secret key `bytes`.
    pub fn from_bytes(bytes: [u8; 32]) -> Result<Self, KeyError> {
        let key = SecretKey::from_secret_bytes(bytes).map_err(|_| KeyError::OutOfRange)?;
        let address = public_key_address(&PublicKey::from_secret_key(&key));
        Ok(Self { key, address })
    }

    /// The 32 secret bytes, to build the L1 transaction signer of the same key. Handle with care.
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.key.to_secret_bytes()
    }

    /// The prover address of this key.
    pub fn address(&self) -> Address {
        self.address
    }

    /// Signs `quote` under `domain` (RFC 6979 deterministic nonce, low-`s`, `v` 27/28).
    ///
    /// The quote's `prover` is not changed: a quote whose `prover` is another address produces
    /// a signature that does not verify, which callers may want to test.
    pub fn sign(&self, quote: EpochProofQuote, domain: &QuoteDomain) -> SignedEpochProofQuote {
        let digest = quote.digest(domain);
        let sig = RecoverableSignature::sign_ecdsa_recoverable(Message::from_digest(digest.0), &self.key);
        SignedEpochProofQuote { quote, signature: QuoteSignature::from_recoverable(&sig) }
    }
}

impl FromStr for QuoteSigner {
    type Err = KeyError;

    /// Parses 64 hex digits, with or without `0x`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes: [u8; 32] =
            hex::decode(s.trim()).map_err(|_| KeyError::Format)?.try_into().map_err(|_| KeyError::Format)?;
        Self::from_bytes(bytes)
    }
}

impl fmt::Debug for QuoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QuoteSigner").field("address", &self.address).field("key", &"<redacted>").finish()
    }
}
