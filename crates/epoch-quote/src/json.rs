//! The JSON form of a quote (DESIGN §2): camelCase fields at the top level, uint256 values as
//! decimal strings, addresses EIP-55 checksummed, and `"signature": "0x…"` for a signed quote.
//!
//! Input is parsed field by field so that every refusal names the field and the reason.

use std::{fmt, str::FromStr};

use alloy_primitives::{Address, U256};
use serde::{Deserialize, Deserializer, Serialize, Serializer, ser::SerializeStruct};

use crate::{
    EpochProofQuote, MAX_BASIS_POINT_FEE, QuoteSignature, SignatureError, SignedEpochProofQuote,
    num::{JsonScalar, NumberError},
};

/// Why a JSON document is not a quote.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QuoteJsonError {
    /// Not JSON, not an object, or an object with a repeated key.
    #[error("malformed JSON: {0}")]
    Syntax(String),
    /// One field is missing or wrong.
    #[error(transparent)]
    Field(#[from] FieldError),
}

impl QuoteJsonError {
    /// A stable, machine-readable code for the error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Syntax(_) => "invalid_json",
            Self::Field(field) => field.kind.code(),
        }
    }
}

/// A field of a quote that is missing or holds an unusable value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {kind}")]
pub struct FieldError {
    /// The field's JSON name (`bondAmount`, `signature`, …).
    pub field: &'static str,
    /// What is wrong with it.
    pub kind: FieldErrorKind,
}

/// What is wrong with a field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FieldErrorKind {
    /// The field is absent.
    #[error("is required")]
    Missing,
    /// The field is not an integer of its type.
    #[error(transparent)]
    Number(#[from] NumberError),
    /// `basisPointFee` above 10000.
    #[error("{0} exceeds the maximum of 10000 basis points (100% of the fees)")]
    FeeAboveMaximum(u32),
    /// The field is not `0x` and 40 hex digits.
    #[error("must be an address: 0x followed by 40 hex digits")]
    Address,
    /// The signature is not a canonical 65-byte signature.
    #[error(transparent)]
    Signature(#[from] SignatureError),
}

impl FieldErrorKind {
    /// A stable, machine-readable code for the error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Missing => "missing_field",
            Self::Number(_) => "invalid_number",
            Self::FeeAboveMaximum(_) => "fee_above_maximum",
            Self::Address => "invalid_address",
            Self::Signature(_) => "invalid_signature",
        }
    }
}

/// The quote as it arrives: every field kept raw until it is converted with its name.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct QuoteWire {
    prover: Option<JsonScalar>,
    epoch_number: Option<JsonScalar>,
    epoch_init_block: Option<JsonScalar>,
    epoch_final_block: Option<JsonScalar>,
    total_fees: Option<JsonScalar>,
    rollup_address: Option<JsonScalar>,
    basis_point_fee: Option<JsonScalar>,
    bond_amount: Option<JsonScalar>,
    valid_until_slot: Option<JsonScalar>,
    signature: Option<JsonScalar>,
}

fn required<'a>(field: &'static str, value: &'a Option<JsonScalar>) -> Result<&'a JsonScalar, FieldError> {
    value.as_ref().ok_or(FieldError { field, kind: FieldErrorKind::Missing })
}

fn uint256(field: &'static str, value: &Option<JsonScalar>) -> Result<U256, FieldError> {
    required(field, value)?.to_u256().map_err(|e| FieldError { field, kind: e.into() })
}

fn address(field: &'static str, value: &Option<JsonScalar>) -> Result<Address, FieldError> {
    let invalid = || FieldError { field, kind: FieldErrorKind::Address };
    match required(field, value)? {
        JsonScalar::String(text) => {
            let hex = text.strip_prefix("0x").ok_or_else(invalid)?;
            if hex.len() != 40 {
                return Err(invalid());
            }
            Address::from_str(hex).map_err(|_| invalid())
        }
        _ => Err(invalid()),
    }
}

impl QuoteWire {
    fn quote(&self) -> Result<EpochProofQuote, FieldError> {
        let basis_point_fee = required("basisPointFee", &self.basis_point_fee)?
            .to_u32()
            .map_err(|e| FieldError { field: "basisPointFee", kind: e.into() })?;
        if basis_point_fee > MAX_BASIS_POINT_FEE {
            return Err(FieldError { field: "basisPointFee", kind: FieldErrorKind::FeeAboveMaximum(basis_point_fee) });
        }
        Ok(EpochProofQuote {
            prover: address("prover", &self.prover)?,
            epoch_number: uint256("epochNumber", &self.epoch_number)?,
            epoch_init_block: uint256("epochInitBlock", &self.epoch_init_block)?,
            epoch_final_block: uint256("epochFinalBlock", &self.epoch_final_block)?,
            total_fees: uint256("totalFees", &self.total_fees)?,
            rollup_address: address("rollupAddress", &self.rollup_address)?,
            basis_point_fee,
            bond_amount: uint256("bondAmount", &self.bond_amount)?,
            valid_until_slot: uint256("validUntilSlot", &self.valid_until_slot)?,
        })
    }

    fn signed(&self) -> Result<SignedEpochProofQuote, FieldError> {
        let quote = self.quote()?;
        let field = "signature";
        let signature = match required(field, &self.signature)? {
            JsonScalar::String(text) if text.starts_with("0x") => QuoteSignature::from_hex(text),
            _ => Err(SignatureError::Encoding),
        }
        .map_err(|e| FieldError { field, kind: e.into() })?;
        Ok(SignedEpochProofQuote { quote, signature })
    }
}

fn parse_wire(json: &[u8]) -> Result<QuoteWire, QuoteJsonError> {
    serde_json::from_slice(json).map_err(|e| QuoteJsonError::Syntax(e.to_string()))
}

impl SignedEpochProofQuote {
    /// Parses the JSON form of a signed quote.
    pub fn from_json(json: &[u8]) -> Result<Self, QuoteJsonError> {
        Ok(parse_wire(json)?.signed()?)
    }
}

impl EpochProofQuote {
    /// Parses the JSON form of an unsigned quote (a `signature` field, if any, is ignored).
    pub fn from_json(json: &[u8]) -> Result<Self, QuoteJsonError> {
        Ok(parse_wire(json)?.quote()?)
    }
}

impl FromStr for SignedEpochProofQuote {
    type Err = QuoteJsonError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_json(s.as_bytes())
    }
}

impl<'de> Deserialize<'de> for SignedEpochProofQuote {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        QuoteWire::deserialize(deserializer)?.signed().map_err(serde::de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for EpochProofQuote {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        QuoteWire::deserialize(deserializer)?.quote().map_err(serde::de::Error::custom)
    }
}

/// Writes the nine quote fields into a struct being serialized.
fn serialize_fields<S: SerializeStruct>(quote: &EpochProofQuote, out: &mut S) -> Result<(), S::Error> {
    out.serialize_field("prover", &Display(&quote.prover))?;
    out.serialize_field("epochNumber", &Display(&quote.epoch_number))?;
    out.serialize_field("epochInitBlock", &Display(&quote.epoch_init_block))?;
    out.serialize_field("epochFinalBlock", &Display(&quote.epoch_final_block))?;
    out.serialize_field("totalFees", &Display(&quote.total_fees))?;
    out.serialize_field("rollupAddress", &Display(&quote.rollup_address))?;
    out.serialize_field("basisPointFee", &quote.basis_point_fee)?;
    out.serialize_field("bondAmount", &Display(&quote.bond_amount))?;
    out.serialize_field("validUntilSlot", &Display(&quote.valid_until_slot))
}

/// Serializes a value as the string of its `Display` form (decimal for `U256`, EIP-55 for
/// `Address`, `0x` hex for a signature).
struct Display<'a, T>(&'a T);

impl<T: fmt::Display> Serialize for Display<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self.0)
    }
}

impl Serialize for EpochProofQuote {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("EpochProofQuote", 9)?;
        serialize_fields(self, &mut out)?;
        out.end()
    }
}

impl Serialize for SignedEpochProofQuote {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("SignedEpochProofQuote", 10)?;
        serialize_fields(&self.quote, &mut out)?;
        out.serialize_field("signature", &Display(&self.signature))?;
        out.end()
    }
}
