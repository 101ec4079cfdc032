//! Deploying the whole contract set: token, verifier, rollup (which creates its escrow).

use alloy::{
    primitives::{Address, U256},
    providers::DynProvider,
};

use crate::{
    L1Error,
    bindings::{DevnetVerifier, FeeToken, Rollup},
};

/// The rollup's constructor parameters, and optionally an existing token or verifier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeployParams {
    /// Seconds per L2 slot.
    pub slot_duration: u64,
    /// Slots per epoch.
    pub epoch_duration: u64,
    /// Slots at the start of the next epoch in which an epoch may be claimed.
    pub claim_window_slots: u64,
    /// Smallest bond a claimed quote may carry.
    pub min_bond_amount: U256,
    /// Seconds an escrow withdrawal waits.
    pub withdraw_delay: u64,
    /// Proposers taking slots in turn; empty: anyone may propose and claim.
    pub proposers: Vec<Address>,
    /// Use this fee/bond token instead of deploying a new mintable one.
    pub token: Option<Address>,
    /// Use this verifier instead of deploying the devnet verifier.
    pub verifier: Option<Address>,
}

impl Default for DeployParams {
    /// Short slots and epochs for a devnet: 12-second slots, 8-slot epochs, a 4-slot claim window.
    fn default() -> Self {
        Self {
            slot_duration: 12,
            epoch_duration: 8,
            claim_window_slots: 4,
            min_bond_amount: U256::from(1_000),
            withdraw_delay: 3_600,
            proposers: Vec::new(),
            token: None,
            verifier: None,
        }
    }
}

/// The addresses of a deployed contract set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deployment {
    /// The rollup.
    pub rollup: Address,
    /// Its proof-commitment escrow.
    pub escrow: Address,
    /// The fee and bond token.
    pub token: Address,
    /// The proof verifier.
    pub verifier: Address,
}

/// Deploys the contract set from the account of `provider`'s wallet, which becomes the token's
/// minter when a token is deployed.
pub async fn deploy(provider: &DynProvider, params: &DeployParams) -> Result<Deployment, L1Error> {
    let token = match params.token {
        Some(token) => token,
        None => *FeeToken::deploy(provider.clone(), "Prover Coordination Fee".into(), "PCF".into()).await?.address(),
    };
    let verifier = match params.verifier {
        Some(verifier) => verifier,
        None => *DevnetVerifier::deploy(provider.clone()).await?.address(),
    };
    let rollup = Rollup::deploy(
        provider.clone(),
        token,
        verifier,
        U256::from(params.slot_duration),
        U256::from(params.epoch_duration),
        U256::from(params.claim_window_slots),
        params.min_bond_amount,
        U256::from(params.withdraw_delay),
        params.proposers.clone(),
    )
    .await?;
    let escrow = rollup.escrow().call().await?;
    Ok(Deployment { rollup: *rollup.address(), escrow, token, verifier })
}
