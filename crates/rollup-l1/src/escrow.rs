//! The proof-commitment escrow: provers' deposits, withdrawals and bonds.

use alloy::{
    primitives::{Address, U256},
    providers::DynProvider,
    rpc::types::TransactionReceipt,
};

use crate::{
    L1Error,
    bindings::ProofCommitmentEscrow::{self, ProofCommitmentEscrowInstance},
    tx::send,
};

/// A pending withdrawal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WithdrawRequest {
    /// Amount requested.
    pub amount: U256,
    /// L1 timestamp from which it may be executed.
    pub executable_at: u64,
}

/// The escrow contract, called through `provider` (whose wallet is the prover for writes).
#[derive(Clone, Debug)]
pub struct EscrowContract {
    instance: ProofCommitmentEscrowInstance<DynProvider>,
}

impl EscrowContract {
    /// The escrow at `address`.
    pub fn new(address: Address, provider: DynProvider) -> Self {
        Self { instance: ProofCommitmentEscrow::new(address, provider) }
    }

    /// The provider this wrapper calls through.
    pub fn provider(&self) -> &DynProvider {
        self.instance.provider()
    }

    /// The contract's address.
    pub fn address(&self) -> Address {
        *self.instance.address()
    }

    /// Deposits `amount` of the token (approved to the escrow beforehand) for the sender.
    pub async fn deposit(&self, amount: U256) -> Result<TransactionReceipt, L1Error> {
        send(self.instance.deposit(amount)).await
    }

    /// Requests a withdrawal of `amount` after the delay, replacing any earlier request.
    pub async fn start_withdraw(&self, amount: U256) -> Result<TransactionReceipt, L1Error> {
        send(self.instance.startWithdraw(amount)).await
    }

    /// Executes the sender's pending withdrawal once its delay has passed.
    pub async fn execute_withdraw(&self) -> Result<TransactionReceipt, L1Error> {
        send(self.instance.executeWithdraw()).await
    }

    /// `prover`'s deposit that is not staked: the largest bond a claim may take.
    pub async fn deposit_of(&self, prover: Address) -> Result<U256, L1Error> {
        Ok(self.instance.deposits(prover).call().await?)
    }

    /// `prover`'s deposit as of L1 block `block` (what a watcher that processed up to `block`
    /// should record).
    pub async fn deposit_of_at(&self, prover: Address, block: u64) -> Result<U256, L1Error> {
        Ok(self.instance.deposits(prover).block(block.into()).call().await?)
    }

    /// `prover`'s bonds currently staked by claims.
    pub async fn staked_of(&self, prover: Address) -> Result<U256, L1Error> {
        Ok(self.instance.staked(prover).call().await?)
    }

    /// `prover`'s pending withdrawal, if any.
    pub async fn withdraw_request(&self, prover: Address) -> Result<Option<WithdrawRequest>, L1Error> {
        let r = self.instance.withdrawRequests(prover).call().await?;
        Ok((!r.amount.is_zero())
            .then(|| WithdrawRequest { amount: r.amount, executable_at: r.executableAt.saturating_to() }))
    }

    /// The withdrawal delay in seconds.
    pub async fn withdraw_delay(&self) -> Result<u64, L1Error> {
        Ok(self.instance.withdrawDelay().call().await?.saturating_to())
    }
}
