//! The quote library against an independent EIP-712 implementation, and its refusals.

use alloy_primitives::{U256, address, hex};
use epoch_quote::{
    EPOCH_PROOF_QUOTE_TYPE, EpochProofQuote, FieldErrorKind, QuoteDomain, QuoteJsonError, QuoteSignature, QuoteSigner,
    SignatureError, SignedEpochProofQuote, VerifyError, num::NumberError,
};
use serde_json::{Value, json};

const KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const OTHER_KEY: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
const HALF_ORDER_PLUS_ONE: &str = "7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a1";
const CURVE_ORDER: &str = "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141";

fn signer(key: &str) -> QuoteSigner {
    key.parse().expect("valid key")
}

fn domain() -> QuoteDomain {
    QuoteDomain::new(31337, address!("0x5FbDB2315678afecb367f032d93F642f64180aa3"))
}

fn sample_quote(prover: alloy_primitives::Address) -> EpochProofQuote {
    EpochProofQuote {
        prover,
        epoch_number: U256::from(7),
        epoch_init_block: U256::from(225),
        epoch_final_block: U256::from(256),
        total_fees: U256::from(10u64).pow(U256::from(18)),
        rollup_address: domain().rollup(),
        basis_point_fee: 250,
        bond_amount: U256::from(5_000u64),
        valid_until_slot: U256::from(260),
    }
}

fn signed_sample() -> SignedEpochProofQuote {
    let s = signer(KEY);
    s.sign(sample_quote(s.address()), &domain())
}

mod vectors {
    use super::*;

    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Case {
        note: String,
        private_key: String,
        address: String,
        chain_id: u64,
        verifying_contract: String,
        quote: Value,
        digest: String,
        signature: String,
    }

    fn cases() -> Vec<Case> {
        #[derive(serde::Deserialize)]
        struct File {
            cases: Vec<Case>,
        }
        let text = include_str!("data/quote-vectors.json");
        let file: File = serde_json::from_str(text).expect("vectors file parses");
        assert!(file.cases.len() >= 10, "the vectors file lost its cases");
        file.cases
    }

    /// Digest, signature and recovery agree with eth_account on every committed vector.
    #[test]
    fn agree_with_an_independent_eip712_implementation() {
        for case in cases() {
            let note = &case.note;
            let quote = EpochProofQuote::from_json(case.quote.to_string().as_bytes()).expect(note);
            let domain = QuoteDomain::new(case.chain_id, case.verifying_contract.parse().expect(note));
            assert_eq!(quote.digest(&domain).to_string(), case.digest, "digest: {note}");

            let signer = signer(&case.private_key);
            assert_eq!(signer.address().to_string(), case.address, "address: {note}");
            // Both sides use RFC 6979 nonces, so the signatures are byte-identical.
            let ours = signer.sign(quote, &domain);
            assert_eq!(ours.signature.to_string(), case.signature, "signature: {note}");

            let theirs = QuoteSignature::from_hex(&case.signature).expect(note);
            assert_eq!(theirs.recover(quote.digest(&domain)).expect(note), signer.address(), "recover: {note}");
            let signed = SignedEpochProofQuote { quote, signature: theirs };
            if quote.prover == signer.address() {
                assert_eq!(signed.verify(&domain), Ok(signer.address()), "verify: {note}");
            } else {
                assert_eq!(
                    signed.verify(&domain),
                    Err(VerifyError::WrongSigner { expected: quote.prover, recovered: signer.address() }),
                    "verify: {note}"
                );
            }
            // The JSON form the generator wrote is exactly our output form.
            assert_eq!(serde_json::to_value(quote).expect(note), case.quote, "json: {note}");
        }
    }
}

mod eip712 {
    use super::*;
    use alloy_sol_types::{SolStruct, eip712_domain, sol};

    sol! {
        struct EpochProofQuote {
            address prover;
            uint256 epochNumber;
            uint256 epochInitBlock;
            uint256 epochFinalBlock;
            uint256 totalFees;
            address rollupAddress;
            uint32 basisPointFee;
            uint256 bondAmount;
            uint256 validUntilSlot;
        }
    }

    /// The type string and hashes agree with alloy's `sol!`-derived EIP-712 encoding.
    #[test]
    fn type_string_and_hashes_match_alloy_sol_types() {
        let ours = signed_sample().quote;
        let theirs = EpochProofQuote {
            prover: ours.prover,
            epochNumber: ours.epoch_number,
            epochInitBlock: ours.epoch_init_block,
            epochFinalBlock: ours.epoch_final_block,
            totalFees: ours.total_fees,
            rollupAddress: ours.rollup_address,
            basisPointFee: ours.basis_point_fee,
            bondAmount: ours.bond_amount,
            validUntilSlot: ours.valid_until_slot,
        };
        assert_eq!(EpochProofQuote::eip712_encode_type(), EPOCH_PROOF_QUOTE_TYPE);
        assert_eq!(theirs.eip712_hash_struct(), ours.struct_hash());
        let alloy_domain = eip712_domain! {
            name: "ProverCoordination",
            version: "1",
            chain_id: 31337,
            verifying_contract: domain().rollup(),
        };
        assert_eq!(alloy_domain.separator(), domain().separator());
        assert_eq!(theirs.eip712_signing_hash(&alloy_domain), ours.digest(&domain()));
    }
}

mod signatures {
    use super::*;

    fn with_bytes(f: impl FnOnce(&mut [u8; 65])) -> Vec<u8> {
        let mut bytes = *signed_sample().signature.as_bytes();
        f(&mut bytes);
        bytes.to_vec()
    }

    #[test]
    fn sign_then_verify_returns_the_prover() {
        let signed = signed_sample();
        assert_eq!(signed.verify(&domain()), Ok(signer(KEY).address()));
        assert!(matches!(signed.signature.v(), 27 | 28));
    }

    #[test]
    fn a_signature_by_another_key_is_refused_naming_both() {
        let me = signer(KEY);
        let forged = signer(OTHER_KEY).sign(sample_quote(me.address()), &domain());
        assert_eq!(
            forged.verify(&domain()),
            Err(VerifyError::WrongSigner { expected: me.address(), recovered: signer(OTHER_KEY).address() })
        );
    }

    #[test]
    fn a_changed_field_or_domain_breaks_the_signature() {
        let mut signed = signed_sample();
        signed.quote.bond_amount += U256::from(1);
        assert!(matches!(signed.verify(&domain()), Err(VerifyError::WrongSigner { .. })));

        let other_chain = QuoteDomain::new(1, domain().rollup());
        assert!(matches!(signed_sample().verify(&other_chain), Err(VerifyError::WrongSigner { .. })));
    }

    #[test]
    fn v_zero_and_one_are_normalised_to_27_and_28() {
        let signed = signed_sample();
        let v = signed.signature.v();
        let raw = with_bytes(|b| b[64] = v - 27);
        let normalised = QuoteSignature::from_bytes(&raw).expect("v 0/1 accepted");
        assert_eq!(normalised, signed.signature);
        assert_eq!(normalised.v(), v);
        let again = SignedEpochProofQuote { quote: signed.quote, signature: normalised };
        assert_eq!(again.verify(&domain()), Ok(signer(KEY).address()));
    }

    #[test]
    fn a_high_s_twin_of_a_valid_signature_is_refused() {
        let signed = signed_sample();
        // (r, n - s, v flipped) is the same signature mirrored: valid ECDSA, but a second encoding.
        let order = U256::from_str_radix(CURVE_ORDER, 16).expect("order");
        let s = U256::from_be_slice(signed.signature.s().as_slice());
        let high = with_bytes(|b| {
            b[32..64].copy_from_slice(&(order - s).to_be_bytes::<32>());
            b[64] = 55 - b[64];
        });
        assert_eq!(QuoteSignature::from_bytes(&high), Err(SignatureError::HighS));
        // The boundary: n/2 + 1 is high.
        let boundary = with_bytes(|b| b[32..64].copy_from_slice(&hex::decode(HALF_ORDER_PLUS_ONE).expect("hex")));
        assert_eq!(QuoteSignature::from_bytes(&boundary), Err(SignatureError::HighS));
    }

    #[test]
    fn malformed_bytes_are_refused_with_the_reason() {
        assert_eq!(QuoteSignature::from_bytes(&[0u8; 64]), Err(SignatureError::Length(64)));
        assert_eq!(QuoteSignature::from_bytes(&[]), Err(SignatureError::Length(0)));
        assert_eq!(QuoteSignature::from_bytes(&with_bytes(|b| b[64] = 29)), Err(SignatureError::RecoveryId(29)));
        assert_eq!(QuoteSignature::from_bytes(&with_bytes(|b| b[64] = 2)), Err(SignatureError::RecoveryId(2)));
        assert_eq!(QuoteSignature::from_bytes(&with_bytes(|b| b[..32].fill(0))), Err(SignatureError::OutOfRange));
        assert_eq!(QuoteSignature::from_bytes(&with_bytes(|b| b[32..64].fill(0))), Err(SignatureError::OutOfRange));
        let order = hex::decode(CURVE_ORDER).expect("hex");
        assert_eq!(
            QuoteSignature::from_bytes(&with_bytes(|b| b[..32].copy_from_slice(&order))),
            Err(SignatureError::OutOfRange)
        );
        assert_eq!(QuoteSignature::from_hex("0xzz"), Err(SignatureError::Encoding));
    }

    #[test]
    fn an_r_that_is_not_on_the_curve_recovers_nothing() {
        // r = 5: no curve point has x = 5, so no key recovers.
        let bytes = with_bytes(|b| {
            b[..32].fill(0);
            b[31] = 5;
        });
        let sig = QuoteSignature::from_bytes(&bytes).expect("in range");
        let signed = SignedEpochProofQuote { quote: signed_sample().quote, signature: sig };
        assert_eq!(signed.verify(&domain()), Err(VerifyError::Unrecoverable(SignatureError::Unrecoverable)));
    }

    #[test]
    fn keys_are_parsed_strictly_and_never_printed() {
        assert!("0x00".parse::<QuoteSigner>().is_err());
        assert!(format!("0x{}", "00".repeat(32)).parse::<QuoteSigner>().is_err());
        assert!(format!("0x{CURVE_ORDER}").parse::<QuoteSigner>().is_err());
        assert!(KEY.trim_start_matches("0x").parse::<QuoteSigner>().is_ok());
        let debug = format!("{:?}", signer(KEY));
        assert!(!debug.contains(&KEY[2..]) && debug.contains("redacted"), "{debug}");
    }
}

mod json_form {
    use super::*;

    fn sample_json() -> Value {
        serde_json::to_value(signed_sample()).expect("serializes")
    }

    fn parse(value: &Value) -> Result<SignedEpochProofQuote, QuoteJsonError> {
        SignedEpochProofQuote::from_json(value.to_string().as_bytes())
    }

    fn with(field: &str, value: Value) -> Value {
        let mut json = sample_json();
        json[field] = value;
        json
    }

    fn field_error(json: &Value) -> (&'static str, FieldErrorKind) {
        match parse(json) {
            Err(QuoteJsonError::Field(e)) => (e.field, e.kind),
            other => panic!("expected a field error for {json}, got {other:?}"),
        }
    }

    #[test]
    fn output_is_camel_case_decimal_strings_and_checksummed_addresses() {
        let json = sample_json();
        let signed = signed_sample();
        assert_eq!(
            json,
            json!({
                "prover": "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
                "epochNumber": "7",
                "epochInitBlock": "225",
                "epochFinalBlock": "256",
                "totalFees": "1000000000000000000",
                "rollupAddress": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
                "basisPointFee": 250,
                "bondAmount": "5000",
                "validUntilSlot": "260",
                "signature": signed.signature.to_string(),
            })
        );
        let signature = json["signature"].as_str().expect("string");
        assert_eq!(signature.len(), 132);
        assert_eq!(parse(&json), Ok(signed));
    }

    #[test]
    fn numbers_are_accepted_as_decimal_hex_or_safe_integers_and_addresses_in_any_case() {
        let mut json = sample_json();
        json["epochNumber"] = json!(7);
        json["totalFees"] = json!("0xde0b6b3a7640000");
        json["bondAmount"] = json!(5000);
        json["basisPointFee"] = json!("250");
        json["prover"] = json!("0xF39FD6E51AAD88F6F4CE6AB8827279CFFFB92266");
        json["rollupAddress"] = json!("0x5fbdb2315678afecb367f032d93f642f64180aa3");
        assert_eq!(parse(&json), Ok(signed_sample()));
    }

    #[test]
    fn each_bad_value_is_refused_naming_its_field() {
        let cases = [
            (with("bondAmount", json!(-5)), "bondAmount", FieldErrorKind::Number(NumberError::Negative)),
            (with("totalFees", json!(1.5)), "totalFees", FieldErrorKind::Number(NumberError::NotInteger)),
            (
                with("epochNumber", json!(9_007_199_254_740_992u64)),
                "epochNumber",
                FieldErrorKind::Number(NumberError::UnsafeInteger),
            ),
            (
                with("validUntilSlot", json!(format!("1{}", "0".repeat(78)))),
                "validUntilSlot",
                FieldErrorKind::Number(NumberError::Overflow("uint256 (2^256-1)")),
            ),
            (
                with("basisPointFee", json!(4_294_967_296u64)),
                "basisPointFee",
                FieldErrorKind::Number(NumberError::Overflow("uint32 (4294967295)")),
            ),
            (with("basisPointFee", json!(10_001)), "basisPointFee", FieldErrorKind::FeeAboveMaximum(10_001)),
            (
                with("epochInitBlock", json!(true)),
                "epochInitBlock",
                FieldErrorKind::Number(NumberError::WrongType("a boolean")),
            ),
            (with("prover", json!("0x1234")), "prover", FieldErrorKind::Address),
            (with("rollupAddress", json!(12)), "rollupAddress", FieldErrorKind::Address),
            (with("signature", json!("0x1234")), "signature", FieldErrorKind::Signature(SignatureError::Length(2))),
            (with("signature", json!(1)), "signature", FieldErrorKind::Signature(SignatureError::Encoding)),
        ];
        for (json, field, kind) in cases {
            assert_eq!(field_error(&json), (field, kind.clone()), "{json}");
        }
        let mut missing = sample_json();
        missing.as_object_mut().expect("object").remove("epochFinalBlock");
        assert_eq!(field_error(&missing), ("epochFinalBlock", FieldErrorKind::Missing));
        assert_eq!(
            parse(&with("basisPointFee", json!(10_001))).expect_err("refused").to_string(),
            "basisPointFee: 10001 exceeds the maximum of 10000 basis points (100% of the fees)"
        );
    }

    #[test]
    fn the_fee_may_be_exactly_10000() {
        let s = signer(KEY);
        let mut quote = sample_quote(s.address());
        quote.basis_point_fee = 10_000;
        let signed = s.sign(quote, &domain());
        let back = parse(&serde_json::to_value(signed).expect("serializes")).expect("parses");
        assert_eq!(back.quote.basis_point_fee, 10_000);
    }

    #[test]
    fn malformed_documents_are_syntax_errors() {
        let text = sample_json().to_string();
        let duplicated = text.replacen("\"epochNumber\":\"7\"", "\"epochNumber\":\"7\",\"epochNumber\":\"8\"", 1);
        for body in [&b"not json"[..], b"[]", b"{", b"\"quote\"", duplicated.as_bytes(), &[0xff, 0xfe]] {
            let err = SignedEpochProofQuote::from_json(body).expect_err("refused");
            assert!(matches!(err, QuoteJsonError::Syntax(_)), "{err:?}");
            assert_eq!(err.code(), "invalid_json");
        }
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let nested = text.replacen("\"bondAmount\":\"5000\"", &format!("\"bondAmount\":{deep}"), 1);
        assert!(SignedEpochProofQuote::from_json(nested.as_bytes()).is_err());
    }

    #[test]
    fn unknown_fields_are_ignored_so_a_served_quote_can_be_posted_back() {
        let mut json = sample_json();
        json["id"] = json!("0x1234");
        json["status"] = json!("pending");
        assert_eq!(parse(&json), Ok(signed_sample()));
    }
}
