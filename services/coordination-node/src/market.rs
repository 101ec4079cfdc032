//! The market at a glance, as the explorer shows it: where the node is on L1, statistics per
//! epoch, each prover's record and the leaderboard. The quote counts come from the database's
//! row per prover and epoch (kept by the database as quotes are stored) and the records from the
//! claims, so no answer reads quotes one by one: a page of epochs costs the same with a million
//! quotes stored; a prover's record and the leaderboard grow with the epochs claimed and the
//! (prover, epoch) pairs quoted.

use std::collections::HashMap;

use alloy::primitives::{Address, U256};
use axum::{
    Json,
    extract::{Path, State},
};
use serde::Serialize;
use service_kit::ErrorBody;

use crate::{
    api::{ClaimView, EpochState, current_epoch, epoch_state, parse_before, parse_limit, payout, query_rejection},
    domain::ClaimOutcome,
    error::NodeError,
    state::AppState,
    store::{ClaimPayout, ProverEpochQuotes, ProverQuoteTotals},
};

/// Where the node is on L1.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChainStatus {
    /// The rollup contract, once the L1 has been reached.
    #[schema(value_type = Option<service_kit::schema::Address>)]
    #[serde(serialize_with = "crate::domain::as_text::serialize_option")]
    pub rollup_address: Option<Address>,
    /// The L1 head at the watcher's last step (only on the replica that runs the watcher).
    pub l1_head: Option<u64>,
    /// The last L1 block the node's view includes.
    pub l1_block: Option<u64>,
    /// That block's timestamp (seconds since the Unix epoch).
    pub l1_timestamp: Option<u64>,
    /// L1 blocks between the head and the view (only on the replica that runs the watcher).
    pub watcher_lag_blocks: Option<u64>,
    /// This replica runs the L1 watcher.
    pub watcher_leader: bool,
    /// The slot of the view's L1 block.
    pub current_slot: Option<u64>,
    /// The epoch of that slot (the open epoch).
    pub current_epoch: Option<u64>,
    /// The proven L2 tip.
    pub proven_block: Option<u64>,
    /// The pending L2 tip.
    pub pending_block: Option<u64>,
    /// Seconds per slot.
    pub slot_duration: Option<u64>,
    /// Slots per epoch.
    pub epoch_duration: Option<u64>,
    /// Slots, after an epoch ends, in which it can be claimed.
    pub claim_window_slots: Option<u64>,
}

/// Where the node is on L1: its view's block and slot, the open epoch, the L2 tips, and how far
/// the watcher is behind the L1 head.
#[utoipa::path(
    get,
    path = "/chain",
    tag = "market",
    responses((status = 200, description = "The node's view of L1", body = ChainStatus))
)]
pub(crate) async fn chain_status(State(state): State<AppState>) -> Json<ChainStatus> {
    let cursor = state.view.get().cursor;
    let watcher = state.watcher_status();
    let config = state.rollup_config();
    let current_slot = config.zip(cursor).map(|(config, cursor)| config.slot_at(cursor.l1_timestamp));
    let head = watcher.leader.then_some(watcher.head).filter(|head| *head > 0);
    Json(ChainStatus {
        rollup_address: config.map(|c| c.address),
        l1_head: head,
        l1_block: cursor.map(|c| c.l1_block),
        l1_timestamp: cursor.map(|c| c.l1_timestamp),
        watcher_lag_blocks: head.zip(cursor).map(|(head, cursor)| head.saturating_sub(cursor.l1_block)),
        watcher_leader: watcher.leader,
        current_slot,
        current_epoch: config.zip(current_slot).map(|(config, slot)| config.epoch_at_slot(slot)),
        proven_block: cursor.map(|c| c.proven_block),
        pending_block: cursor.map(|c| c.pending_block),
        slot_duration: config.map(|c| c.slot_duration),
        epoch_duration: config.map(|c| c.epoch_duration),
        claim_window_slots: config.map(|c| c.claim_window_slots),
    })
}

/// One epoch's market: its blocks and fees, the quotes it drew, and who won it at what fee.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EpochMarket {
    /// The epoch.
    pub epoch: u64,
    /// Where it is in its life.
    pub state: EpochState,
    /// First L2 block.
    pub init_block: u64,
    /// Last L2 block (inclusive).
    pub final_block: u64,
    /// Number of blocks.
    pub block_count: u64,
    /// Transactions in them.
    pub tx_count: u64,
    /// Sum of their fees.
    #[schema(value_type = service_kit::schema::DecimalUint256)]
    #[serde(serialize_with = "crate::domain::as_text::serialize")]
    pub total_fees: U256,
    /// Quotes received for it, superseded ones included.
    pub quotes: u64,
    /// Provers that quoted for it.
    pub provers: u64,
    /// The lowest fee any quote for it asked, in basis points (superseded quotes included: the
    /// best offer made, whether or not it still stood at the claim).
    #[schema(minimum = 0, maximum = 10000)]
    pub best_fee: Option<u32>,
    /// The claim (the winning quote), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claim: Option<ClaimView>,
    /// When claimed and not slashed: what the prover is paid once the epoch is proven
    /// (`totalFees × basisPointFee / 10000`); paid when the claim's outcome is `proven`.
    #[schema(value_type = Option<service_kit::schema::DecimalUint256>)]
    #[serde(serialize_with = "crate::domain::as_text::serialize_option", skip_serializing_if = "Option::is_none")]
    pub payout: Option<U256>,
    /// The L1 block of its proof, once proven.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proven_at_l1_block: Option<u64>,
}

/// Query of `GET /market/epochs`.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MarketQuery {
    /// Only epochs before this one (`nextBefore` of the previous page).
    #[param(value_type = Option<u64>, minimum = 0)]
    before: Option<String>,
    /// Page size, 1 to 500 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    limit: Option<String>,
}

/// A page of epochs' markets.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EpochMarketPage {
    /// Newest first.
    pub epochs: Vec<EpochMarket>,
    /// Pass as `before` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_before: Option<u64>,
}

/// The market of each epoch with blocks, newest first: state, fees, quotes received, best fee,
/// the winning claim and its payout.
#[utoipa::path(
    get,
    path = "/market/epochs",
    tag = "market",
    params(MarketQuery),
    responses(
        (status = 200, description = "A page of epochs, newest first", body = EpochMarketPage),
        (status = 400, description = "A parameter is unusable (`invalid_parameter`)", body = ErrorBody),
        (status = 503, description = "Database unavailable (`database_unavailable`); retry", body = ErrorBody),
    )
)]
pub(crate) async fn market_epochs(
    State(state): State<AppState>,
    query: Result<axum::extract::Query<MarketQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<EpochMarketPage>, NodeError> {
    let axum::extract::Query(query) = query.map_err(query_rejection)?;
    let limit = parse_limit(query.limit.as_deref())?;
    let before = parse_before(query.before.as_deref(), "before must be an epoch number, 0 to 2^63-1")?;
    let epochs = state.store.epochs_page(before, limit).await?;
    let (Some(newest), Some(oldest)) = (epochs.first(), epochs.last()) else {
        return Ok(Json(EpochMarketPage { epochs: Vec::new(), next_before: None }));
    };
    let (from, to) = (oldest.epoch, newest.epoch);
    let (claims, quotes) =
        tokio::try_join!(state.store.claims_of_epochs(from, to), state.store.quotes_by_epoch(from, to))?;
    // Newest claim of each epoch first, so the first one kept is its current claim.
    let mut claim_of: HashMap<u64, _> = HashMap::new();
    for (claim, outcome) in claims {
        claim_of.entry(claim.epoch).or_insert((claim, outcome));
    }
    let mut quotes_of: HashMap<u64, (u64, u64, Option<u32>)> = HashMap::new();
    for row in quotes {
        let entry = quotes_of.entry(row.epoch).or_default();
        entry.0 += row.quotes;
        entry.1 += 1;
        entry.2 = Some(entry.2.map_or(row.best_fee, |fee| fee.min(row.best_fee)));
    }
    let head = state.view.get().cursor.map_or(0, |c| c.l1_block);
    let current = current_epoch(&state);
    // Epoch 0 is the oldest there can be: a page ending on it is the last.
    let next_before = (epochs.len() == limit as usize && oldest.epoch > 0).then_some(oldest.epoch);
    let epochs = epochs
        .into_iter()
        .map(|record| {
            let claim = claim_of.remove(&record.epoch);
            let (quotes, provers, best_fee) = quotes_of.get(&record.epoch).copied().unwrap_or_default();
            EpochMarket {
                epoch: record.epoch,
                state: epoch_state(&record, claim.as_ref().map(|(_, outcome)| *outcome), current),
                init_block: record.init_block,
                final_block: record.final_block,
                block_count: record.block_count,
                tx_count: record.tx_count,
                total_fees: record.total_fees,
                quotes,
                provers,
                best_fee,
                payout: claim.as_ref().and_then(|claim| payout(&record, claim)),
                claim: claim.map(|(c, outcome)| ClaimView::new(c, outcome, head)),
                proven_at_l1_block: record.proven_at,
            }
        })
        .collect();
    Ok(Json(EpochMarketPage { epochs, next_before }))
}

/// A prover's record.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProverRecord {
    /// The prover.
    #[schema(value_type = service_kit::schema::Address)]
    #[serde(serialize_with = "crate::domain::as_text::serialize")]
    pub prover: Address,
    /// Its escrow deposit as last read from L1, if the node has read it.
    #[schema(value_type = Option<service_kit::schema::DecimalUint256>)]
    #[serde(serialize_with = "crate::domain::as_text::serialize_option")]
    pub deposit: Option<U256>,
    /// Quotes it sent (every status, superseded ones included).
    pub quotes: u64,
    /// Epochs it quoted for.
    pub epochs_quoted: u64,
    /// Claims of its quotes (epochs won).
    pub claims: u64,
    /// Of those, proven (bond returned, fee paid).
    pub proven: u64,
    /// Of those, slashed (bond lost).
    pub slashed: u64,
    /// Fees paid to it for the epochs it proved.
    #[schema(value_type = service_kit::schema::DecimalUint256)]
    #[serde(serialize_with = "crate::domain::as_text::serialize")]
    pub fees_earned: U256,
    /// Of the epochs it quoted for, the share claimed with its quote (the open epoch counts as
    /// quoted; null before it quoted).
    #[schema(minimum = 0, maximum = 1)]
    pub win_rate: Option<f64>,
    /// Epochs it quoted for and won.
    #[serde(skip)]
    won_quoted: std::collections::BTreeSet<u64>,
}

impl ProverRecord {
    fn new(prover: Address, deposit: Option<U256>, quotes: Option<&ProverQuoteTotals>) -> Self {
        Self {
            prover,
            deposit,
            quotes: quotes.map_or(0, |q| q.quotes),
            epochs_quoted: quotes.map_or(0, |q| q.epochs),
            claims: 0,
            proven: 0,
            slashed: 0,
            fees_earned: U256::ZERO,
            win_rate: None,
            won_quoted: Default::default(),
        }
    }

    fn count(&mut self, claim: &ClaimPayout) {
        self.claims += 1;
        if claim.quoted {
            self.won_quoted.insert(claim.epoch);
        }
        match claim.outcome {
            ClaimOutcome::Proven => {
                self.proven += 1;
                self.fees_earned = self.fees_earned.saturating_add(claim.payout);
            }
            ClaimOutcome::Slashed => self.slashed += 1,
            ClaimOutcome::Open => {}
        }
    }

    fn finish(mut self) -> Self {
        let won = self.won_quoted.len() as f64;
        self.win_rate = (self.epochs_quoted > 0).then(|| won / self.epochs_quoted as f64);
        self
    }
}

/// The records of `prover` (or of every prover known) from their quote totals, claims and
/// deposits.
async fn records(state: &AppState, prover: Option<Address>) -> Result<Vec<ProverRecord>, NodeError> {
    let (totals, claims) = tokio::try_join!(state.store.quote_totals(prover), state.store.claim_payouts(prover))?;
    let deposits = &state.view.get().deposits;
    let mut records: HashMap<Address, ProverRecord> = totals
        .iter()
        .map(|t| (t.prover, ProverRecord::new(t.prover, deposits.get(&t.prover).copied(), Some(t))))
        .collect();
    for claim in &claims {
        records
            .entry(claim.prover)
            .or_insert_with(|| ProverRecord::new(claim.prover, deposits.get(&claim.prover).copied(), None))
            .count(claim);
    }
    if let Some(prover) = prover
        && let Some(deposit) = deposits.get(&prover)
    {
        records.entry(prover).or_insert_with(|| ProverRecord::new(prover, Some(*deposit), None));
    }
    Ok(records.into_values().map(ProverRecord::finish).collect())
}

/// Query of `GET /provers`.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProversQuery {
    /// How many provers, 1 to 500 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    limit: Option<String>,
}

/// The leaderboard.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Leaderboard {
    /// Most fees earned first, then most epochs proven, then most quotes sent.
    pub provers: Vec<ProverRecord>,
}

/// The leaderboard of provers: fees earned, epochs proven, claims, slashes, quotes, win rate.
#[utoipa::path(
    get,
    path = "/provers",
    tag = "market",
    params(ProversQuery),
    responses(
        (status = 200, description = "Provers, most fees earned first", body = Leaderboard),
        (status = 400, description = "A parameter is unusable (`invalid_parameter`)", body = ErrorBody),
        (status = 503, description = "Database unavailable (`database_unavailable`); retry", body = ErrorBody),
    )
)]
pub(crate) async fn leaderboard(
    State(state): State<AppState>,
    query: Result<axum::extract::Query<ProversQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Leaderboard>, NodeError> {
    let axum::extract::Query(query) = query.map_err(query_rejection)?;
    let limit = parse_limit(query.limit.as_deref())?;
    let mut provers = records(&state, None).await?;
    provers.sort_by(|a, b| {
        (b.fees_earned, b.proven, b.quotes).cmp(&(a.fees_earned, a.proven, a.quotes)).then(a.prover.cmp(&b.prover))
    });
    provers.truncate(limit as usize);
    Ok(Json(Leaderboard { provers }))
}

/// What a prover did in one epoch.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProverEpoch {
    /// The epoch.
    pub epoch: u64,
    /// Quotes it sent for it.
    pub quotes: u64,
    /// Its lowest fee for it, in basis points.
    #[schema(minimum = 0, maximum = 10000)]
    pub best_fee: u32,
    /// Its quote was claimed for this epoch.
    pub won: bool,
    /// The fee of its claimed quote, when it won.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 10000)]
    pub won_fee: Option<u32>,
}

/// A prover's record and its recent epochs.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProverPage {
    /// Its record.
    #[serde(flatten)]
    pub record: ProverRecord,
    /// The last 100 epochs it quoted for, newest first: its fee over time.
    pub epochs: Vec<ProverEpoch>,
}

/// One prover: deposit, quotes, claims won, epochs proven, bonds slashed, fees earned, win rate,
/// and its fee in each recent epoch.
#[utoipa::path(
    get,
    path = "/provers/{address}",
    tag = "market",
    params(("address" = String, Path, pattern = "^0x[0-9a-fA-F]{40}$", description = "The prover's address")),
    responses(
        (status = 200, description = "The prover's record and recent epochs", body = ProverPage),
        (status = 400, description = "Not an address (`invalid_parameter`)", body = ErrorBody),
        (status = 404, description = "The node knows nothing of it: no quote, claim or deposit (`prover_not_found`)", body = ErrorBody),
        (status = 503, description = "Database unavailable (`database_unavailable`); retry", body = ErrorBody),
    )
)]
pub(crate) async fn prover(
    State(state): State<AppState>,
    Path(address): Path<String>,
) -> Result<Json<ProverPage>, NodeError> {
    let prover: Address = address
        .parse()
        .map_err(|_| NodeError::bad_parameter("address", "address must be 0x followed by 40 hex digits"))?;
    let record = records(&state, Some(prover)).await?.pop().ok_or_else(|| NodeError::NotFound {
        code: "prover_not_found",
        message: format!("the node has no quote, claim or deposit of {prover}"),
    })?;
    let recent: Vec<ProverEpochQuotes> = state.store.prover_epochs(prover, 100).await?;
    let won: HashMap<u64, u32> = match (recent.last(), recent.first()) {
        (Some(oldest), Some(newest)) => state
            .store
            .claims_of_epochs(oldest.epoch, newest.epoch)
            .await?
            .into_iter()
            .filter(|(claim, _)| claim.bond_provider == prover)
            .map(|(claim, _)| (claim.epoch, claim.basis_point_fee))
            .collect(),
        _ => Default::default(),
    };
    let epochs = recent
        .into_iter()
        .map(|e| ProverEpoch {
            epoch: e.epoch,
            quotes: e.quotes,
            best_fee: e.best_fee,
            won: won.contains_key(&e.epoch),
            won_fee: won.get(&e.epoch).copied(),
        })
        .collect();
    Ok(Json(ProverPage { record, epochs }))
}
