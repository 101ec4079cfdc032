//! The quote itself, its EIP-712 digest (which is also its id), and the signed quote.

use alloy_primitives::{Address, B256, U256, keccak256};

use crate::{QuoteDomain, QuoteSignature, SignatureError};

/// The EIP-712 primary type of a quote, exactly as the rollup contract hashes it.
pub const EPOCH_PROOF_QUOTE_TYPE: &str = "EpochProofQuote(address prover,uint256 epochNumber,uint256 epochInitBlock,uint256 epochFinalBlock,uint256 totalFees,address rollupAddress,uint32 basisPointFee,uint256 bondAmount,uint256 validUntilSlot)";

/// The largest `basisPointFee`: 10000 basis points is the whole of the epoch's fees.
pub const MAX_BASIS_POINT_FEE: u32 = 10_000;

/// What the rollup pays the prover that proves an epoch with `total_fees` under a claim at
/// `basis_point_fee`: `total_fees × basis_point_fee / 10000`, rounded down. `None` when the
/// product overflows 256 bits: the rollup's checked arithmetic then reverts, and no proof can be
/// submitted under that claim.
pub fn prover_payout(total_fees: U256, basis_point_fee: u32) -> Option<U256> {
    total_fees.checked_mul(U256::from(basis_point_fee)).map(|product| product / U256::from(MAX_BASIS_POINT_FEE))
}

/// A prover's offer to prove one epoch: the unsigned part of a quote.
///
/// The block range and the fees are part of what is signed, so a quote can only be claimed for
/// exactly the epoch the prover priced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EpochProofQuote {
    /// The signer; its escrow deposit backs the bond.
    pub prover: Address,
    /// The epoch to prove.
    pub epoch_number: U256,
    /// First L2 block of the epoch.
    pub epoch_init_block: U256,
    /// Last L2 block of the epoch (inclusive).
    pub epoch_final_block: U256,
    /// Sum of the epoch's L2 block fees, as the prover saw them.
    pub total_fees: U256,
    /// The rollup contract this quote is for.
    pub rollup_address: Address,
    /// Share of `total_fees` paid to the prover, in basis points (`0..=10000`).
    pub basis_point_fee: u32,
    /// Bond staked from the prover's escrow deposit when the quote is claimed.
    pub bond_amount: U256,
    /// Last L2 slot (absolute, inclusive) at which the quote may be claimed.
    pub valid_until_slot: U256,
}

fn type_hash() -> B256 {
    static TYPE_HASH: std::sync::OnceLock<B256> = std::sync::OnceLock::new();
    *TYPE_HASH.get_or_init(|| keccak256(EPOCH_PROOF_QUOTE_TYPE))
}

impl EpochProofQuote {
    /// The EIP-712 `hashStruct` of the quote.
    pub fn struct_hash(&self) -> B256 {
        let mut buf = [0u8; 10 * 32];
        buf[..32].copy_from_slice(type_hash().as_slice());
        buf[44..64].copy_from_slice(self.prover.as_slice());
        buf[64..96].copy_from_slice(&self.epoch_number.to_be_bytes::<32>());
        buf[96..128].copy_from_slice(&self.epoch_init_block.to_be_bytes::<32>());
        buf[128..160].copy_from_slice(&self.epoch_final_block.to_be_bytes::<32>());
        buf[160..192].copy_from_slice(&self.total_fees.to_be_bytes::<32>());
        buf[204..224].copy_from_slice(self.rollup_address.as_slice());
        buf[252..256].copy_from_slice(&self.basis_point_fee.to_be_bytes());
        buf[256..288].copy_from_slice(&self.bond_amount.to_be_bytes::<32>());
        buf[288..320].copy_from_slice(&self.valid_until_slot.to_be_bytes::<32>());
        keccak256(buf)
    }

    /// The EIP-712 digest under `domain`: what is signed, and the quote's id. Equal to the
    /// rollup contract's `quoteToDigest(quote)`.
    pub fn digest(&self, domain: &QuoteDomain) -> B256 {
        let mut buf = [0u8; 2 + 32 + 32];
        buf[0] = 0x19;
        buf[1] = 0x01;
        buf[2..34].copy_from_slice(domain.separator().as_slice());
        buf[34..].copy_from_slice(self.struct_hash().as_slice());
        keccak256(buf)
    }
}

/// A quote with the prover's signature: what provers send and proposers claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SignedEpochProofQuote {
    /// The signed fields.
    pub quote: EpochProofQuote,
    /// The prover's signature over [`EpochProofQuote::digest`].
    pub signature: QuoteSignature,
}

/// Why a signed quote does not verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// No public key can be recovered from the signature over this digest.
    #[error("signature does not recover to any key: {0}")]
    Unrecoverable(SignatureError),
    /// The signature is valid but was made by someone other than `quote.prover`.
    #[error("signature recovers to {recovered}, not to the prover {expected}")]
    WrongSigner {
        /// The quote's `prover`.
        expected: Address,
        /// Who actually signed.
        recovered: Address,
    },
}

impl SignedEpochProofQuote {
    /// The quote's id: its EIP-712 digest under `domain`.
    pub fn id(&self, domain: &QuoteDomain) -> B256 {
        self.quote.digest(domain)
    }

    /// Checks that the signature is the prover's and returns the prover.
    pub fn verify(&self, domain: &QuoteDomain) -> Result<Address, VerifyError> {
        self.verify_digest(self.id(domain)).map(|_| self.quote.prover)
    }

    /// Like [`Self::verify`] for a caller that already computed the digest (the quote id),
    /// so that it is hashed once.
    pub fn verify_digest(&self, digest: B256) -> Result<Address, VerifyError> {
        let recovered = self.signature.recover(digest).map_err(VerifyError::Unrecoverable)?;
        if recovered == self.quote.prover {
            Ok(recovered)
        } else {
            Err(VerifyError::WrongSigner { expected: self.quote.prover, recovered })
        }
    }
}
