//! The contracts on a real anvil, one chain per test: every claim rule's rejection with its
//! decoded error, and the paths that move money (claim, proof, prune, slash, withdraw).

use alloy::primitives::{Address, B256, Bytes, U256};
use epoch_quote::EpochProofQuote;
use rollup_l1::{
    EpochState, L1Error,
    bindings::{ProofCommitmentEscrow::ProofCommitmentEscrowErrors as EscrowErr, Rollup::RollupErrors as Err},
    devchain::Anvil,
    testkit::{BOND, DEPOSIT, FEE_BPS, MIN_BOND, TestChain, params},
};

/// The rollup error a failed call reverted with.
fn rollup_error<T: std::fmt::Debug>(result: Result<T, L1Error>) -> Err {
    match result {
        Err(L1Error::Revert(rollup_l1::Revert::Rollup(e))) => e,
        other => panic!("expected a rollup revert, got {other:?}"),
    }
}

mod claim_rejections {
    use super::*;

    #[tokio::test]
    async fn nothing_to_prove() {
        let chain = TestChain::start().await;
        chain.warp_to_slot(5).await;
        let quote = chain.quote(&chain.prover, 0).await;
        assert!(matches!(rollup_error(chain.claim(quote).await), Err::NoEpochToProve(_)));
    }

    #[tokio::test]
    async fn signature_by_someone_other_than_the_prover() {
        let chain = TestChain::start().await;
        chain.epoch_zero_ready_to_claim().await;
        let quote = chain.quote(&chain.prover, 0).await;
        let forged = chain.sign(&chain.prover2, quote);
        let err = rollup_error(chain.proposer.rollup.claim_epoch_proof_right(&forged).await);
        let Err::InvalidSignature(e) = err else { panic!("{err:?}") };
        assert_eq!((e.expected, e.recovered), (chain.prover.address(), chain.prover2.address()));
    }

    #[tokio::test]
    async fn high_s_twin_of_a_valid_signature() {
        let chain = TestChain::start().await;
        chain.epoch_zero_ready_to_claim().await;
        let quote = chain.quote(&chain.prover, 0).await;
        let signed = chain.sign(&chain.prover, quote);
        let order =
            U256::from_str_radix("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141", 16).expect("n");
        let mut bytes = *signed.signature.as_bytes();
        let high_s = order - U256::from_be_slice(&bytes[32..64]);
        bytes[32..64].copy_from_slice(&high_s.to_be_bytes::<32>());
        bytes[64] = 55 - bytes[64];
        let err =
            rollup_error(chain.proposer.rollup.claim_with_raw_signature(&quote, Bytes::from(bytes.to_vec())).await);
        assert_eq!(err, Err::SignatureHighS(rollup_l1::bindings::Rollup::SignatureHighS { s: high_s.into() }));
    }

    #[tokio::test]
    async fn malformed_signatures() {
        let chain = TestChain::start().await;
        chain.epoch_zero_ready_to_claim().await;
        let quote = chain.quote(&chain.prover, 0).await;
        let signed = chain.sign(&chain.prover, quote);
        let short = Bytes::from(signed.signature.as_bytes()[..64].to_vec());
        let err = rollup_error(chain.proposer.rollup.claim_with_raw_signature(&quote, short).await);
        assert!(matches!(err, Err::InvalidSignatureLength(ref e) if e.length == U256::from(64)), "{err:?}");
        let mut bad_v = *signed.signature.as_bytes();
        bad_v[64] = 29;
        let err =
            rollup_error(chain.proposer.rollup.claim_with_raw_signature(&quote, Bytes::from(bad_v.to_vec())).await);
        assert!(matches!(err, Err::InvalidSignatureV(ref e) if e.v == 29), "{err:?}");
    }

    #[tokio::test]
    async fn wrong_rollup_address() {
        let chain = TestChain::start().await;
        chain.epoch_zero_ready_to_claim().await;
        let mut quote = chain.quote(&chain.prover, 0).await;
        quote.rollup_address = Address::repeat_byte(0xab);
        let err = rollup_error(chain.claim(quote).await);
        let Err::WrongRollup(e) = err else { panic!("{err:?}") };
        assert_eq!((e.expected, e.actual), (chain.deployment.rollup, quote.rollup_address));
    }

    #[tokio::test]
    async fn expired() {
        let chain = TestChain::start().await;
        chain.epoch_zero_ready_to_claim().await;
        let mut quote = chain.quote(&chain.prover, 0).await;
        let (first, _) = chain.config.claim_window(0);
        quote.valid_until_slot = U256::from(first - 1);
        let err = rollup_error(chain.claim(quote).await);
        let Err::QuoteExpired(e) = err else { panic!("{err:?}") };
        assert_eq!((e.currentSlot, e.validUntilSlot), (U256::from(first), U256::from(first - 1)));
    }

    #[tokio::test]
    async fn fee_over_10000_basis_points() {
        let chain = TestChain::start().await;
        chain.epoch_zero_ready_to_claim().await;
        let mut quote = chain.quote(&chain.prover, 0).await;
        quote.basis_point_fee = 10_001;
        let err = rollup_error(chain.claim(quote).await);
        assert!(matches!(err, Err::FeeTooHigh(ref e) if e.basisPointFee == 10_001 && e.maximum == 10_000), "{err:?}");
    }

    #[tokio::test]
    async fn caller_is_not_the_slots_proposer() {
        let mut p = params();
        let chosen = Anvil::dev_key(3).address();
        p.proposers = vec![chosen];
        let chain = TestChain::start_with(p).await;
        chain.epoch_zero_ready_to_claim_by(&chain.proposer).await;
        let quote = chain.quote(&chain.prover, 0).await;
        let signed = chain.sign(&chain.prover, quote);
        let err = rollup_error(chain.proposer2.rollup.claim_epoch_proof_right(&signed).await);
        let Err::NotProposer(e) = err else { panic!("{err:?}") };
        assert_eq!((e.expected, e.caller), (chosen, chain.proposer2.address()));
        // The slot's proposer may.
        chain.proposer.rollup.claim_epoch_proof_right(&signed).await.expect("the proposer claims");
    }

    #[tokio::test]
    async fn not_the_oldest_unproven_epoch() {
        let chain = TestChain::start().await;
        chain.epoch_zero_ready_to_claim().await;
        let mut quote = chain.quote(&chain.prover, 0).await;
        quote.epoch_number = U256::from(1);
        let err = rollup_error(chain.claim(quote).await);
        assert!(matches!(err, Err::WrongEpoch(ref e) if e.expected.is_zero() && e.actual == U256::from(1)), "{err:?}");
    }

    #[tokio::test]
    async fn block_range_differs_from_the_epochs() {
        let chain = TestChain::start().await;
        chain.epoch_zero_ready_to_claim().await;
        // A prover that priced the epoch after its first block only.
        let mut quote = chain.quote(&chain.prover, 0).await;
        quote.epoch_final_block = U256::from(1);
        let err = rollup_error(chain.claim(quote).await);
        let Err::BlockRangeMismatch(e) = err else { panic!("{err:?}") };
        assert_eq!(
            (e.expectedInit, e.expectedFinal, e.actualInit, e.actualFinal),
            (U256::from(1), U256::from(2), U256::from(1), U256::from(1))
        );
        let mut quote = chain.quote(&chain.prover, 0).await;
        quote.epoch_init_block = U256::from(2);
        assert!(matches!(rollup_error(chain.claim(quote).await), Err::BlockRangeMismatch(_)));
    }

    #[tokio::test]
    async fn fees_differ_from_the_epochs() {
        let chain = TestChain::start().await;
        chain.epoch_zero_ready_to_claim().await;
        let mut quote = chain.quote(&chain.prover, 0).await;
        quote.total_fees = U256::from(3_000);
        let err = rollup_error(chain.claim(quote).await);
        assert!(
            matches!(err, Err::FeesMismatch(ref e) if e.expected == U256::from(10_000) && e.actual == U256::from(3_000)),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn before_the_claim_window() {
        let chain = TestChain::start().await;
        chain.propose_at(&chain.proposer, 1, 3, 3_000).await;
        chain.warp_to_slot(3).await;
        let quote = chain.quote(&chain.prover, 0).await;
        let err = rollup_error(chain.claim(quote).await);
        let Err::NotInClaimWindow(e) = err else { panic!("{err:?}") };
        assert_eq!((e.currentSlot, e.windowStart, e.windowEnd), (U256::from(3), U256::from(4), U256::from(5)));
    }

    #[tokio::test]
    async fn already_claimed() {
        let chain = TestChain::start().await;
        chain.epoch_zero_ready_to_claim().await;
        chain.claim(chain.quote(&chain.prover, 0).await).await.expect("first claim");
        let second = chain.sign(&chain.prover2, chain.quote(&chain.prover2, 0).await);
        let err = rollup_error(chain.proposer.rollup.claim_epoch_proof_right(&second).await);
        let Err::AlreadyClaimed(e) = err else { panic!("{err:?}") };
        assert_eq!((e.epoch, e.bondProvider), (U256::ZERO, chain.prover.address()));
    }

    #[tokio::test]
    async fn bond_below_the_minimum() {
        let chain = TestChain::start().await;
        chain.epoch_zero_ready_to_claim().await;
        let mut quote = chain.quote(&chain.prover, 0).await;
        quote.bond_amount = U256::from(MIN_BOND - 1);
        let err = rollup_error(chain.claim(quote).await);
        assert!(matches!(err, Err::BondTooLow(ref e) if e.minimum == U256::from(MIN_BOND)), "{err:?}");
    }

    #[tokio::test]
    async fn bond_above_the_deposit() {
        let chain = TestChain::start().await;
        chain.epoch_zero_ready_to_claim().await;
        let mut quote = chain.quote(&chain.prover, 0).await;
        quote.bond_amount = U256::from(DEPOSIT + 1);
        let err = rollup_error(chain.claim(quote).await);
        let Err::BondExceedsDeposit(e) = err else { panic!("{err:?}") };
        assert_eq!(
            (e.prover, e.deposit, e.bondAmount),
            (chain.prover.address(), U256::from(DEPOSIT), U256::from(DEPOSIT + 1))
        );
    }

    #[tokio::test]
    async fn simulation_reports_the_same_error_without_a_transaction() {
        let chain = TestChain::start().await;
        chain.epoch_zero_ready_to_claim().await;
        let mut quote = chain.quote(&chain.prover, 0).await;
        quote.bond_amount = U256::from(MIN_BOND - 1);
        let signed = chain.sign(&chain.prover, quote);
        let err = rollup_error(chain.proposer.rollup.simulate_claim(&signed).await);
        assert!(matches!(err, Err::BondTooLow(_)));
        let good = chain.sign(&chain.prover, chain.quote(&chain.prover, 0).await);
        chain.proposer.rollup.simulate_claim(&good).await.expect("a valid claim simulates");
        assert_eq!(chain.proposer.rollup.proof_claim().await.expect("read"), None, "simulation changed nothing");
    }
}

mod money {
    use super::*;

    #[tokio::test]
    async fn a_claim_stakes_the_bond_and_records_the_claim() {
        let chain = TestChain::start().await;
        chain.epoch_zero_ready_to_claim().await;
        let quote = chain.quote(&chain.prover, 0).await;
        let signed = chain.sign(&chain.prover, quote);
        chain.proposer.rollup.claim_epoch_proof_right(&signed).await.expect("claims");

        let escrow = &chain.prover.escrow;
        assert_eq!(escrow.deposit_of(chain.prover.address()).await.expect("read"), U256::from(DEPOSIT - BOND));
        assert_eq!(escrow.staked_of(chain.prover.address()).await.expect("read"), U256::from(BOND));
        let claim = chain.proposer.rollup.proof_claim().await.expect("read").expect("a claim");
        assert_eq!(claim.epoch_number, 0);
        assert_eq!(claim.bond_provider, chain.prover.address());
        assert_eq!(claim.proposer_claimant, chain.proposer.address());
        assert_eq!(claim.bond_amount, U256::from(BOND));
        assert_eq!(claim.basis_point_fee, FEE_BPS);
        assert_eq!(claim.claimed_at_slot, chain.config.claim_window(0).0);
        assert_eq!(claim.quote_id, signed.id(&chain.config.quote_domain()));
        assert_eq!(chain.proposer.rollup.epoch(0).await.expect("read").state, EpochState::Claimed);
    }

    #[tokio::test]
    async fn a_proof_returns_the_bond_pays_the_prover_and_the_rest_to_the_proposers() {
        let chain = TestChain::start().await;
        chain.epoch_zero_ready_to_claim().await;
        chain.claim(chain.quote(&chain.prover, 0).await).await.expect("claims");
        let before = (
            chain.balance(chain.prover.address()).await,
            chain.balance(chain.proposer.address()).await,
            chain.balance(chain.proposer2.address()).await,
        );
        // Not a proof of this epoch: refused.
        let wrong = Bytes::from(B256::repeat_byte(1).to_vec());
        assert!(matches!(rollup_error(chain.prover.rollup.submit_epoch_proof(0, wrong).await), Err::InvalidProof(_)));

        chain.prover.rollup.submit_epoch_proof(0, chain.proof(0).await).await.expect("proves");

        // totalFees 10000 at 500 bps: 500 to the prover; 9500 split 3:7 between the proposers.
        assert_eq!(chain.balance(chain.prover.address()).await - before.0, U256::from(500));
        assert_eq!(chain.balance(chain.proposer.address()).await - before.1, U256::from(2_850));
        assert_eq!(chain.balance(chain.proposer2.address()).await - before.2, U256::from(6_650));
        let escrow = &chain.prover.escrow;
        assert_eq!(escrow.deposit_of(chain.prover.address()).await.expect("read"), U256::from(DEPOSIT));
        assert_eq!(escrow.staked_of(chain.prover.address()).await.expect("read"), U256::ZERO);
        assert_eq!(chain.proposer.rollup.proven_block_number().await.expect("read"), 2);
        assert_eq!(chain.proposer.rollup.epoch(0).await.expect("read").state, EpochState::Proven);
        assert_eq!(chain.proposer.rollup.proof_claim().await.expect("read"), None);
        assert_eq!(chain.proposer.rollup.epoch_to_prove().await.expect("read"), None);
    }

    #[tokio::test]
    async fn rounding_dust_goes_to_the_last_blocks_proposer_and_nothing_is_lost() {
        let chain = TestChain::start().await;
        chain.propose_at(&chain.proposer, 1, 1, 3_333).await;
        chain.propose_at(&chain.proposer2, 2, 1, 6_668).await;
        chain.warp_to_slot(4).await;
        let mut quote = chain.quote(&chain.prover, 0).await;
        quote.basis_point_fee = 333;
        chain.claim(quote).await.expect("claims");
        let rollup_before = chain.balance(chain.deployment.rollup).await;
        chain.prover.rollup.submit_epoch_proof(0, chain.proof(0).await).await.expect("proves");
        // 10001 * 333 / 10000 = 333 (rounded down) to the prover; all 10001 leave the rollup.
        assert_eq!(rollup_before - chain.balance(chain.deployment.rollup).await, U256::from(10_001));
        assert_eq!(chain.balance(chain.prover.address()).await, U256::from(1_000_000 - DEPOSIT + 333));
    }

    #[tokio::test]
    async fn an_open_epoch_cannot_be_proven() {
        let chain = TestChain::start().await;
        chain.propose_at(&chain.proposer, 1, 1, 1_000).await;
        let err = rollup_error(chain.prover.rollup.submit_epoch_proof(0, chain.proof(0).await).await);
        assert!(matches!(err, Err::EpochNotComplete(_)), "{err:?}");
        assert_eq!(chain.proposer.rollup.epoch(0).await.expect("read").state, EpochState::Open);
    }

    #[tokio::test]
    async fn an_unproven_claimed_epoch_is_pruned_and_its_bond_slashed() {
        let chain = TestChain::start().await;
        chain.epoch_zero_ready_to_claim().await;
        chain.claim(chain.quote(&chain.prover, 0).await).await.expect("claims");
        let proposer_before = chain.balance(chain.proposer.address()).await;

        // The proof deadline is the end of epoch 1: still provable in its last slot.
        chain.warp_to_slot(7).await;
        assert!(!chain.proposer.rollup.can_prune().await.expect("read"));
        chain.warp_to_slot(8).await;
        assert!(chain.proposer.rollup.can_prune().await.expect("read"));
        let late = rollup_error(chain.prover.rollup.submit_epoch_proof(0, chain.proof(0).await).await);
        assert!(matches!(late, Err::EpochMustBePruned(_)), "{late:?}");

        chain.proposer.rollup.prune().await.expect("prunes");
        let escrow = &chain.prover.escrow;
        assert_eq!(escrow.staked_of(chain.prover.address()).await.expect("read"), U256::ZERO);
        assert_eq!(escrow.deposit_of(chain.prover.address()).await.expect("read"), U256::from(DEPOSIT - BOND));
        assert_eq!(chain.proposer.rollup.slashed_funds().await.expect("read"), U256::from(BOND));
        assert_eq!(chain.proposer.rollup.epoch(0).await.expect("read").state, EpochState::Pruned);
        assert_eq!(chain.proposer.rollup.pending_block_number().await.expect("read"), 0);
        assert_eq!(chain.proposer.rollup.proof_claim().await.expect("read"), None);
        // The pruned blocks' fees go back to their proposers.
        assert_eq!(chain.balance(chain.proposer.address()).await - proposer_before, U256::from(3_000));
        assert!(matches!(rollup_error(chain.proposer.rollup.prune().await), Err::NothingToPrune(_)));
    }

    #[tokio::test]
    async fn an_unclaimed_epoch_is_pruned_after_its_claim_window() {
        let chain = TestChain::start().await;
        chain.propose_at(&chain.proposer, 1, 3, 3_000).await;
        chain.warp_to_slot(5).await;
        assert!(!chain.proposer.rollup.can_prune().await.expect("read"), "the window's last slot");
        chain.warp_to_slot(6).await;
        assert!(chain.proposer.rollup.can_prune().await.expect("read"));
        assert_eq!(chain.proposer.rollup.epoch(0).await.expect("read").state, EpochState::Complete);
        // Proposing prunes first, then adds the block to a fresh chain.
        chain.proposer.rollup.propose(1, U256::from(100), B256::ZERO).await.expect("proposes");
        assert_eq!(chain.proposer.rollup.epoch(0).await.expect("read").state, EpochState::Pruned);
        assert_eq!(chain.proposer.rollup.pending_block_number().await.expect("read"), 1);
        let block = chain.proposer.rollup.block(1).await.expect("read");
        assert_eq!((block.slot, block.tx_count), (6, 1));
        assert_eq!(chain.proposer.rollup.slashed_funds().await.expect("read"), U256::ZERO);
    }

    #[tokio::test]
    async fn a_claim_works_again_after_a_prune() {
        let chain = TestChain::start().await;
        chain.epoch_zero_ready_to_claim().await;
        chain.claim(chain.quote(&chain.prover, 0).await).await.expect("claims");
        chain.warp_to_slot(8).await;
        // Epoch 2's blocks: the first propose prunes epoch 0 (slashing the bond).
        chain.propose_at(&chain.proposer, 9, 2, 4_000).await;
        chain.propose_at(&chain.proposer, 10, 2, 6_000).await;
        chain.warp_to_slot(12).await;
        assert_eq!(chain.proposer.rollup.epoch_to_prove().await.expect("read"), Some(2));
        let epoch = chain.proposer.rollup.epoch(2).await.expect("read");
        assert_eq!((epoch.init_block, epoch.final_block, epoch.total_fees), (1, 2, U256::from(10_000)));

        let quote = chain.quote(&chain.prover2, 2).await;
        let signed = chain.sign(&chain.prover2, quote);
        chain.proposer.rollup.claim_epoch_proof_right(&signed).await.expect("claims epoch 2");
        chain.prover2.rollup.submit_epoch_proof(2, chain.proof(2).await).await.expect("proves epoch 2");
        assert_eq!(chain.proposer.rollup.epoch(2).await.expect("read").state, EpochState::Proven);
        assert_eq!(chain.proposer.rollup.epoch(0).await.expect("read").state, EpochState::Pruned);
    }

    #[tokio::test]
    async fn propose_rules() {
        let mut p = params();
        p.proposers = vec![Anvil::dev_key(3).address(), Anvil::dev_key(4).address()];
        let chain = TestChain::start_with(p).await;
        // Slot 1 belongs to the second proposer (slot % 2).
        chain.warp_to_slot(1).await;
        let err = rollup_error(chain.proposer.rollup.propose(1, U256::from(1), B256::ZERO).await);
        let Err::NotProposer(e) = err else { panic!("{err:?}") };
        assert_eq!((e.expected, e.caller), (chain.proposer2.address(), chain.proposer.address()));
        chain.proposer2.rollup.propose(1, U256::from(1), B256::ZERO).await.expect("proposes");
        let err = rollup_error(chain.proposer2.rollup.propose(1, U256::from(1), B256::ZERO).await);
        assert!(matches!(err, Err::SlotAlreadyUsed(ref e) if e.slot == U256::from(1)), "{err:?}");
    }
}

mod escrow {
    use super::*;

    fn escrow_error<T: std::fmt::Debug>(result: Result<T, L1Error>) -> EscrowErr {
        match result {
            Err(L1Error::Revert(rollup_l1::Revert::Escrow(e))) => e,
            other => panic!("expected an escrow revert, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn withdrawals_wait_for_the_delay() {
        let chain = TestChain::start().await;
        let escrow = &chain.prover.escrow;
        assert!(matches!(escrow_error(escrow.execute_withdraw().await), EscrowErr::NoWithdrawRequest(_)));
        escrow.start_withdraw(U256::from(10_000)).await.expect("requests");
        let request = escrow.withdraw_request(chain.prover.address()).await.expect("read").expect("pending");
        assert!(matches!(escrow_error(escrow.execute_withdraw().await), EscrowErr::WithdrawNotReady(_)));

        chain.anvil.warp_to(request.executable_at).await.expect("warp");
        let before = chain.balance(chain.prover.address()).await;
        escrow.execute_withdraw().await.expect("withdraws");
        assert_eq!(chain.balance(chain.prover.address()).await - before, U256::from(10_000));
        assert_eq!(escrow.deposit_of(chain.prover.address()).await.expect("read"), U256::from(DEPOSIT - 10_000));
        assert_eq!(escrow.withdraw_request(chain.prover.address()).await.expect("read"), None);
    }

    #[tokio::test]
    async fn a_newer_request_replaces_the_older_one_and_restarts_the_delay() {
        let chain = TestChain::start().await;
        let escrow = &chain.prover.escrow;
        escrow.start_withdraw(U256::from(10_000)).await.expect("requests");
        let first = escrow.withdraw_request(chain.prover.address()).await.expect("read").expect("pending");
        chain.anvil.warp_to(first.executable_at - 10).await.expect("warp");
        escrow.start_withdraw(U256::from(20_000)).await.expect("requests again");
        let second = escrow.withdraw_request(chain.prover.address()).await.expect("read").expect("pending");
        assert_eq!(second.amount, U256::from(20_000));
        assert!(second.executable_at > first.executable_at);

        chain.anvil.warp_to(first.executable_at + 1).await.expect("warp");
        assert!(matches!(escrow_error(escrow.execute_withdraw().await), EscrowErr::WithdrawNotReady(_)));
        chain.anvil.warp_to(second.executable_at).await.expect("warp");
        escrow.execute_withdraw().await.expect("withdraws");
        assert_eq!(escrow.deposit_of(chain.prover.address()).await.expect("read"), U256::from(DEPOSIT - 20_000));
    }

    #[tokio::test]
    async fn a_staked_bond_cannot_be_withdrawn() {
        let chain = TestChain::start().await;
        let escrow = &chain.prover.escrow;
        escrow.start_withdraw(U256::from(DEPOSIT)).await.expect("requests everything");
        chain.epoch_zero_ready_to_claim().await;
        chain.claim(chain.quote(&chain.prover, 0).await).await.expect("claims");
        let request = escrow.withdraw_request(chain.prover.address()).await.expect("read").expect("pending");
        chain
            .anvil
            .warp_to(request.executable_at.max(chain.anvil.timestamp().await.expect("now") + 1))
            .await
            .expect("warp");
        let err = escrow_error(escrow.execute_withdraw().await);
        let EscrowErr::InsufficientDeposit(e) = err else { panic!("{err:?}") };
        assert_eq!((e.deposit, e.needed), (U256::from(DEPOSIT - BOND), U256::from(DEPOSIT)));
        assert_eq!(escrow.staked_of(chain.prover.address()).await.expect("read"), U256::from(BOND));
        // Withdrawing what is not staked works.
        escrow.start_withdraw(U256::from(DEPOSIT - BOND)).await.expect("requests the rest");
        let request = escrow.withdraw_request(chain.prover.address()).await.expect("read").expect("pending");
        chain.anvil.warp_to(request.executable_at).await.expect("warp");
        escrow.execute_withdraw().await.expect("withdraws the unstaked part");
    }

    #[tokio::test]
    async fn only_the_rollup_moves_bonds() {
        let chain = TestChain::start().await;
        let escrow = rollup_l1::bindings::ProofCommitmentEscrow::new(
            chain.deployment.escrow,
            chain.anvil.wallet_provider(&chain.prover.key),
        );
        let err =
            escrow.slashBond(chain.prover2.address(), U256::from(1), U256::ZERO).call().await.expect_err("refused");
        let decoded = L1Error::from(err);
        assert!(matches!(decoded.revert(), Some(rollup_l1::Revert::Escrow(EscrowErr::NotRollup(_)))), "{decoded:?}");
    }
}

mod digest {
    use super::*;

    /// The contract's `quoteToDigest` is the off-chain EIP-712 digest, for ordinary and extreme
    /// values alike.
    #[tokio::test]
    async fn contract_digest_equals_the_quote_librarys() {
        let chain = TestChain::start().await;
        let domain = chain.config.quote_domain();
        let base = EpochProofQuote {
            prover: chain.prover.address(),
            epoch_number: U256::from(7),
            epoch_init_block: U256::from(225),
            epoch_final_block: U256::from(256),
            total_fees: U256::from(10u64).pow(U256::from(18)),
            rollup_address: chain.deployment.rollup,
            basis_point_fee: 250,
            bond_amount: U256::from(5_000),
            valid_until_slot: U256::from(260),
        };
        let extreme = EpochProofQuote {
            prover: Address::repeat_byte(0xff),
            epoch_number: U256::MAX,
            epoch_init_block: U256::MAX,
            epoch_final_block: U256::MAX,
            total_fees: U256::MAX,
            rollup_address: Address::ZERO,
            basis_point_fee: u32::MAX,
            bond_amount: U256::MAX,
            valid_until_slot: U256::MAX,
        };
        let zero =
            EpochProofQuote { prover: Address::ZERO, rollup_address: Address::ZERO, basis_point_fee: 0, ..extreme };
        let zero = EpochProofQuote {
            epoch_number: U256::ZERO,
            epoch_init_block: U256::ZERO,
            epoch_final_block: U256::ZERO,
            total_fees: U256::ZERO,
            bond_amount: U256::ZERO,
            valid_until_slot: U256::ZERO,
            ..zero
        };
        for quote in [base, extreme, zero] {
            let on_chain = chain.proposer.rollup.quote_to_digest(&quote).await.expect("digest");
            assert_eq!(on_chain, quote.digest(&domain), "{quote:?}");
        }
        assert_eq!(chain.config.chain_id, 31337);
        assert_eq!(chain.config.quote_domain().rollup(), chain.deployment.rollup);
    }

    #[tokio::test]
    async fn the_contract_accepts_v_as_0_or_1() {
        let chain = TestChain::start().await;
        chain.epoch_zero_ready_to_claim().await;
        let quote = chain.quote(&chain.prover, 0).await;
        let mut bytes = *chain.sign(&chain.prover, quote).signature.as_bytes();
        bytes[64] -= 27;
        chain.proposer.rollup.claim_with_raw_signature(&quote, Bytes::from(bytes.to_vec())).await.expect("claims");
    }
}
