//! The fee and bond token.

use alloy::{
    primitives::{Address, U256},
    providers::DynProvider,
    rpc::types::TransactionReceipt,
};

use crate::{
    L1Error,
    bindings::FeeToken::{self, FeeTokenInstance},
    tx::send,
};

/// The ERC-20 fees are paid and bonds posted in.
#[derive(Clone, Debug)]
pub struct TokenContract {
    instance: FeeTokenInstance<DynProvider>,
}

impl TokenContract {
    /// The token at `address`.
    pub fn new(address: Address, provider: DynProvider) -> Self {
        Self { instance: FeeToken::new(address, provider) }
    }

    /// The contract's address.
    pub fn address(&self) -> Address {
        *self.instance.address()
    }

    /// Mints `amount` to `to` (only the deployer may; a devnet faucet).
    pub async fn mint(&self, to: Address, amount: U256) -> Result<TransactionReceipt, L1Error> {
        send(self.instance.mint(to, amount)).await
    }

    /// Allows `spender` to move up to `amount` of the sender's tokens.
    pub async fn approve(&self, spender: Address, amount: U256) -> Result<TransactionReceipt, L1Error> {
        send(self.instance.approve(spender, amount)).await
    }

    /// Sends `amount` to `to`.
    pub async fn transfer(&self, to: Address, amount: U256) -> Result<TransactionReceipt, L1Error> {
        send(self.instance.transfer(to, amount)).await
    }

    /// `owner`'s balance.
    pub async fn balance_of(&self, owner: Address) -> Result<U256, L1Error> {
        Ok(self.instance.balanceOf(owner).call().await?)
    }

    /// How much `spender` may move of `owner`'s tokens.
    pub async fn allowance(&self, owner: Address, spender: Address) -> Result<U256, L1Error> {
        Ok(self.instance.allowance(owner, spender).call().await?)
    }
}
