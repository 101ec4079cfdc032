//! Exact JSON Schemas of the values the services exchange, so that what an API description
//! allows is what a service accepts and what it writes:
//! - numbers as the services read them: a decimal string, a `0x` hex string, or a JSON integer
//!   up to 2^53−1 (what `epoch_quote::num` accepts), each exact to the largest value of its type
//!   ([`Uint256`], [`Uint64`], [`BasisPointFee`]);
//! - values as the services write them, in their one canonical form ([`DecimalUint256`],
//!   [`Hash32`], [`Address`], [`Signature`]);
//! - the codes of each error answer ([`document_error_codes`]).
//!
//! Used as `#[schema(value_type = service_kit::schema::Uint256)]`; each is one named component.

use utoipa::openapi::{
    OpenApi, RefOr, Schema,
    schema::{AllOfBuilder, ObjectBuilder, OneOfBuilder, Type},
};

/// 2^256 − 1.
const UINT256_MAX: &str = "115792089237316195423570985008687907853269984665640564039457584007913129639935";
const DECIMAL: &str = "0123456789";
const HEX: &str = "0123456789abcdef";

/// A character class of the digits of `alphabet` below `value` (either case for hex).
fn below(alphabet: &str, value: usize) -> String {
    let digits: String = alphabet[..value].chars().collect();
    let upper: String = digits.chars().filter(char::is_ascii_lowercase).map(|c| c.to_ascii_uppercase()).collect();
    format!("[{digits}{upper}]")
}

/// A regular expression (without anchors) of the numbers written with exactly as many digits
/// as `max` that are at most `max`: one flat alternative per digit position (`max`'s digits
/// before it, a smaller digit there, any digits after), then `max` itself. Flat, so that
/// generators that build values from a pattern can handle it.
fn same_length(alphabet: &str, max: &str) -> String {
    let any = below(alphabet, alphabet.len());
    let exact = |digit: char| {
        if digit.is_ascii_alphabetic() {
            format!("[{}{}]", digit.to_ascii_lowercase(), digit.to_ascii_uppercase())
        } else {
            digit.to_string()
        }
    };
    let digits: Vec<char> = max.chars().collect();
    let mut alternatives = Vec::new();
    for (position, digit) in digits.iter().enumerate() {
        let value = alphabet.find(digit.to_ascii_lowercase()).unwrap_or(0);
        if value == 0 {
            continue;
        }
        let prefix: String = digits[..position].iter().map(|d| exact(*d)).collect();
        let after = digits.len() - position - 1;
        let tail = if after == 0 { String::new() } else { format!("{any}{{{after}}}") };
        alternatives.push(format!("{prefix}{}{tail}", below(alphabet, value)));
    }
    alternatives.push(digits.iter().map(|d| exact(*d)).collect());
    alternatives.join("|")
}

/// The numbers at most `max` (written in `alphabet`'s digits), leading zeros allowed.
fn at_most(alphabet: &str, max: &str) -> String {
    let any = below(alphabet, alphabet.len());
    let shorter = if max.len() > 1 { format!("{any}{{1,{}}}|", max.len() - 1) } else { String::new() };
    format!("0*(?:{shorter}{})", same_length(alphabet, max))
}

fn number(decimal_max: &str, hex_max: &str, json_max: u64, description: &str) -> RefOr<Schema> {
    let string = |pattern: String, description: &str| {
        ObjectBuilder::new().schema_type(Type::String).pattern(Some(pattern)).description(Some(description))
    };
    OneOfBuilder::new()
        .item(string(format!("^{}$", at_most(DECIMAL, decimal_max)), "decimal (leading zeros allowed)"))
        .item(string(format!("^0[xX]{}$", at_most(HEX, hex_max)), "hexadecimal"))
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(0))
                .maximum(Some(json_max))
                .description(Some("a JSON integer")),
        )
        .description(Some(description))
        .into()
}

/// Declares a type that stands for one named schema component (`value_type = …` in a
/// `#[schema]` attribute), whose schema `$schema` builds.
macro_rules! component {
    ($(#[$doc:meta])* $name:ident => $schema:expr) => {
        $(#[$doc])*
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                $schema
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

component! {
    /// A uint256: a decimal string (as the services write it), a `0x` hex
    /// string, or a JSON integer up to 2^53−1.
    Uint256 => number(UINT256_MAX, &"f".repeat(64), (1 << 53) - 1, "A uint256, 0 to 2^256-1")
}

component! {
    /// A uint64 (a block number, an epoch, a count): a decimal string, a `0x` hex string, or a JSON
    /// integer up to 2^53−1.
    Uint64 => number(&u64::MAX.to_string(), &format!("{:x}", u64::MAX), (1 << 53) - 1, "A uint64, 0 to 2^64-1")
}

component! {
    /// The fee of a submitted quote in basis points, 0 to 10000: a JSON integer (as the node
    /// writes it), or a decimal or `0x` hex string.
    BasisPointFee => number("10000", "2710", 10_000, "A fee in basis points, 0 to 10000")
}

fn text(pattern: String, description: &str) -> RefOr<Schema> {
    ObjectBuilder::new().schema_type(Type::String).pattern(Some(pattern)).description(Some(description)).into()
}

/// Up to 77 digits without a leading zero, or 78 digits at most 2^256−1 (which starts with 1: so
/// 1 and then at most the rest of it).
fn canonical_uint256() -> String {
    let shorter = format!("0|[1-9][0-9]{{0,{}}}", UINT256_MAX.len() - 2);
    let longest = format!("1(?:{})", same_length(DECIMAL, &UINT256_MAX[1..]));
    format!("^(?:{shorter}|{longest})$")
}

component! {
    /// A uint256 as the services write it: a decimal string without leading zeros, 0 to 2^256−1.
    DecimalUint256 => text(canonical_uint256(), "A uint256 as a decimal string")
}

component! {
    /// 32 bytes (a quote id, a transaction hash) as written: `0x` and 64 lowercase hex digits.
    Hash32 => text("^0x[0-9a-f]{64}$".into(), "32 bytes: 0x and 64 lowercase hex digits")
}

component! {
    /// An Ethereum address: `0x` and 40 hex digits (written with the EIP-55 checksum's case).
    Address => text("^0x[0-9a-fA-F]{40}$".into(), "An address: 0x and 40 hex digits (EIP-55 case when written)")
}

component! {
    /// A quote's 65-byte signature (r, s, v) as written: `0x` and 130 lowercase hex digits.
    Signature => text("^0x[0-9a-f]{130}$".into(), "65 bytes r, s, v: 0x and 130 lowercase hex digits")
}

/// Documents the codes each error answer can carry: every response of `openapi` whose body is
/// the [`ErrorBody`](crate::ErrorBody) envelope gets a schema that is the envelope with `code`
/// narrowed to an enum of `codes(operation id, status)`. An answer for which `codes` gives none
/// is left as the bare envelope (which a service's API description test refuses).
pub fn document_error_codes(openapi: &mut OpenApi, codes: impl Fn(&str, u16) -> Vec<&'static str>) {
    let envelope = "#/components/schemas/ErrorBody";
    for item in openapi.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
        ];
        for operation in operations.into_iter().flatten() {
            let id = operation.operation_id.clone().unwrap_or_default();
            for (status, response) in &mut operation.responses.responses {
                let RefOr::T(response) = response else { continue };
                for content in response.content.values_mut() {
                    let RefOr::T(content) = content else { continue };
                    if !matches!(&content.schema, Some(RefOr::Ref(r)) if r.ref_location == envelope) {
                        continue;
                    }
                    let known = codes(&id, status.parse().unwrap_or(0));
                    if known.is_empty() {
                        continue;
                    }
                    let code = ObjectBuilder::new().schema_type(Type::String).enum_values(Some(known));
                    let narrowed = ObjectBuilder::new().property("code", code).required("code");
                    let schema =
                        AllOfBuilder::new().item(RefOr::Ref(utoipa::openapi::Ref::new(envelope))).item(narrowed);
                    content.schema = Some(schema.into());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: String) -> impl Fn(&str) -> bool {
        let regex = regex::Regex::new(&format!("^{pattern}$")).expect("a valid pattern");
        move |text| regex.is_match(text)
    }

    #[test]
    fn the_number_patterns_are_exact_at_the_limits() {
        assert_eq!(at_most(DECIMAL, "250"), "0*(?:[0123456789]{1,2}|[01][0123456789]{2}|2[01234][0123456789]{1}|250)");
        let max = UINT256_MAX.to_string();
        let decimal = matches(at_most(DECIMAL, &max));
        for ok in ["0", "7", "0007", &max, &format!("000{max}"), &format!("{}4", &UINT256_MAX[..77])] {
            assert!(decimal(ok), "{ok}");
        }
        let above = "115792089237316195423570985008687907853269984665640564039457584007913129639936";
        for bad in ["", "-1", "+1", "1.5", above, &format!("{max}0"), "2".repeat(78).as_str()] {
            assert!(!decimal(bad), "{bad}");
        }
        let hex = matches(at_most(HEX, &"f".repeat(64)));
        assert!(hex(&"f".repeat(64)) && hex(&"F".repeat(64)) && hex("0") && hex(&format!("00{}", "a".repeat(64))));
        assert!(!hex(&format!("1{}", "0".repeat(64))) && !hex("") && !hex("g"));
        let fee = matches(at_most(DECIMAL, "10000"));
        assert!(fee("10000") && fee("9999") && fee("0") && fee("00010000") && !fee("10001") && !fee("20000"));
        let fee_hex = matches(at_most(HEX, "2710"));
        assert!(fee_hex("2710") && fee_hex("270f") && fee_hex("26FF") && fee_hex("fff"));
        assert!(!fee_hex("2711") && !fee_hex("2800") && !fee_hex("ffff"));
    }

    fn pattern_of(schema: RefOr<Schema>) -> regex::Regex {
        let RefOr::T(Schema::Object(object)) = schema else { panic!("a plain schema") };
        regex::Regex::new(&object.pattern.expect("a pattern")).expect("a valid pattern")
    }

    #[test]
    fn written_uint256_is_canonical_decimal_up_to_the_maximum() {
        use utoipa::PartialSchema;
        let decimal = pattern_of(DecimalUint256::schema());
        let above = "115792089237316195423570985008687907853269984665640564039457584007913129639936";
        for ok in ["0", "7", "10", "1000000000000000000", UINT256_MAX, &"9".repeat(77)] {
            assert!(decimal.is_match(ok), "{ok}");
        }
        let leading_zero = format!("0{}", "9".repeat(77));
        for bad in ["", "00", "07", "-1", "0x1", above, &"9".repeat(78), &format!("{UINT256_MAX}0"), &leading_zero] {
            assert!(!decimal.is_match(bad), "{bad}");
        }
        let hash = pattern_of(Hash32::schema());
        assert!(hash.is_match(&format!("0x{}", "ab".repeat(32))) && !hash.is_match(&format!("0x{}", "AB".repeat(32))));
        let signature = pattern_of(Signature::schema());
        assert!(signature.is_match(&format!("0x{}", "1b".repeat(65))) && !signature.is_match(&"1b".repeat(65)));
    }
}
