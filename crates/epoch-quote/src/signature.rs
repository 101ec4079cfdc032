//! The 65-byte `r ‖ s ‖ v` signature of a quote, kept only in its canonical form.

use std::fmt;

use alloy_primitives::{Address, B256, U256, hex, keccak256};
use secp256k1::{
    Message,
    ecdsa::{RecoverableSignature, RecoveryId},
};

/// Order of the secp256k1 group.
const CURVE_ORDER: U256 = U256::from_be_bytes([
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xba, 0xae, 0xdc,
    0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
]);
/// Half the group order: the largest `s` accepted (EIP-2).
const HALF_ORDER: U256 = CURVE_ORDER.wrapping_shr(1);

/// A quote signature in canonical form: 65 bytes `r ‖ s ‖ v`, `0 < r < n`, `0 < s <= n/2`,
/// `v` 27 or 28.
///
/// The only way to build one is [`QuoteSignature::from_bytes`] (or signing), which rejects
/// every non-canonical encoding, so a quote has exactly one valid signature per signer.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct QuoteSignature([u8; 65]);

/// Why 65 bytes are not a canonical quote signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// Not `0x` followed by hex digits.
    #[error("signature must be 0x followed by 130 hex digits")]
    Encoding,
    /// Not 65 bytes.
    #[error("signature must be 65 bytes (r, s, v), got {0}")]
    Length(usize),
    /// The last byte is not 0, 1, 27 or 28.
    #[error("signature v must be 27 or 28 (or 0 or 1), got {0}")]
    RecoveryId(u8),
    /// `r` or `s` is zero or not below the curve order.
    #[error("signature r and s must be between 1 and the curve order")]
    OutOfRange,
    /// `s` is in the upper half of the curve order (a malleated signature).
    #[error("signature s is in the upper half of the curve order (high-s signatures are rejected)")]
    HighS,
    /// The signature is well formed but no public key recovers from it.
    #[error("no public key recovers from this signature")]
    Unrecoverable,
}

impl QuoteSignature {
    /// Parses `r ‖ s ‖ v`, accepting `v` as 0/1 or 27/28 and normalising it to 27/28.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SignatureError> {
        let bytes: [u8; 65] = bytes.try_into().map_err(|_| SignatureError::Length(bytes.len()))?;
        let mut out = bytes;
        out[64] = match bytes[64] {
            0 | 27 => 27,
            1 | 28 => 28,
            v => return Err(SignatureError::RecoveryId(v)),
        };
        let r = U256::from_be_slice(&bytes[..32]);
        let s = U256::from_be_slice(&bytes[32..64]);
        if r.is_zero() || s.is_zero() || r >= CURVE_ORDER || s >= CURVE_ORDER {
            return Err(SignatureError::OutOfRange);
        }
        if s > HALF_ORDER {
            return Err(SignatureError::HighS);
        }
        Ok(Self(out))
    }

    /// Parses `0x` followed by 130 hex digits (the `0x` is optional).
    pub fn from_hex(text: &str) -> Result<Self, SignatureError> {
        let bytes = hex::decode(text).map_err(|_| SignatureError::Encoding)?;
        Self::from_bytes(&bytes)
    }

    pub(crate) fn from_recoverable(sig: &RecoverableSignature) -> Self {
        let (recid, rs) = sig.serialize_compact();
        let mut out = [0u8; 65];
        out[..64].copy_from_slice(&rs);
        out[64] = 27 + u8::from(recid);
        Self(out)
    }

    /// The 65 bytes `r ‖ s ‖ v`, `v` 27 or 28.
    pub fn as_bytes(&self) -> &[u8; 65] {
        &self.0
    }

    /// `r`.
    pub fn r(&self) -> B256 {
        B256::from_slice(&self.0[..32])
    }

    /// `s`.
    pub fn s(&self) -> B256 {
        B256::from_slice(&self.0[32..64])
    }

    /// `v`, 27 or 28.
    pub fn v(&self) -> u8 {
        self.0[64]
    }

    /// The address whose key made this signature over `digest`.
    pub fn recover(&self, digest: B256) -> Result<Address, SignatureError> {
        let recid = RecoveryId::from_u8_masked(self.0[64] - 27);
        let sig = RecoverableSignature::from_compact(&self.0[..64], recid).map_err(|_| SignatureError::OutOfRange)?;
        let key = sig.recover_ecdsa(Message::from_digest(digest.0)).map_err(|_| SignatureError::Unrecoverable)?;
        Ok(public_key_address(&key))
    }
}

/// The Ethereum address of a public key: the last 20 bytes of the keccak of its 64-byte form.
pub(crate) fn public_key_address(key: &secp256k1::PublicKey) -> Address {
    let uncompressed = key.serialize_uncompressed();
    Address::from_slice(&keccak256(&uncompressed[1..])[12..])
}

impl fmt::Display for QuoteSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode_prefixed(self.0))
    }
}

impl fmt::Debug for QuoteSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "QuoteSignature({self})")
    }
}

impl std::str::FromStr for QuoteSignature {
    type Err = SignatureError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_hex(s)
    }
}
