//! The EIP-712 domain that every quote is signed under.

use alloy_primitives::{Address, B256, U256, keccak256};

/// The EIP-712 domain type string.
pub const EIP712_DOMAIN_TYPE: &str =
    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)";
/// The domain's `name`.
pub const DOMAIN_NAME: &str = "ProverCoordination";
/// The domain's `version`.
pub const DOMAIN_VERSION: &str = "1";

/// The EIP-712 domain of one rollup on one L1 chain: `name = "ProverCoordination"`,
/// `version = "1"`, the L1 chain id and the rollup contract as `verifyingContract`.
///
/// The separator is computed once here because it is part of every quote digest, which sits on
/// the node's hottest path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuoteDomain {
    chain_id: u64,
    verifying_contract: Address,
    separator: B256,
}

impl QuoteDomain {
    /// The domain of the rollup at `rollup` on the L1 chain `chain_id`.
    pub fn new(chain_id: u64, rollup: Address) -> Self {
        let mut buf = [0u8; 5 * 32];
        buf[..32].copy_from_slice(keccak256(EIP712_DOMAIN_TYPE).as_slice());
        buf[32..64].copy_from_slice(keccak256(DOMAIN_NAME).as_slice());
        buf[64..96].copy_from_slice(keccak256(DOMAIN_VERSION).as_slice());
        buf[96..128].copy_from_slice(&U256::from(chain_id).to_be_bytes::<32>());
        buf[140..160].copy_from_slice(rollup.as_slice());
        Self { chain_id, verifying_contract: rollup, separator: keccak256(buf) }
    }

    /// The L1 chain id.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The rollup contract (the domain's `verifyingContract`).
    pub fn rollup(&self) -> Address {
        self.verifying_contract
    }

    /// The EIP-712 domain separator.
    pub fn separator(&self) -> B256 {
        self.separator
    }
}
