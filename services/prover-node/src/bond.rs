//! BondManager: keeps the prover's escrow deposit at least at the minimum, topping it up to the
//! target from the prover's tokens, and large enough for the bond of the next quote.

use alloy::primitives::{Address, U256};
use rollup_l1::{EscrowContract, L1Error, TokenContract};

/// Why the deposit could not be made sufficient.
#[derive(Debug, thiserror::Error)]
pub enum BondError {
    /// The prover does not hold the tokens the top-up needs.
    #[error("the prover {prover} holds {balance} tokens; topping the escrow deposit up needs {needed}")]
    InsufficientTokens {
        /// The prover.
        prover: Address,
        /// Its token balance.
        balance: U256,
        /// What the top-up needs.
        needed: U256,
    },
    /// An L1 call failed.
    #[error(transparent)]
    L1(#[from] L1Error),
}

/// What [`BondManager::ensure_bond`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BondAction {
    /// The deposit was already enough.
    Sufficient {
        /// The deposit.
        deposit: U256,
    },
    /// Tokens were deposited.
    ToppedUp {
        /// Amount deposited.
        deposited: U256,
        /// The deposit after it.
        deposit: U256,
    },
}

/// The prover's escrow deposit, managed.
#[derive(Clone, Debug)]
pub struct BondManager {
    prover: Address,
    token: TokenContract,
    escrow: EscrowContract,
    minimum: U256,
    target: U256,
}

impl BondManager {
    /// A manager for `prover`'s deposit in `escrow`, paid from its `token` balance (both through
    /// the prover's wallet): at least `minimum`, topped up to `target`.
    pub fn new(prover: Address, token: TokenContract, escrow: EscrowContract, minimum: U256, target: U256) -> Self {
        Self { prover, token, escrow, minimum, target: target.max(minimum) }
    }

    /// The seed's `ensureBond(amount)`: makes the deposit at least `max(minimum, amount)`; when it
    /// is not, deposits enough to reach `max(target, amount)`. Approves the escrow first when the
    /// allowance is short.
    pub async fn ensure_bond(&self, amount: U256) -> Result<BondAction, BondError> {
        let deposit = self.escrow.deposit_of(self.prover).await?;
        if deposit >= self.minimum.max(amount) {
            return Ok(BondAction::Sufficient { deposit });
        }
        let top_up = self.target.max(amount) - deposit;
        let balance = self.token.balance_of(self.prover).await?;
        if balance < top_up {
            return Err(BondError::InsufficientTokens { prover: self.prover, balance, needed: top_up });
        }
        if self.token.allowance(self.prover, self.escrow.address()).await? < top_up {
            self.token.approve(self.escrow.address(), top_up).await?;
        }
        self.escrow.deposit(top_up).await?;
        let deposit = self.escrow.deposit_of(self.prover).await?;
        tracing::info!(prover = %self.prover, deposited = %top_up, deposit = %deposit, "escrow deposit topped up");
        Ok(BondAction::ToppedUp { deposited: top_up, deposit })
    }
}
