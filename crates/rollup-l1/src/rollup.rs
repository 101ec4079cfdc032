//! The rollup contract: time, L2 blocks, epochs, claims, proofs and pruning.

use alloy::{
    primitives::{Address, B256, Bytes, U256},
    providers::{DynProvider, Provider},
    rpc::types::TransactionReceipt,
};
use epoch_quote::{EpochProofQuote, QuoteDomain, SignedEpochProofQuote};

use crate::{
    L1Error,
    bindings::Rollup::{self, RollupErrors, RollupInstance},
    tx::send,
};

/// The one proof the devnet verifier (`contracts/src/DevnetVerifier.sol`) accepts for `epoch`
/// with `inputs` ([`RollupContract::epoch_proof_public_inputs`]): keccak256 of both, ABI-encoded.
pub fn devnet_proof(epoch: u64, inputs: &[B256]) -> Bytes {
    use alloy::sol_types::SolValue as _;
    Bytes::from(alloy::primitives::keccak256((U256::from(epoch), inputs.to_vec()).abi_encode_params()).to_vec())
}

/// The rollup's fixed parameters, read once from the contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RollupConfig {
    /// The rollup contract.
    pub address: Address,
    /// The L1 chain id (part of every quote's EIP-712 domain).
    pub chain_id: u64,
    /// Timestamp of slot 0.
    pub genesis_time: u64,
    /// Seconds per L2 slot.
    pub slot_duration: u64,
    /// Slots per epoch.
    pub epoch_duration: u64,
    /// Slots at the start of the next epoch during which an epoch may be claimed.
    pub claim_window_slots: u64,
    /// Smallest bond a claimed quote may carry.
    pub min_bond_amount: U256,
    /// The fee and bond token.
    pub token: Address,
    /// The proof-commitment escrow.
    pub escrow: Address,
    /// The proof verifier.
    pub verifier: Address,
}

impl RollupConfig {
    /// The EIP-712 domain quotes for this rollup are signed under.
    pub fn quote_domain(&self) -> QuoteDomain {
        QuoteDomain::new(self.chain_id, self.address)
    }

    /// The slot at L1 time `timestamp`.
    pub fn slot_at(&self, timestamp: u64) -> u64 {
        timestamp.saturating_sub(self.genesis_time) / self.slot_duration
    }

    /// The epoch `slot` belongs to.
    pub fn epoch_at_slot(&self, slot: u64) -> u64 {
        slot / self.epoch_duration
    }

    /// The first slot of `epoch`.
    pub fn first_slot(&self, epoch: u64) -> u64 {
        epoch.saturating_mul(self.epoch_duration)
    }

    /// The L1 timestamp at which `slot` starts.
    pub fn slot_start(&self, slot: u64) -> u64 {
        self.genesis_time.saturating_add(slot.saturating_mul(self.slot_duration))
    }

    /// The slots (inclusive) in which `epoch` may be claimed: the start of the next epoch.
    pub fn claim_window(&self, epoch: u64) -> (u64, u64) {
        let first = self.first_slot(epoch.saturating_add(1));
        (first, first + self.claim_window_slots - 1)
    }
}

/// Where an epoch is in its life, as the contract reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EpochState {
    /// No blocks.
    None,
    /// The current epoch, with blocks.
    Open,
    /// Ended, unclaimed, unproven.
    Complete,
    /// Claimed and not yet proven.
    Claimed,
    /// Proven.
    Proven,
    /// Rolled back by a prune (and with no blocks since).
    Pruned,
}

impl EpochState {
    fn from_raw(state: u8) -> Self {
        match state {
            1 => Self::Open,
            2 => Self::Complete,
            3 => Self::Claimed,
            4 => Self::Proven,
            5 => Self::Pruned,
            _ => Self::None,
        }
    }
}

/// An epoch's blocks and fees, as recorded on L1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Epoch {
    /// The epoch number.
    pub number: u64,
    /// First L2 block.
    pub init_block: u64,
    /// Last L2 block (inclusive).
    pub final_block: u64,
    /// Number of L2 blocks.
    pub block_count: u64,
    /// Transactions in those blocks.
    pub tx_count: u64,
    /// Sum of the blocks' fees.
    pub total_fees: U256,
    /// Its state at the time of the read.
    pub state: EpochState,
}

/// The claim on the oldest unproven epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProofClaim {
    /// The claimed epoch.
    pub epoch_number: u64,
    /// The prover's fee in basis points.
    pub basis_point_fee: u32,
    /// The staked bond.
    pub bond_amount: U256,
    /// The prover whose bond is staked and who will be paid.
    pub bond_provider: Address,
    /// The proposer that claimed.
    pub proposer_claimant: Address,
    /// The slot of the claim.
    pub claimed_at_slot: u64,
    /// The claimed quote's id (its EIP-712 digest).
    pub quote_id: B256,
}

/// An L2 block as recorded on L1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct L2Block {
    /// The slot it was proposed in.
    pub slot: u64,
    /// Its proposer.
    pub proposer: Address,
    /// Transactions in it.
    pub tx_count: u64,
    /// Fees paid for it.
    pub fees: U256,
    /// The archive root after it.
    pub archive: B256,
}

/// The rollup contract, called through `provider` (whose wallet, if any, signs transactions).
#[derive(Clone, Debug)]
pub struct RollupContract {
    instance: RollupInstance<DynProvider>,
}

fn small(value: U256) -> u64 {
    value.saturating_to()
}

impl From<&EpochProofQuote> for Rollup::EpochProofQuote {
    fn from(q: &EpochProofQuote) -> Self {
        Self {
            prover: q.prover,
            epochNumber: q.epoch_number,
            epochInitBlock: q.epoch_init_block,
            epochFinalBlock: q.epoch_final_block,
            totalFees: q.total_fees,
            rollupAddress: q.rollup_address,
            basisPointFee: q.basis_point_fee,
            bondAmount: q.bond_amount,
            validUntilSlot: q.valid_until_slot,
        }
    }
}

impl RollupContract {
    /// The rollup at `address`.
    pub fn new(address: Address, provider: DynProvider) -> Self {
        Self { instance: Rollup::new(address, provider) }
    }

    /// The contract's address.
    pub fn address(&self) -> Address {
        *self.instance.address()
    }

    /// The provider this wrapper calls through.
    pub fn provider(&self) -> &DynProvider {
        self.instance.provider()
    }

    /// Reads the fixed parameters and the chain id.
    pub async fn config(&self) -> Result<RollupConfig, L1Error> {
        let i = &self.instance;
        Ok(RollupConfig {
            address: self.address(),
            chain_id: self.provider().get_chain_id().await?,
            genesis_time: small(i.genesisTime().call().await?),
            slot_duration: small(i.slotDuration().call().await?),
            epoch_duration: small(i.epochDuration().call().await?),
            claim_window_slots: small(i.claimWindowSlots().call().await?),
            min_bond_amount: i.minBondAmount().call().await?,
            token: i.token().call().await?,
            escrow: i.escrow().call().await?,
            verifier: i.verifier().call().await?,
        })
    }

    /// Like [`Self::config`], retrying every `interval` (with a warning) until the L1 answers:
    /// for services that must start while their L1 is briefly unreachable.
    pub async fn config_when_reachable(&self, interval: std::time::Duration) -> RollupConfig {
        loop {
            match self.config().await {
                Ok(config) => return config,
                Err(error) => {
                    tracing::warn!(%error, rollup = %self.address(), "cannot read the rollup on L1; retrying");
                    tokio::time::sleep(interval).await;
                }
            }
        }
    }

    /// The current L2 slot, at the latest L1 block.
    pub async fn current_slot(&self) -> Result<u64, L1Error> {
        Ok(small(self.instance.getCurrentSlot().call().await?))
    }

    /// The current epoch, at the latest L1 block.
    pub async fn current_epoch(&self) -> Result<u64, L1Error> {
        Ok(small(self.instance.getCurrentEpoch().call().await?))
    }

    /// Who may propose and claim in the current slot (`None`: anyone).
    pub async fn current_proposer(&self) -> Result<Option<Address>, L1Error> {
        let proposer = self.instance.getCurrentProposer().call().await?;
        Ok((proposer != Address::ZERO).then_some(proposer))
    }

    /// Proposes the current slot's L2 block, paying `total_fees` (approved beforehand).
    pub async fn propose(&self, tx_count: u64, total_fees: U256, archive: B256) -> Result<TransactionReceipt, L1Error> {
        send(self.instance.propose(U256::from(tx_count), total_fees, archive)).await
    }

    /// The last proposed L2 block number (0 is genesis).
    pub async fn pending_block_number(&self) -> Result<u64, L1Error> {
        Ok(small(self.instance.pendingBlockNumber().call().await?))
    }

    /// The last proven L2 block number.
    pub async fn proven_block_number(&self) -> Result<u64, L1Error> {
        Ok(small(self.instance.provenBlockNumber().call().await?))
    }

    /// L2 block `number` (all zero if it does not exist).
    pub async fn block(&self, number: u64) -> Result<L2Block, L1Error> {
        let b = self.instance.getBlock(U256::from(number)).call().await?;
        Ok(L2Block {
            slot: small(b.slot),
            proposer: b.proposer,
            tx_count: small(b.txCount),
            fees: b.fees,
            archive: b.archive,
        })
    }

    /// Epoch `number`'s blocks, fees and state.
    pub async fn epoch(&self, number: u64) -> Result<Epoch, L1Error> {
        let e = self.instance.getEpoch(U256::from(number)).call().await?;
        Ok(Epoch {
            number,
            init_block: small(e.initBlock),
            final_block: small(e.finalBlock),
            block_count: small(e.blockCount),
            tx_count: small(e.txCount),
            total_fees: e.totalFees,
            state: EpochState::from_raw(e.state),
        })
    }

    /// The oldest epoch with unproven blocks, if any.
    pub async fn epoch_to_prove(&self) -> Result<Option<u64>, L1Error> {
        match self.instance.getEpochToProve().call().await {
            Ok(epoch) => Ok(Some(small(epoch))),
            Err(e) => match L1Error::from(e) {
                err if matches!(err.rollup_error(), Some(RollupErrors::NoEpochToProve(_))) => Ok(None),
                err => Err(err),
            },
        }
    }

    /// The current claim, if there is one.
    pub async fn proof_claim(&self) -> Result<Option<ProofClaim>, L1Error> {
        let c = self.instance.getProofClaim().call().await?;
        Ok((c.bondProvider != Address::ZERO).then(|| ProofClaim {
            epoch_number: small(c.epochNumber),
            basis_point_fee: c.basisPointFee,
            bond_amount: c.bondAmount,
            bond_provider: c.bondProvider,
            proposer_claimant: c.proposerClaimant,
            claimed_at_slot: small(c.claimedAtSlot),
            quote_id: c.quoteId,
        }))
    }

    /// The contract's EIP-712 digest of `quote` (its id).
    pub async fn quote_to_digest(&self, quote: &EpochProofQuote) -> Result<B256, L1Error> {
        Ok(self.instance.quoteToDigest(quote.into()).call().await?)
    }

    /// Checks every claim rule for `quote` without sending a transaction: `Ok` when
    /// [`Self::claim_epoch_proof_right`] would succeed at the latest block.
    pub async fn simulate_claim(&self, quote: &SignedEpochProofQuote) -> Result<(), L1Error> {
        let signature = Bytes::copy_from_slice(quote.signature.as_bytes());
        self.instance.claimEpochProofRight((&quote.quote).into(), signature).call().await?;
        Ok(())
    }

    /// Claims the right to prove the oldest unproven epoch with `quote`, staking its bond.
    pub async fn claim_epoch_proof_right(&self, quote: &SignedEpochProofQuote) -> Result<TransactionReceipt, L1Error> {
        let signature = Bytes::copy_from_slice(quote.signature.as_bytes());
        self.claim_with_raw_signature(&quote.quote, signature).await
    }

    /// Like [`Self::claim_epoch_proof_right`] with arbitrary signature bytes (the contract
    /// refuses malformed or malleated ones; this lets callers and tests show it).
    pub async fn claim_with_raw_signature(
        &self,
        quote: &EpochProofQuote,
        signature: Bytes,
    ) -> Result<TransactionReceipt, L1Error> {
        send(self.instance.claimEpochProofRight(quote.into(), signature)).await
    }

    /// The public inputs a proof of `epoch` commits to.
    pub async fn epoch_proof_public_inputs(&self, epoch: u64) -> Result<Vec<B256>, L1Error> {
        Ok(self.instance.getEpochProofPublicInputs(U256::from(epoch)).call().await?)
    }

    /// Submits the proof of `epoch`, paying the claimed prover and returning its bond.
    pub async fn submit_epoch_proof(&self, epoch: u64, proof: Bytes) -> Result<TransactionReceipt, L1Error> {
        send(self.instance.submitEpochProof(U256::from(epoch), proof)).await
    }

    /// Whether the oldest unproven epoch is due to be pruned.
    pub async fn can_prune(&self) -> Result<bool, L1Error> {
        Ok(self.instance.canPrune().call().await?)
    }

    /// Prunes the pending chain back to the proven tip (slashing a claimed bond).
    pub async fn prune(&self) -> Result<TransactionReceipt, L1Error> {
        send(self.instance.prune()).await
    }

    /// Bonds slashed so far, held by the rollup.
    pub async fn slashed_funds(&self) -> Result<U256, L1Error> {
        Ok(self.instance.slashedFunds().call().await?)
    }
}
