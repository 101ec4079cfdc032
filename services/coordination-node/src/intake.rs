//! Taking a quote: every check the L1 would make when the quote is claimed, made against the
//! node's view of L1, each failure with its own stable code; then durable storage.

use std::time::{Duration, Instant};

use alloy::primitives::{B256, U256};
use axum::http::StatusCode;
use epoch_quote::{QuoteJsonError, SignedEpochProofQuote, VerifyError};
use rollup_l1::{EscrowContract, RollupConfig};
use service_kit::ApiError;

use crate::{
    AppState,
    store::{EpochClosed, InsertOutcome, StoreError},
};

/// How long a quote for the epoch this node still sees as open waits for the node's view of L1
/// to catch up before it is refused `epoch_not_complete` (its sender saw the epoch end on L1
/// before this node's watcher did): at least this, and at least three L1 polls.
const LAG_GRACE: Duration = Duration::from_secs(4);

/// What taking a quote came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accepted {
    /// Newly stored (committed).
    Stored(B256),
    /// Already stored before.
    Known(B256),
}

fn unprocessable(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
}

/// The answer when the database cannot be used: the quote was not stored.
pub(crate) fn database_unavailable(error: &StoreError) -> ApiError {
    tracing::warn!(%error, "database unavailable");
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "database_unavailable", "the node's database is unavailable; retry")
}

fn chain_unavailable(why: &str) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "chain_view_unavailable",
        format!("the node's view of L1 is not ready: {why}; retry"),
    )
}

fn epoch_proven(epoch: u64) -> ApiError {
    unprocessable("epoch_proven", format!("epoch {epoch} is already proven"))
}

fn epoch_pruned(epoch: u64) -> ApiError {
    unprocessable("epoch_pruned", format!("epoch {epoch} was pruned"))
}

/// Parses the body into a signed quote, naming the field at fault.
fn parse(body: &[u8]) -> Result<SignedEpochProofQuote, ApiError> {
    SignedEpochProofQuote::from_json(body).map_err(|e| match &e {
        QuoteJsonError::Syntax(_) => ApiError::bad_request(e.code(), e.to_string()),
        QuoteJsonError::Field(field) => {
            let status = if e.code() == "invalid_signature" {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::BAD_REQUEST
            };
            ApiError::new(status, e.code(), e.to_string()).with_field(field.field)
        }
    })
}

/// Validates and stores the quote in `body` (an HTTP submission); a newly stored quote is also
/// gossiped when the node is on the P2P network. A wait for the node's view ends a second before
/// the request would time out.
pub async fn take(state: &AppState, body: &[u8]) -> Result<Accepted, ApiError> {
    let received_at = Instant::now();
    let signed = parse(body)?;
    let request_timeout = Duration::from_millis(state.config.request_timeout_ms);
    let grace = lag_grace(state).min(request_timeout.saturating_sub(Duration::from_secs(1)));
    let accepted = take_when_seen(state, signed, rollup_config(state)?, received_at, grace).await?;
    if matches!(accepted, Accepted::Stored(_)) {
        crate::p2p::announce(state, signed).await;
    }
    Ok(accepted)
}

/// Validates and stores a quote received over gossip at `received_at`: the same rules as an
/// HTTP submission, and the chain id it was signed for must be this rollup's.
pub async fn take_gossiped(
    state: &AppState,
    quote: quote_gossip::GossipQuote,
    received_at: Instant,
) -> Result<Accepted, ApiError> {
    let config = rollup_config(state)?;
    if quote.chain_id != config.chain_id {
        return Err(unprocessable(
            "wrong_chain",
            format!("the quote is signed for chain {}; this node serves chain {}", quote.chain_id, config.chain_id),
        ));
    }
    take_when_seen(state, quote.signed, config, received_at, lag_grace(state)).await
}

/// How long after receiving a quote the node may wait for its view of L1 to catch up.
pub(crate) fn lag_grace(state: &AppState) -> Duration {
    LAG_GRACE.max(state.poll_interval() * 3)
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
) -> Result<Accepted, ApiError> {
    let mut changes = state.view.subscribe();
    let mut ended_on_l1 = None;
    loop {
        changes.borrow_and_update();
        let error = match take_signed(state, signed, config).await {
            Err(error) if error.body().code == "epoch_not_complete" && view_behind(state, &signed, &config) => error,
            other => return other,
        };
        if ended_on_l1.is_none() {
            ended_on_l1 = Some(epoch_ended_on_l1(state, &config, signed.quote.epoch_number).await);
        }
        let Some(left) = grace.checked_sub(received_at.elapsed()).filter(|_| ended_on_l1 == Some(true)) else {
            return Err(error);
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

/// The rollup's parameters, or the answer when the L1 has not been reached yet.
fn rollup_config(state: &AppState) -> Result<RollupConfig, ApiError> {
    state.rollup_config().ok_or_else(|| chain_unavailable("the L1 has not been reached yet"))
}

/// Validates and stores a signed quote.
async fn take_signed(
    state: &AppState,
    signed: SignedEpochProofQuote,
    config: RollupConfig,
) -> Result<Accepted, ApiError> {
    let id = check_signature_and_rollup(&signed, &config)?;

    match check_against_view(state, &signed, &config).await {
        Ok(()) => {}
        // A quote the node already has is answered as such, whatever the chain did since.
        Err(error) => {
            return match state.store.quote(id).await {
                Ok(Some(_)) => Ok(Accepted::Known(id)),
                Ok(None) => Err(error),
                Err(e) => Err(database_unavailable(&e)),
            };
        }
    }
    let q = &signed.quote;
    let epoch_number = q.epoch_number.saturating_to::<u64>();
    match state.writer.insert(id, signed).await {
        Some(InsertOutcome::Stored { superseded }) => {
            tracing::info!(%id, prover = %q.prover, epoch = epoch_number, fee_bps = q.basis_point_fee, bond = %q.bond_amount, superseded = superseded.len(), "quote stored");
            Ok(Accepted::Stored(id))
        }
        Some(InsertOutcome::AlreadyStored) => Ok(Accepted::Known(id)),
        Some(InsertOutcome::EpochFull) => Err(unprocessable(
            "epoch_full",
            format!("epoch {epoch_number} already holds pending quotes from {} provers", state.config.quotes_per_epoch),
        )),
        // The watcher committed a claim, proof or prune after the view intake checked was taken.
        Some(InsertOutcome::EpochClosed(why)) => match state.store.quote(id).await {
            Ok(Some(_)) => Ok(Accepted::Known(id)),
            Ok(None) => Err(match why {
                EpochClosed::Claimed => {
                    unprocessable("epoch_already_claimed", format!("epoch {epoch_number} is already claimed"))
                }
                EpochClosed::Proven => epoch_proven(epoch_number),
                EpochClosed::Pruned => epoch_pruned(epoch_number),
            }),
            Err(e) => Err(database_unavailable(&e)),
        },
        None => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            "the node's database is unavailable; the quote was not stored; retry",
        )),
    }
}

/// Every rule the L1 checks at claim time that depends on the chain, against the node's view.
async fn check_against_view(
    state: &AppState,
    signed: &SignedEpochProofQuote,
    config: &RollupConfig,
) -> Result<(), ApiError> {
    let store = &state.store;
    let view = state.view.get();
    let cursor = view.cursor.ok_or_else(|| chain_unavailable("the L1 watcher has not processed a block yet"))?;
    let q = &signed.quote;
    let current_slot = config.slot_at(cursor.l1_timestamp);
    let current_epoch = config.epoch_at_slot(current_slot);
    let epoch_number = q.epoch_number.saturating_to::<u64>();
    if q.epoch_number >= U256::from(current_epoch) {
        return Err(unprocessable(
            "epoch_not_complete",
            format!("epoch {} has not ended (the L1 is in epoch {current_epoch})", q.epoch_number),
        ));
    }
    let epoch = match view.epochs.get(&epoch_number) {
        Some(epoch) => epoch.clone(),
        // Old epochs are not kept in memory.
        None => store
            .epoch(epoch_number)
            .await
            .map_err(|e| database_unavailable(&e))?
            .ok_or_else(|| unprocessable("epoch_not_found", format!("epoch {epoch_number} has no blocks on L1")))?,
    };
    if epoch.proven {
        return Err(epoch_proven(epoch_number));
    }
    if epoch.pruned {
        return Err(epoch_pruned(epoch_number));
    }
    if let Some(claim) = &view.open_claim
        && claim.epoch == epoch_number
    {
        return Err(unprocessable(
            "epoch_already_claimed",
            format!("epoch {epoch_number} is already claimed with the quote of {}", claim.bond_provider),
        ));
    }
    if q.epoch_init_block != U256::from(epoch.init_block)
        || q.epoch_final_block != U256::from(epoch.final_block)
        || q.total_fees != epoch.total_fees
    {
        return Err(unprocessable(
            "epoch_mismatch",
            format!(
                "the quote is for blocks {}..={} with fees {}; epoch {epoch_number} on L1 is blocks {}..={} with fees {}",
                q.epoch_init_block,
                q.epoch_final_block,
                q.total_fees,
                epoch.init_block,
                epoch.final_block,
                epoch.total_fees
            ),
        ));
    }
    let (_, window_end) = config.claim_window(epoch_number);
    if q.valid_until_slot < U256::from(current_slot) || current_slot > window_end {
        return Err(unprocessable(
            "quote_expired",
            format!(
                "the quote can no longer be claimed: slot {current_slot}, valid until slot {}, claim window ends at slot {window_end}",
                q.valid_until_slot
            ),
        ));
    }
    if q.bond_amount < config.min_bond_amount {
        return Err(unprocessable(
            "bond_too_low",
            format!("bond {} is below the rollup's minimum of {}", q.bond_amount, config.min_bond_amount),
        ));
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
        return Err(unprocessable(
            "insufficient_escrow",
            format!("bond {} exceeds the prover's escrow deposit of {deposit}", q.bond_amount),
        ));
    }
    Ok(())
}

fn check_signature_and_rollup(signed: &SignedEpochProofQuote, config: &RollupConfig) -> Result<B256, ApiError> {
    let domain = config.quote_domain();
    let id = signed.id(&domain);
    signed.verify_digest(id).map_err(|e| {
        let message = match e {
            VerifyError::WrongSigner { expected, recovered } => format!(
                "the signature recovers to {recovered}, not to the prover {expected} (under the EIP-712 domain of rollup {} on chain {})",
                config.address, config.chain_id
            ),
            VerifyError::Unrecoverable(e) => e.to_string(),
        };
        unprocessable("invalid_signature", message).with_field("signature")
    })?;
    if signed.quote.rollup_address != config.address {
        return Err(unprocessable(
            "wrong_rollup",
            format!(
                "the quote is for rollup {}; this node serves rollup {}",
                signed.quote.rollup_address, config.address
            ),
        )
        .with_field("rollupAddress"));
    }
    Ok(id)
}

/// The prover's deposit read from L1 (at `block`, or the head), remembered in the view.
async fn read_deposit(
    state: &AppState,
    config: &RollupConfig,
    prover: alloy::primitives::Address,
    block: Option<u64>,
) -> Result<U256, ApiError> {
    let escrow = EscrowContract::new(config.escrow, state.provider.clone());
    let read = match block {
        Some(block) => escrow.deposit_of_at(prover, block).await,
        None => escrow.deposit_of(prover).await,
    };
    let deposit = read.map_err(|e| {
        tracing::warn!(error = %e, "cannot read an escrow deposit");
        chain_unavailable("the L1 cannot be reached to read the prover's escrow deposit")
    })?;
    state.view.note_deposit(prover, deposit);
    Ok(deposit)
}

/// The deposit of a prover the node has not seen yet: from the database (another replica may
/// have read it), else read from L1 and remembered.
async fn prover_deposit(
    state: &AppState,
    config: &RollupConfig,
    prover: alloy::primitives::Address,
    l1_block: u64,
) -> Result<U256, ApiError> {
    if let Some(deposit) = state.store.prover_deposit(prover).await.map_err(|e| database_unavailable(&e))? {
        state.view.note_deposit(prover, deposit);
        return Ok(deposit);
    }
    let deposit = read_deposit(state, config, prover, Some(l1_block)).await?;
    state.store.set_prover_deposit(prover, deposit, l1_block).await.map_err(|e| database_unavailable(&e))?;
    Ok(deposit)
}
