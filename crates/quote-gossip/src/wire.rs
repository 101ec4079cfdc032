//! The protobuf form of a signed quote (`proto/epoch_proof_quote.proto`) and its conversion to
//! and from [`SignedEpochProofQuote`].

use epoch_quote::{Address, B256, EpochProofQuote, QuoteDomain, QuoteSignature, SignedEpochProofQuote, U256};
use prost::Message as _;

/// The types generated from `proto/epoch_proof_quote.proto`.
#[allow(missing_docs, unreachable_pub, clippy::all)]
pub mod proto {
    include!(concat!(env!("OUT_DIR"), "/prover_coordination.gossip.v1.rs"));
}

/// Largest encoded message accepted or published, in bytes (a quote encodes to about 400).
pub const MAX_MESSAGE_BYTES: usize = 2048;

/// A signed quote as it travels on the gossip network: the quote and the L1 chain id of the
/// EIP-712 domain it was signed under (the domain's verifying contract is the quote's rollup).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GossipQuote {
    /// The L1 chain id of the signing domain.
    pub chain_id: u64,
    /// The signed quote.
    pub signed: SignedEpochProofQuote,
}

impl GossipQuote {
    /// The domain the quote claims to be signed under.
    pub fn domain(&self) -> QuoteDomain {
        QuoteDomain::new(self.chain_id, self.signed.quote.rollup_address)
    }

    /// The quote's id (its EIP-712 digest) under [`GossipQuote::domain`]; for a quote that is
    /// valid for a rollup, the same id the rollup's nodes give it.
    pub fn id(&self) -> B256 {
        self.signed.id(&self.domain())
    }

    /// The protobuf encoding.
    pub fn encode(&self) -> Vec<u8> {
        let q = &self.signed.quote;
        let uint = |v: &U256| v.to_be_bytes_trimmed_vec();
        proto::SignedEpochProofQuote {
            quote: Some(proto::EpochProofQuote {
                prover: q.prover.to_vec(),
                epoch_number: uint(&q.epoch_number),
                epoch_init_block: uint(&q.epoch_init_block),
                epoch_final_block: uint(&q.epoch_final_block),
                total_fees: uint(&q.total_fees),
                rollup_address: q.rollup_address.to_vec(),
                basis_point_fee: q.basis_point_fee,
                bond_amount: uint(&q.bond_amount),
                valid_until_slot: uint(&q.valid_until_slot),
            }),
            signature: self.signed.signature.as_bytes().to_vec(),
            chain_id: self.chain_id,
        }
        .encode_to_vec()
    }

    /// Decodes and checks the shape of every field (not the signature's signer: that needs the
    /// node's domain).
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        if bytes.len() > MAX_MESSAGE_BYTES {
            return Err(WireError::new("message", format!("{} bytes, more than {MAX_MESSAGE_BYTES}", bytes.len())));
        }
        let message =
            proto::SignedEpochProofQuote::decode(bytes).map_err(|e| WireError::new("message", e.to_string()))?;
        let q = message.quote.ok_or_else(|| WireError::new("quote", "missing"))?;
        if q.basis_point_fee > epoch_quote::MAX_BASIS_POINT_FEE {
            return Err(WireError::new(
                "basisPointFee",
                format!("{} is more than {}", q.basis_point_fee, epoch_quote::MAX_BASIS_POINT_FEE),
            ));
        }
        let signature =
            QuoteSignature::from_bytes(&message.signature).map_err(|e| WireError::new("signature", e.to_string()))?;
        let quote = EpochProofQuote {
            prover: address("prover", &q.prover)?,
            epoch_number: uint("epochNumber", &q.epoch_number)?,
            epoch_init_block: uint("epochInitBlock", &q.epoch_init_block)?,
            epoch_final_block: uint("epochFinalBlock", &q.epoch_final_block)?,
            total_fees: uint("totalFees", &q.total_fees)?,
            rollup_address: address("rollupAddress", &q.rollup_address)?,
            basis_point_fee: q.basis_point_fee,
            bond_amount: uint("bondAmount", &q.bond_amount)?,
            valid_until_slot: uint("validUntilSlot", &q.valid_until_slot)?,
        };
        Ok(Self { chain_id: message.chain_id, signed: SignedEpochProofQuote { quote, signature } })
    }
}

fn address(field: &'static str, bytes: &[u8]) -> Result<Address, WireError> {
    <[u8; 20]>::try_from(bytes)
        .map(Address::from)
        .map_err(|_| WireError::new(field, format!("an address is 20 bytes, not {}", bytes.len())))
}

fn uint(field: &'static str, bytes: &[u8]) -> Result<U256, WireError> {
    U256::try_from_be_slice(bytes)
        .ok_or_else(|| WireError::new(field, format!("a uint256 is at most 32 bytes, not {}", bytes.len())))
}

/// A message that is not a well-formed signed quote, naming the field at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct WireError {
    /// The field (named as in the JSON form), or `message` for the whole message.
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl WireError {
    fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self { field, reason: reason.into() }
    }

    /// The stable code for this failure.
    pub fn code(&self) -> &'static str {
        if self.field == "signature" { "invalid_signature" } else { "malformed_message" }
    }
}

#[cfg(test)]
mod tests {
    use epoch_quote::QuoteSigner;

    use super::*;

    fn sample(fee: u32) -> GossipQuote {
        let signer = QuoteSigner::from_bytes([7; 32]).expect("key");
        let rollup = Address::repeat_byte(0x11);
        let quote = EpochProofQuote {
            prover: signer.address(),
            epoch_number: U256::from(3),
            epoch_init_block: U256::from(12),
            epoch_final_block: U256::from(15),
            total_fees: U256::MAX,
            rollup_address: rollup,
            basis_point_fee: fee,
            bond_amount: U256::ZERO,
            valid_until_slot: U256::from(u64::MAX),
        };
        GossipQuote { chain_id: u64::MAX, signed: signer.sign(quote, &QuoteDomain::new(u64::MAX, rollup)) }
    }

    #[test]
    fn round_trips_extreme_values_and_keeps_the_id() {
        let quote = sample(10_000);
        let bytes = quote.encode();
        assert!(bytes.len() < MAX_MESSAGE_BYTES);
        let back = GossipQuote::decode(&bytes).expect("decodes");
        assert_eq!(back, quote);
        assert_eq!(back.id(), quote.signed.id(&QuoteDomain::new(u64::MAX, Address::repeat_byte(0x11))));
        assert_eq!(back.signed.verify(&back.domain()), Ok(quote.signed.quote.prover));
    }

    #[test]
    fn leading_zero_bytes_are_the_same_number() {
        let quote = sample(5);
        let mut message = proto::SignedEpochProofQuote::decode(quote.encode().as_slice()).expect("decodes");
        let inner = message.quote.as_mut().expect("quote");
        inner.epoch_number = [0u8; 32].iter().copied().chain([3]).skip(1).collect();
        assert_eq!(inner.epoch_number.len(), 32);
        assert_eq!(GossipQuote::decode(&message.encode_to_vec()).expect("decodes"), quote);
    }

    #[test]
    fn malformed_fields_are_named() {
        let quote = sample(5);
        let base = proto::SignedEpochProofQuote::decode(quote.encode().as_slice()).expect("decodes");
        type Mutation = Box<dyn Fn(&mut proto::SignedEpochProofQuote)>;
        let cases: Vec<(&str, &str, Mutation)> = vec![
            ("quote", "malformed_message", Box::new(|m| m.quote = None)),
            ("prover", "malformed_message", Box::new(|m| m.quote.as_mut().expect("q").prover.truncate(19))),
            ("rollupAddress", "malformed_message", Box::new(|m| m.quote.as_mut().expect("q").rollup_address.push(0))),
            ("totalFees", "malformed_message", Box::new(|m| m.quote.as_mut().expect("q").total_fees = vec![1; 33])),
            ("basisPointFee", "malformed_message", Box::new(|m| m.quote.as_mut().expect("q").basis_point_fee = 10_001)),
            ("signature", "invalid_signature", Box::new(|m| m.signature.truncate(64))),
        ];
        for (field, code, mutate) in cases {
            let mut message = base.clone();
            mutate(&mut message);
            let error = GossipQuote::decode(&message.encode_to_vec()).expect_err(field);
            assert_eq!((error.field, error.code()), (field, code), "{error}");
        }
        let error = GossipQuote::decode(b"\xff\xff\xff").expect_err("garbage");
        assert_eq!((error.field, error.code()), ("message", "malformed_message"));
        let error = GossipQuote::decode(&vec![0u8; MAX_MESSAGE_BYTES + 1]).expect_err("too large");
        assert_eq!(error.field, "message");
    }
}
