//! The rollup's L1 side from Rust: `sol!` bindings generated from the committed contract
//! artifacts, a typed wrapper per contract (one documented method per contract call), reverts
//! decoded into [`Revert`], deployment of the whole set, and [`devchain`], a local anvil L1.
//!
//! The contracts' rules are those of DESIGN §3; the Solidity sources are in `contracts/src`.

pub mod bindings;
pub mod devchain;
#[cfg(feature = "testkit")]
pub mod testkit;

mod deploy;
mod error;
mod escrow;
mod provider;
mod rollup;
mod token;
mod tx;

pub use deploy::{DeployParams, Deployment, deploy};
pub use error::{L1Error, Revert};
pub use escrow::{EscrowContract, WithdrawRequest};
pub use provider::{L1_REQUEST_TIMEOUT, connect, connect_wallet};
pub use rollup::{Epoch, EpochState, L2Block, ProofClaim, RollupConfig, RollupContract, devnet_proof};
pub use token::TokenContract;
