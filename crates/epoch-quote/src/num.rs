//! Lenient-on-form, strict-on-value parsing of the numbers in the JSON API.
//!
//! Clients send integers as JSON numbers, decimal strings or `0x` hex strings (Aztec's own
//! clients send `totalFees` as a decimal string). Every form is accepted; every value that is
//! not exactly a non-negative integer that fits its type is refused with the reason.
//!
//! [`JsonScalar`] deserializes from any JSON value without failing, so that the caller can
//! report which field was wrong instead of a bare serde position.

use std::fmt;

use alloy_primitives::U256;
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The largest integer a JSON number may carry here: 2^53 − 1, the largest that every JSON
/// implementation (JavaScript's in particular) represents exactly.
pub const MAX_SAFE_JSON_INTEGER: u64 = (1 << 53) - 1;

/// One JSON value, as sent, for later conversion into a typed number.
#[derive(Clone, Debug, PartialEq)]
pub enum JsonScalar {
    /// A JSON string.
    String(String),
    /// A non-negative JSON integer that fits in `u64`.
    Unsigned(u64),
    /// A negative JSON integer.
    Negative(i64),
    /// A JSON number with a fraction or exponent, or an integer too large for `u64`.
    Float(f64),
    /// `null`, a boolean, an array or an object (named by the string).
    Other(&'static str),
}

/// Why a JSON value is not the integer it should be.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    /// A JSON value of the wrong kind (an object, an array, a boolean or null).
    #[error("expected an integer (a JSON number or a decimal or 0x-hex string), got {0}")]
    WrongType(&'static str),
    /// A negative number.
    #[error("must not be negative")]
    Negative,
    /// A JSON number with a fraction or an exponent, or one beyond any integer type.
    #[error("must be an integer without fraction or exponent; send large values as a decimal string")]
    NotInteger,
    /// A JSON number above 2^53 − 1, which many clients cannot represent exactly.
    #[error("JSON numbers above 2^53-1 lose precision; send this value as a decimal string")]
    UnsafeInteger,
    /// A string that is not a decimal or `0x` hex integer.
    #[error("{0:?} is not a decimal or 0x-hex integer")]
    Malformed(String),
    /// A value larger than the field's type holds.
    #[error("exceeds the maximum of {0}")]
    Overflow(&'static str),
}

impl JsonScalar {
    /// The value as a `uint256`.
    pub fn to_u256(&self) -> Result<U256, NumberError> {
        match self {
            Self::String(text) => parse_integer_string(text),
            Self::Unsigned(n) if *n > MAX_SAFE_JSON_INTEGER => Err(NumberError::UnsafeInteger),
            Self::Unsigned(n) => Ok(U256::from(*n)),
            Self::Negative(_) => Err(NumberError::Negative),
            Self::Float(f) if *f < 0.0 => Err(NumberError::Negative),
            // JSON has one kind of number: `1362.0` and `1e3` are whole numbers (as JSON Schema
            // and generated clients see them). serde_json parses with correct rounding
            // (`float_roundtrip`), so below 2^53 the value is exact; and the signature binds the
            // values, so a quote read differently from how it was signed is refused anyway.
            Self::Float(f) if f.fract() == 0.0 && *f <= MAX_SAFE_JSON_INTEGER as f64 => Ok(U256::from(*f as u64)),
            Self::Float(f) if f.fract() == 0.0 => Err(NumberError::UnsafeInteger),
            Self::Float(_) => Err(NumberError::NotInteger),
            Self::Other(kind) => Err(NumberError::WrongType(kind)),
        }
    }

    /// The value as a `uint64`.
    pub fn to_u64(&self) -> Result<u64, NumberError> {
        let value = self.to_u256()?;
        u64::try_from(value).map_err(|_| NumberError::Overflow("uint64 (18446744073709551615)"))
    }

    /// The value as a `uint32`.
    pub fn to_u32(&self) -> Result<u32, NumberError> {
        let value = self.to_u256()?;
        u32::try_from(value).map_err(|_| NumberError::Overflow("uint32 (4294967295)"))
    }
}

/// Parses a decimal or `0x`/`0X` hex string into a `uint256`. No sign, whitespace, separators or
/// empty digits.
fn parse_integer_string(text: &str) -> Result<U256, NumberError> {
    let malformed = || NumberError::Malformed(text.chars().take(80).collect());
    let (digits, radix) = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => (hex, 16),
        None => (text, 10),
    };
    if text.starts_with('-') && digits.len() > 1 && digits[1..].bytes().all(|b| b.is_ascii_digit()) {
        return Err(NumberError::Negative);
    }
    let valid = match radix {
        16 => digits.bytes().all(|b| b.is_ascii_hexdigit()),
        _ => digits.bytes().all(|b| b.is_ascii_digit()),
    };
    if digits.is_empty() || !valid {
        return Err(malformed());
    }
    U256::from_str_radix(digits, radix).map_err(|_| NumberError::Overflow("uint256 (2^256-1)"))
}

impl<'de> Deserialize<'de> for JsonScalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = JsonScalar;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<JsonScalar, E> {
        Ok(JsonScalar::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<JsonScalar, E> {
        Ok(JsonScalar::String(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<JsonScalar, E> {
        Ok(JsonScalar::Unsigned(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<JsonScalar, E> {
        Ok(if v < 0 { JsonScalar::Negative(v) } else { JsonScalar::Unsigned(v.unsigned_abs()) })
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<JsonScalar, E> {
        Ok(JsonScalar::Float(v))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<JsonScalar, E> {
        Ok(JsonScalar::Other("a boolean"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<JsonScalar, E> {
        Ok(JsonScalar::Other("null"))
    }

    fn visit_none<E: de::Error>(self) -> Result<JsonScalar, E> {
        Ok(JsonScalar::Other("null"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JsonScalar, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(JsonScalar::Other("an array"))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonScalar, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(JsonScalar::Other("an object"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(json: &str) -> JsonScalar {
        serde_json::from_str(json).expect("valid JSON")
    }

    #[test]
    fn accepts_every_integer_form() {
        for json in ["42", "\"42\"", "\"0x2a\"", "\"0X2A\"", "\"0042\""] {
            assert_eq!(scalar(json).to_u256(), Ok(U256::from(42)), "{json}");
        }
        assert_eq!(scalar("9007199254740991").to_u64(), Ok(MAX_SAFE_JSON_INTEGER));
        let max = "\"115792089237316195423570985008687907853269984665640564039457584007913129639935\"";
        assert_eq!(scalar(max).to_u256(), Ok(U256::MAX));
    }

    /// JSON has one kind of number: `1.0` and `1e3` are the integers 1 and 1000 (as JSON Schema
    /// and OpenAPI clients see them), within the range a JSON number holds exactly.
    #[test]
    fn whole_numbers_written_with_a_fraction_or_exponent_are_integers() {
        assert_eq!(scalar("1.0").to_u256(), Ok(U256::from(1)));
        assert_eq!(scalar("1e3").to_u256(), Ok(U256::from(1000)));
        assert_eq!(scalar("9007199254740991.0").to_u256(), Ok(U256::from(9_007_199_254_740_991u64)));
        assert_eq!(scalar("1e16").to_u256(), Err(NumberError::UnsafeInteger));
    }

    #[test]
    fn refuses_what_is_not_exactly_an_integer() {
        let cases = [
            ("-1", NumberError::Negative),
            ("\"-1\"", NumberError::Negative),
            ("-1.5", NumberError::Negative),
            ("1.5", NumberError::NotInteger),
            ("1e-3", NumberError::NotInteger),
            ("100000000000000000000000", NumberError::UnsafeInteger),
            ("9007199254740992", NumberError::UnsafeInteger),
            ("true", NumberError::WrongType("a boolean")),
            ("null", NumberError::WrongType("null")),
            ("[1]", NumberError::WrongType("an array")),
            ("{\"a\":1}", NumberError::WrongType("an object")),
            ("\"\"", NumberError::Malformed(String::new())),
            ("\"0x\"", NumberError::Malformed("0x".into())),
            ("\" 1\"", NumberError::Malformed(" 1".into())),
            ("\"+1\"", NumberError::Malformed("+1".into())),
            ("\"1.5\"", NumberError::Malformed("1.5".into())),
            ("\"1e3\"", NumberError::Malformed("1e3".into())),
            ("\"0xg1\"", NumberError::Malformed("0xg1".into())),
            (
                "\"115792089237316195423570985008687907853269984665640564039457584007913129639936\"",
                NumberError::Overflow("uint256 (2^256-1)"),
            ),
        ];
        for (json, want) in cases {
            assert_eq!(scalar(json).to_u256(), Err(want), "{json}");
        }
    }

    #[test]
    fn narrow_types_report_their_own_limit() {
        assert_eq!(scalar("4294967295").to_u32(), Ok(u32::MAX));
        assert_eq!(scalar("4294967296").to_u32(), Err(NumberError::Overflow("uint32 (4294967295)")));
        assert_eq!(
            scalar("\"18446744073709551616\"").to_u64(),
            Err(NumberError::Overflow("uint64 (18446744073709551615)"))
        );
    }
}
