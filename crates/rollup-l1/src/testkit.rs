//! A ready-made test chain: a fresh anvil with the contracts deployed and the roles funded
//! (two proposers, two provers with escrow deposits), and helpers to move through slots, propose
//! blocks, and build, sign and prove quotes. Used by the tests of every crate that touches L1.

use alloy::{
    primitives::{Address, Bytes, U256, keccak256},
    signers::local::PrivateKeySigner,
};
use epoch_quote::{EpochProofQuote, QuoteSigner, SignedEpochProofQuote};

use crate::{
    DeployParams, Deployment, EscrowContract, L1Error, RollupConfig, RollupContract, TokenContract, deploy,
    devchain::Anvil,
};

/// Each prover's escrow deposit.
pub const DEPOSIT: u64 = 50_000;
/// The bond of [`TestChain::quote`]'s quotes.
pub const BOND: u64 = 5_000;
/// The fee of [`TestChain::quote`]'s quotes.
pub const FEE_BPS: u32 = 500;
/// The rollup's minimum bond.
pub const MIN_BOND: u64 = 1_000;
/// The escrow's withdrawal delay.
pub const WITHDRAW_DELAY: u64 = 3_600;

/// One participant: its keys and the contracts as seen through its wallet.
pub struct Actor {
    /// Its L1 key.
    pub key: PrivateKeySigner,
    /// The same key as a quote signer.
    pub signer: QuoteSigner,
    /// The rollup through its wallet.
    pub rollup: RollupContract,
    /// The escrow through its wallet.
    pub escrow: EscrowContract,
    /// The token through its wallet.
    pub token: TokenContract,
}

impl Actor {
    /// Its address.
    pub fn address(&self) -> Address {
        self.key.address()
    }
}

/// A funded, deployed local chain (stopped on drop).
pub struct TestChain {
    /// The L1.
    pub anvil: Anvil,
    /// The rollup's parameters.
    pub config: RollupConfig,
    /// The contracts.
    pub deployment: Deployment,
    /// Proposes and claims (dev key 3).
    pub proposer: Actor,
    /// A second proposer, for fee splits (dev key 4).
    pub proposer2: Actor,
    /// A prover with a deposit (dev key 1).
    pub prover: Actor,
    /// Another prover with a deposit (dev key 2).
    pub prover2: Actor,
}

/// 100-second slots, 4-slot epochs, a 2-slot claim window: time only moves when warped.
pub fn params() -> DeployParams {
    DeployParams {
        slot_duration: 100,
        epoch_duration: 4,
        claim_window_slots: 2,
        min_bond_amount: U256::from(MIN_BOND),
        withdraw_delay: WITHDRAW_DELAY,
        ..DeployParams::default()
    }
}

impl TestChain {
    /// A chain with [`params`].
    pub async fn start() -> Self {
        Self::start_with(params()).await
    }

    /// A chain with `params`.
    pub async fn start_with(params: DeployParams) -> Self {
        let anvil = Anvil::spawn().await.expect("anvil starts");
        let deployer = anvil.wallet_provider(&Anvil::dev_key(0));
        let deployment = deploy(&deployer, &params).await.expect("deploys");
        let config = RollupContract::new(deployment.rollup, deployer.clone()).config().await.expect("config");
        let minter = TokenContract::new(deployment.token, deployer);
        let actor = |index| {
            let key = Anvil::dev_key(index);
            let provider = anvil.wallet_provider(&key);
            Actor {
                signer: QuoteSigner::from_bytes(key.to_bytes().0).expect("key"),
                rollup: RollupContract::new(deployment.rollup, provider.clone()),
                escrow: EscrowContract::new(deployment.escrow, provider.clone()),
                token: TokenContract::new(deployment.token, provider),
                key,
            }
        };
        let chain = Self {
            proposer: actor(3),
            proposer2: actor(4),
            prover: actor(1),
            prover2: actor(2),
            config,
            deployment,
            anvil,
        };
        for actor in [&chain.proposer, &chain.proposer2, &chain.prover, &chain.prover2] {
            minter.mint(actor.address(), U256::from(1_000_000u64)).await.expect("mint");
        }
        for proposer in [&chain.proposer, &chain.proposer2] {
            proposer.token.approve(deployment.rollup, U256::MAX).await.expect("approve rollup");
        }
        for prover in [&chain.prover, &chain.prover2] {
            prover.token.approve(deployment.escrow, U256::MAX).await.expect("approve escrow");
            prover.escrow.deposit(U256::from(DEPOSIT)).await.expect("deposit");
        }
        chain
    }

    /// Mines a block one second into `slot`, so the next calls happen in that slot.
    pub async fn warp_to_slot(&self, slot: u64) {
        self.anvil.warp_to(self.config.slot_start(slot) + 1).await.expect("warp");
    }

    /// Proposes a block in `slot` (warping there) with `tx_count` txs and `fees`.
    pub async fn propose_at(&self, who: &Actor, slot: u64, tx_count: u64, fees: u64) {
        self.warp_to_slot(slot).await;
        who.rollup.propose(tx_count, U256::from(fees), keccak256(slot.to_be_bytes())).await.expect("propose");
    }

    /// Blocks in slots 1 and 2 of epoch 0 (two proposers, fees 3000 and 7000), then the clock at
    /// the first slot of its claim window.
    pub async fn epoch_zero_ready_to_claim(&self) {
        self.propose_at(&self.proposer, 1, 3, 3_000).await;
        self.propose_at(&self.proposer2, 2, 5, 7_000).await;
        self.warp_to_slot(self.config.claim_window(0).0).await;
    }

    /// A quote from `prover` that matches epoch `epoch` on L1 and is valid through its window.
    pub async fn quote(&self, prover: &Actor, epoch: u64) -> EpochProofQuote {
        let e = self.proposer.rollup.epoch(epoch).await.expect("epoch");
        EpochProofQuote {
            prover: prover.address(),
            epoch_number: U256::from(epoch),
            epoch_init_block: U256::from(e.init_block),
            epoch_final_block: U256::from(e.final_block),
            total_fees: e.total_fees,
            rollup_address: self.deployment.rollup,
            basis_point_fee: FEE_BPS,
            bond_amount: U256::from(BOND),
            valid_until_slot: U256::from(self.config.claim_window(epoch).1),
        }
    }

    /// `quote` signed by `prover` under the rollup's domain.
    pub fn sign(&self, prover: &Actor, quote: EpochProofQuote) -> SignedEpochProofQuote {
        prover.signer.sign(quote, &self.config.quote_domain())
    }

    /// Claims `quote`, signed by the first prover, as the first proposer.
    pub async fn claim(&self, quote: EpochProofQuote) -> Result<(), L1Error> {
        let signed = self.sign(&self.prover, quote);
        self.proposer.rollup.claim_epoch_proof_right(&signed).await.map(|_| ())
    }

    /// The devnet verifier's proof for `epoch`.
    pub async fn proof(&self, epoch: u64) -> Bytes {
        let inputs = self.proposer.rollup.epoch_proof_public_inputs(epoch).await.expect("inputs");
        crate::devnet_proof(epoch, &inputs)
    }

    /// `who`'s token balance.
    pub async fn balance(&self, who: Address) -> U256 {
        self.proposer.token.balance_of(who).await.expect("balance")
    }

    /// `count` more provers (keys derived from their index, the same every run), each with ETH,
    /// 1,000,000 tokens and an escrow deposit of `deposit`.
    pub async fn fund_provers(&self, count: usize, deposit: u64) -> Result<Vec<QuoteSigner>, L1Error> {
        let minter = TokenContract::new(self.deployment.token, self.anvil.wallet_provider(&Anvil::dev_key(0)));
        let mut signers = Vec::new();
        for i in 0..count {
            let secret = keccak256(format!("loadgen prover {i}"));
            let key = PrivateKeySigner::from_bytes(&secret).map_err(|e| L1Error::Rpc(e.to_string()))?;
            self.anvil
                .set_balance(key.address(), U256::from(10u64).pow(U256::from(20)))
                .await
                .map_err(|e| L1Error::Rpc(e.to_string()))?;
            minter.mint(key.address(), U256::from(1_000_000u64)).await?;
            let provider = self.anvil.wallet_provider(&key);
            TokenContract::new(self.deployment.token, provider.clone())
                .approve(self.deployment.escrow, U256::MAX)
                .await?;
            EscrowContract::new(self.deployment.escrow, provider).deposit(U256::from(deposit)).await?;
            signers.push(QuoteSigner::from_bytes(secret.0).map_err(|e| L1Error::Rpc(e.to_string()))?);
        }
        Ok(signers)
    }

    /// Like [`Self::epoch_zero_ready_to_claim`] with both blocks from `proposer`.
    pub async fn epoch_zero_ready_to_claim_by(&self, proposer: &Actor) {
        self.propose_at(proposer, 1, 3, 3_000).await;
        self.propose_at(proposer, 2, 5, 7_000).await;
        self.warp_to_slot(self.config.claim_window(0).0).await;
    }
}
