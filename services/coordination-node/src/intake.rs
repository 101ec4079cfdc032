//! Taking a quote: every check the L1 would make when the quote is claimed, made against the
//! node's view of L1, each failure one [`Refusal`]; then durable storage. HTTP submissions and
//! gossiped quotes both come through here; publishing a stored quote is the caller's business.

use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, U256};
use epoch_quote::{SignedEpochProofQuote, VerifyError};
use rollup_l1::{EscrowContract, RollupConfig};

use crate::{
    domain::Refusal,
    error::NodeError,
    state::AppState,
    store::{EpochClosed, InsertOutcome},
};

/// How long a quote for an epoch that has ended on L1, but that this node's view still has
/// open, waits for the view to catch up before it is refused `epoch_not_complete`: at least
/// this, and at least three L1 polls.
const LAG_GRACE: Duration = Duration::from_secs(4);

/// What taking a quote came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accepted {
    /// Newly stored (committed).
    Stored(B256),
    /// Already stored before.
    Known(B256),
}

/// Validates and stores the quote in `body` (an HTTP submission). A wait for the node's view
/// ends a second before the request would time out.
pub async fn take(state: &AppState, body: &[u8]) -> Result<(Accepted, SignedEpochProofQuote), NodeError> {
    let received_at = Instant::now();
    let signed = SignedEpochProofQuote::from_json(body).map_err(Refusal::Malformed)?;
    let request_timeout = Duration::from_millis(state.config.request_timeout_ms);
    let grace = lag_grace(state).min(request_timeout.saturating_sub(Duration::from_secs(1)));
    let accepted = take_when_seen(state, signed, rollup_config(state)?, received_at, grace).await?;
    Ok((accepted, signed))
}

/// Validates and stores a quote received over gossip at `received_at`: the same rules as an
/// HTTP submission, and the chain id it was signed for must be this rollup's.
pub async fn take_gossiped(
    state: &AppState,
    quote: quote_gossip::GossipQuote,
    received_at: Instant,
) -> Result<Accepted, NodeError> {
    let config = rollup_config(state)?;
    if quote.chain_id != config.chain_id {
        return Err(Refusal::WrongChain { quote: quote.chain_id, node: config.chain_id }.into());
    }
    take_when_seen(state, quote.signed, config, received_at, lag_grace(state)).await
}

/// How long after receiving a quote the node may wait for its view of L1 to catch up.
pub(crate) fn lag_grace(state: &AppState) -> Duration {
    LAG_GRACE.max(state.poll_interval() * 3)
}

/// The rollup's parameters, or the answer when the L1 has not been reached yet.
fn rollup_config(state: &AppState) -> Result<RollupConfig, NodeError> {
    state.rollup_config().ok_or(NodeError::ChainViewUnavailable("the L1 has not been reached yet"))
}

/// Validates and stores a signed quote received at `received_at`. A quote for an epoch that has
/// ended on L1 but that the node's view still has open (its sender saw the end before this
/// node's watcher did) is not refused at once: it is checked again each time the view moves,
/// until it passes or `grace` runs out. In a healthy network a prover that quotes the moment an
/// epoch ends is therefore answered `201`, a little later, rather than `epoch_not_complete`. A
/// quote for an epoch that has not ended on L1 is refused at once.
async fn take_when_seen(
    state: &AppState,
    signed: SignedEpochProofQuote,
    config: RollupConfig,
    received_at: Instant,
    grace: Duration,
) -> Result<Accepted, NodeError> {
    // The signature is checked once; only the checks against the view are made again.
    let id = check_signature_and_rollup(&signed, &config)?;
    let mut changes = state.view.subscribe();
    let mut ended_on_l1 = None;
    loop {
        changes.borrow_and_update();
        let refusal = match store_if_valid(state, id, signed, config).await {
            Err(NodeError::Refused(refusal))
                if matches!(*refusal, Refusal::EpochNotComplete { .. }) && view_behind(state, &signed, &config) =>
            {
                refusal
            }
            other => return other,
        };
        if ended_on_l1.is_none() {
            ended_on_l1 = Some(epoch_ended_on_l1(state, &config, signed.quote.epoch_number).await);
        }
        let Some(left) = grace.checked_sub(received_at.elapsed()).filter(|_| ended_on_l1 == Some(true)) else {
            return Err(NodeError::Refused(refusal));
        };
        // Woken by the next view change; the poll interval bounds a wait whose wake-up was missed.
        let _ = tokio::time::timeout(left.min(state.poll_interval()), changes.changed()).await;
    }
}

/// Whether the epoch of `signed` is the one the node's view still has open (so the view may
/// catch up with the sender's), rather than one further ahead.
fn view_behind(state: &AppState, signed: &SignedEpochProofQuote, config: &RollupConfig) -> bool {
    let Some(cursor) = state.view.get().cursor else { return false };
    let open = config.epoch_at_slot(config.slot_at(cursor.l1_timestamp));
    signed.quote.epoch_number <= U256::from(open)
}

/// Whether L1's latest block is past `epoch` (false when the L1 cannot be read).
async fn epoch_ended_on_l1(state: &AppState, config: &RollupConfig, epoch: U256) -> bool {
    use alloy::providers::Provider as _;
    match state.provider.get_block_by_number(alloy::eips::BlockNumberOrTag::Latest).await {
        Ok(Some(block)) => U256::from(config.epoch_at_slot(config.slot_at(block.header.timestamp))) > epoch,
        _ => false,
    }
}

/// Checks a quote whose signature is verified (its id is `id`) against the view and stores it.
async fn store_if_valid(
    state: &AppState,
    id: B256,
    signed: SignedEpochProofQuote,
    config: RollupConfig,
) -> Result<Accepted, NodeError> {
    if let Err(error) = check_against_view(state, &signed, &config).await {
        // A quote the node already has is answered as such, whatever the chain did since.
        return known_or(state, id, error).await;
    }
    let q = &signed.quote;
    let epoch = q.epoch_number.saturating_to::<u64>();
    match state.writer.insert(id, signed).await.ok_or(NodeError::QuoteNotStored)? {
        InsertOutcome::Stored { superseded } => {
            tracing::info!(%id, prover = %q.prover, epoch, fee_bps = q.basis_point_fee, bond = %q.bond_amount, superseded = superseded.len(), "quote stored");
            Ok(Accepted::Stored(id))
        }
        InsertOutcome::AlreadyStored => Ok(Accepted::Known(id)),
        InsertOutcome::EpochFull => Err(Refusal::EpochFull { epoch, cap: state.config.quotes_per_epoch }.into()),
        // The watcher committed a claim, proof or prune after the view intake checked was taken.
        InsertOutcome::EpochClosed(why) => {
            let refusal = match why {
                EpochClosed::Claimed => Refusal::EpochAlreadyClaimed { epoch, by: None },
                EpochClosed::Proven => Refusal::EpochProven(epoch),
                EpochClosed::Pruned => Refusal::EpochPruned(epoch),
            };
            known_or(state, id, refusal.into()).await
        }
    }
}

/// `Known` if the node already stores quote `id`, else `error`.
async fn known_or(state: &AppState, id: B256, error: NodeError) -> Result<Accepted, NodeError> {
    match state.store.quote(id).await? {
        Some(_) => Ok(Accepted::Known(id)),
        None => Err(error),
    }
}

/// Every rule the L1 checks at claim time that depends on the chain, against the node's view.
async fn check_against_view(
    state: &AppState,
    signed: &SignedEpochProofQuote,
    config: &RollupConfig,
) -> Result<(), NodeError> {
    let view = state.view.get();
    let cursor = view.cursor.ok_or(NodeError::ChainViewUnavailable("the L1 watcher has not processed a block yet"))?;
    let q = &signed.quote;
    let current_slot = config.slot_at(cursor.l1_timestamp);
    let current_epoch = config.epoch_at_slot(current_slot);
    if q.epoch_number >= U256::from(current_epoch) {
        return Err(Refusal::EpochNotComplete { epoch: q.epoch_number, current: current_epoch }.into());
    }
    let epoch_number = q.epoch_number.saturating_to::<u64>();
    let epoch = match view.epochs.get(&epoch_number) {
        Some(epoch) => epoch.clone(),
        // Old epochs are not kept in memory.
        None => state.store.epoch(epoch_number).await?.ok_or(Refusal::EpochNotFound(epoch_number))?,
    };
    if epoch.proven() {
        return Err(Refusal::EpochProven(epoch_number).into());
    }
    if epoch.pruned {
        return Err(Refusal::EpochPruned(epoch_number).into());
    }
    if let Some(claim) = &view.open_claim
        && claim.epoch == epoch_number
    {
        return Err(Refusal::EpochAlreadyClaimed { epoch: epoch_number, by: Some(claim.bond_provider) }.into());
    }
    if q.epoch_init_block != U256::from(epoch.init_block)
        || q.epoch_final_block != U256::from(epoch.final_block)
        || q.total_fees != epoch.total_fees
    {
        return Err(Refusal::EpochMismatch {
            epoch: epoch_number,
            quote: (q.epoch_init_block, q.epoch_final_block, q.total_fees),
            l1: (epoch.init_block, epoch.final_block, epoch.total_fees),
        }
        .into());
    }
    let (_, window_end) = config.claim_window(epoch_number);
    if q.valid_until_slot < U256::from(current_slot) || current_slot > window_end {
        return Err(
            Refusal::QuoteExpired { slot: current_slot, valid_until_slot: q.valid_until_slot, window_end }.into()
        );
    }
    if q.bond_amount < config.min_bond_amount {
        return Err(Refusal::BondTooLow { bond: q.bond_amount, minimum: config.min_bond_amount }.into());
    }
    let mut deposit = match view.deposits.get(&q.prover) {
        Some(deposit) => *deposit,
        None => prover_deposit(state, config, q.prover, cursor.l1_block).await?,
    };
    if q.bond_amount > deposit {
        // The prover may have just topped up; the view catches up only at the next poll.
        deposit = read_deposit(state, config, q.prover, None).await?;
    }
    if q.bond_amount > deposit {
        return Err(Refusal::InsufficientEscrow { bond: q.bond_amount, deposit }.into());
    }
    Ok(())
}

fn check_signature_and_rollup(signed: &SignedEpochProofQuote, config: &RollupConfig) -> Result<B256, NodeError> {
    let domain = config.quote_domain();
    let id = signed.id(&domain);
    signed.verify_digest(id).map_err(|e| {
        NodeError::from(Refusal::InvalidSignature(match e {
            VerifyError::WrongSigner { expected, recovered } => format!(
                "the signature recovers to {recovered}, not to the prover {expected} (under the EIP-712 domain of rollup {} on chain {})",
                config.address, config.chain_id
            ),
            VerifyError::Unrecoverable(e) => e.to_string(),
        }))
    })?;
    if signed.quote.rollup_address != config.address {
        return Err(Refusal::WrongRollup { quote: signed.quote.rollup_address, node: config.address }.into());
    }
    Ok(id)
}

/// The prover's deposit read from L1 (at `block`, or the head), remembered in the view.
async fn read_deposit(
    state: &AppState,
    config: &RollupConfig,
    prover: Address,
    block: Option<u64>,
) -> Result<U256, NodeError> {
    let escrow = EscrowContract::new(config.escrow, state.provider.clone());
    let read = match block {
        Some(block) => escrow.deposit_of_at(prover, block).await,
        None => escrow.deposit_of(prover).await,
    };
    let deposit = read.map_err(|e| {
        tracing::warn!(error = %e, "cannot read an escrow deposit");
        NodeError::ChainViewUnavailable("the L1 cannot be reached to read the prover's escrow deposit")
    })?;
    state.view.note_deposit(prover, deposit);
    Ok(deposit)
}

/// The deposit of a prover the node has not seen yet: from the database (another replica may
/// have read it), else read from L1 and remembered.
async fn prover_deposit(
    state: &AppState,
    config: &RollupConfig,
    prover: Address,
    l1_block: u64,
) -> Result<U256, NodeError> {
    if let Some(deposit) = state.store.prover_deposit(prover).await? {
        state.view.note_deposit(prover, deposit);
        return Ok(deposit);
    }
    let deposit = read_deposit(state, config, prover, Some(l1_block)).await?;
    state.store.set_prover_deposit(prover, deposit, l1_block).await?;
    Ok(deposit)
}
