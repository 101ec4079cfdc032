//! The HTTP API of the node: intake, the read side, the event stream, health and metrics.

use alloy::primitives::{Address, B256, U256};
use axum::{
    Json,
    extract::{Path, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use epoch_quote::SignedEpochProofQuote;
use serde::Serialize;
use service_kit::{ApiError, ErrorBody, JsonBytes};

use crate::{
    domain::ClaimOutcome,
    error::NodeError,
    intake::{self, Accepted},
    metrics::QuoteSource,
    state::AppState,
    store::{ClaimRecord, EpochRecord, QuoteRecord, QuoteStatus},
};

/// A signed quote in its JSON form (for the API description; requests are parsed by the quote
/// library, which also takes `0x` hex strings and JSON integers up to 2^53−1 for the numbers).
#[derive(Debug, utoipa::ToSchema)]
#[schema(
    example = json!({
        "prover": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        "epochNumber": "7",
        "epochInitBlock": "225",
        "epochFinalBlock": "256",
        "totalFees": "1000000000000000000",
        "rollupAddress": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
        "basisPointFee": 250,
        "bondAmount": "5000",
        "validUntilSlot": "260",
        "signature": "0xe9504fdd2e1330ec3d8c47185f3f895abf4a95f83f3eb0cebf8144b6589e69f72020efcb3aaf2a682f48b3be7fdfc5eba95115c74aaccade152800a3cb7f6ee41b"
    })
)]
#[allow(dead_code)]
#[serde(rename_all = "camelCase")]
pub struct SignedQuoteJson {
    /// The prover (signer); its escrow deposit backs the bond.
    #[schema(value_type = service_kit::schema::Address)]
    prover: String,
    /// The epoch to prove (uint256, decimal string).
    #[schema(value_type = service_kit::schema::Uint256)]
    epoch_number: String,
    /// First L2 block of the epoch (uint256).
    #[schema(value_type = service_kit::schema::Uint256)]
    epoch_init_block: String,
    /// Last L2 block of the epoch, inclusive (uint256).
    #[schema(value_type = service_kit::schema::Uint256)]
    epoch_final_block: String,
    /// Sum of the epoch's fees (uint256).
    #[schema(value_type = service_kit::schema::Uint256)]
    total_fees: String,
    /// The rollup contract.
    #[schema(value_type = service_kit::schema::Address)]
    rollup_address: String,
    /// Share of the fees asked, 0..=10000.
    #[schema(value_type = service_kit::schema::BasisPointFee)]
    basis_point_fee: u32,
    /// Bond staked when claimed (uint256).
    #[schema(value_type = service_kit::schema::Uint256)]
    bond_amount: String,
    /// Last slot at which it may be claimed (uint256).
    #[schema(value_type = service_kit::schema::Uint256)]
    valid_until_slot: String,
    /// 65 bytes r, s, v as 0x and 130 hex digits; EIP-712 over the quote.
    #[schema(pattern = "^(0x)?[0-9a-fA-F]{130}$")]
    signature: String,
}

/// A signed quote as the node writes it: numbers as decimal strings (`basisPointFee` as an
/// integer), addresses with their EIP-55 case, the signature as 0x and 130 lowercase hex digits.
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
#[serde(rename_all = "camelCase")]
pub struct WrittenQuoteJson {
    /// The prover (signer); its escrow deposit backs the bond.
    #[schema(value_type = service_kit::schema::Address)]
    prover: String,
    /// The epoch to prove.
    #[schema(value_type = service_kit::schema::DecimalUint256)]
    epoch_number: String,
    /// First L2 block of the epoch.
    #[schema(value_type = service_kit::schema::DecimalUint256)]
    epoch_init_block: String,
    /// Last L2 block of the epoch, inclusive.
    #[schema(value_type = service_kit::schema::DecimalUint256)]
    epoch_final_block: String,
    /// Sum of the epoch's fees.
    #[schema(value_type = service_kit::schema::DecimalUint256)]
    total_fees: String,
    /// The rollup contract.
    #[schema(value_type = service_kit::schema::Address)]
    rollup_address: String,
    /// Share of the fees asked.
    #[schema(minimum = 0, maximum = 10000)]
    basis_point_fee: u32,
    /// Bond staked when claimed.
    #[schema(value_type = service_kit::schema::DecimalUint256)]
    bond_amount: String,
    /// Last slot at which it may be claimed.
    #[schema(value_type = service_kit::schema::DecimalUint256)]
    valid_until_slot: String,
    /// EIP-712 signature over the quote.
    #[schema(value_type = service_kit::schema::Signature)]
    signature: String,
}

pub use node_api::SubmitResponse;

/// A claim seen on L1.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClaimView {
    /// The claimed epoch.
    pub epoch: u64,
    /// The claimed quote.
    #[schema(value_type = service_kit::schema::Hash32)]
    pub quote_id: B256,
    /// The prover whose bond is staked.
    #[schema(value_type = service_kit::schema::Address)]
    #[serde(serialize_with = "crate::domain::as_text::serialize")]
    pub bond_provider: Address,
    /// The proposer that claimed.
    #[schema(value_type = service_kit::schema::Address)]
    #[serde(serialize_with = "crate::domain::as_text::serialize")]
    pub proposer: Address,
    /// The staked bond.
    #[schema(value_type = service_kit::schema::DecimalUint256)]
    #[serde(serialize_with = "crate::domain::as_text::serialize")]
    pub bond_amount: U256,
    /// The prover's fee, in basis points.
    #[schema(minimum = 0, maximum = 10000)]
    pub basis_point_fee: u32,
    /// The slot of the claim.
    pub claimed_at_slot: u64,
    /// The L1 transaction of the claim.
    #[schema(value_type = service_kit::schema::Hash32)]
    pub l1_tx: B256,
    /// The L1 block of the claim.
    pub l1_block: u64,
    /// L1 blocks on top of it, the claim's own included, as the node last saw the chain.
    pub confirmations: u64,
    /// `open`, `proven` or `slashed`.
    pub outcome: ClaimOutcome,
}

impl ClaimView {
    pub(crate) fn new(claim: ClaimRecord, outcome: ClaimOutcome, head: u64) -> Self {
        Self {
            epoch: claim.epoch,
            quote_id: claim.quote_id,
            bond_provider: claim.bond_provider,
            proposer: claim.proposer,
            bond_amount: claim.bond_amount,
            basis_point_fee: claim.basis_point_fee,
            claimed_at_slot: claim.claimed_at_slot,
            l1_tx: claim.l1_tx,
            l1_block: claim.l1_block,
            confirmations: (head + 1).saturating_sub(claim.l1_block),
            outcome,
        }
    }
}

/// Why a quote did not win its epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LostReason {
    /// A newer quote of the same prover for the same epoch replaced it.
    Superseded,
    /// It stopped being claimable before any claim: past its `validUntilSlot` or the claim
    /// window, or its epoch was proven or pruned unclaimed.
    Expired,
    /// Another quote of its epoch was claimed while this one was still claimable (`outbidBy`).
    Outbid,
}

/// The claimed quote that outbid another.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OutbidBy {
    /// The claimed quote.
    #[schema(value_type = service_kit::schema::Hash32)]
    pub quote_id: B256,
    /// Its prover.
    #[schema(value_type = service_kit::schema::Address)]
    #[serde(serialize_with = "crate::domain::as_text::serialize")]
    pub prover: Address,
    /// Its fee, in basis points.
    #[schema(minimum = 0, maximum = 10000)]
    pub basis_point_fee: u32,
    /// The slot it was claimed at.
    pub claimed_at_slot: u64,
}

/// Why the quote `id` with `status` did not win, given the claims of its epoch.
fn lost_reason(
    id: B256,
    status: QuoteStatus,
    valid_until_slot: U256,
    claims: &[(ClaimRecord, ClaimOutcome)],
) -> (Option<LostReason>, Option<OutbidBy>) {
    match status {
        QuoteStatus::Superseded => (Some(LostReason::Superseded), None),
        QuoteStatus::Expired => {
            match claims.iter().find(|(c, _)| c.quote_id != id && U256::from(c.claimed_at_slot) <= valid_until_slot) {
                Some((claim, _)) => (
                    Some(LostReason::Outbid),
                    Some(OutbidBy {
                        quote_id: claim.quote_id,
                        prover: claim.bond_provider,
                        basis_point_fee: claim.basis_point_fee,
                        claimed_at_slot: claim.claimed_at_slot,
                    }),
                ),
                None => (Some(LostReason::Expired), None),
            }
        }
        _ => (None, None),
    }
}

impl QuoteView {
    /// The view of a stored quote; `claims` are its epoch's (read only when it may have lost).
    fn new(record: QuoteRecord, claim: Option<ClaimView>, claims: &[(ClaimRecord, ClaimOutcome)]) -> Self {
        let (lost, outbid_by) = lost_reason(record.id, record.status, record.quote.quote.valid_until_slot, claims);
        Self {
            id: record.id,
            status: record.status,
            received_at_ms: record.received_at_ms,
            lost,
            outbid_by,
            claim,
            quote: record.quote,
        }
    }
}

/// A stored quote: the signed quote's fields, its id and its status.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuoteView {
    /// The quote's id (its EIP-712 digest).
    #[schema(value_type = service_kit::schema::Hash32)]
    pub id: B256,
    /// Lifecycle status.
    pub status: QuoteStatus,
    /// When the node stored it (ms since the Unix epoch).
    pub received_at_ms: i64,
    /// Why it did not win, once that is decided (`superseded`, `expired` or `outbid`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lost: Option<LostReason>,
    /// When `outbid`: the claimed quote that won.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outbid_by: Option<OutbidBy>,
    /// The claim that named it, once claimed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claim: Option<ClaimView>,
    /// The signed quote, in its JSON form.
    #[serde(flatten)]
    #[schema(value_type = WrittenQuoteJson)]
    pub quote: SignedEpochProofQuote,
}

/// Submit a signed quote.
///
/// Answers `201` once the quote is durably stored, `200` with the same id if it already was, or
/// an error whose `code` says exactly why the quote would fail on L1: `invalid_signature`,
/// `wrong_rollup`, `epoch_not_complete`, `epoch_not_found`, `epoch_proven`, `epoch_pruned`,
/// `epoch_already_claimed`, `epoch_mismatch`, `quote_expired`, `bond_too_low`,
/// `insufficient_escrow`, `epoch_full`; malformed bodies get `invalid_json`, `missing_field`,
/// `invalid_number`, `invalid_address` or `fee_above_maximum`.
#[utoipa::path(
    post,
    path = "/epoch-proof-quotes",
    tag = "quotes",
    request_body(content = SignedQuoteJson, description = "The signed quote (JSON form)"),
    responses(
        (status = 201, description = "Stored", body = SubmitResponse),
        (status = 200, description = "Already stored", body = SubmitResponse),
        (status = 400, description = "Malformed", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Would fail on L1", body = ErrorBody),
        (status = 429, description = "Too many quotes from this address; retry after `Retry-After` seconds", body = ErrorBody),
        (status = 503, description = "Database or L1 view unavailable; not stored", body = ErrorBody),
    )
)]
pub(crate) async fn submit_quote(State(state): State<AppState>, body: Result<JsonBytes, ApiError>) -> Response {
    let body = match body {
        Ok(JsonBytes(body)) => body,
        Err(error) => {
            state.metrics.rejected(&error.body().code);
            return error.into_response();
        }
    };
    match intake::take(&state, &body).await {
        Ok((Accepted::Stored(id), signed)) => {
            state.metrics.accepted(QuoteSource::Http);
            crate::p2p::announce(&state, signed).await;
            let location = format!("/epoch-proof-quotes/{id}");
            (
                StatusCode::CREATED,
                [(header::LOCATION, location)],
                Json(SubmitResponse { id, status: QuoteStatus::Pending }),
            )
                .into_response()
        }
        Ok((Accepted::Known(id), _)) => {
            let status = match state.store.quote(id).await {
                Ok(Some(record)) => record.status,
                Ok(None) => QuoteStatus::Pending,
                Err(e) => return NodeError::from(e).into_response(),
            };
            (StatusCode::OK, Json(SubmitResponse { id, status })).into_response()
        }
        Err(error) => {
            state.metrics.rejected(error.code());
            error.into_response()
        }
    }
}

/// One quote by id, with its lifecycle status.
#[utoipa::path(
    get,
    path = "/epoch-proof-quotes/{id}",
    tag = "quotes",
    params(("id" = String, Path, pattern = "^0x[0-9a-fA-F]{64}$", description = "The quote id (0x and 64 hex digits)")),
    responses(
        (status = 200, description = "The quote with its status, its claim once claimed, and why it lost once decided", body = QuoteView),
        (status = 400, description = "Not a quote id", body = ErrorBody),
        (status = 404, description = "No such quote (`quote_not_found`)", body = ErrorBody),
        (status = 503, description = "Database unavailable (`database_unavailable`); retry", body = ErrorBody),
    )
)]
pub(crate) async fn get_quote(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<QuoteView>, NodeError> {
    let id: B256 = id.parse().map_err(|_| NodeError::BadParameter {
        code: "invalid_id",
        field: Some("id"),
        message: "a quote id is 0x followed by 64 hex digits".into(),
    })?;
    let record = state
        .store
        .quote(id)
        .await?
        .ok_or_else(|| NodeError::NotFound { code: "quote_not_found", message: format!("no quote {id}") })?;
    let claim = state.store.claim_of_quote(id).await?;
    let head = state.view.get().cursor.map_or(0, |c| c.l1_block);
    let epoch_claims = epoch_claims(&state, std::slice::from_ref(&record)).await?;
    let claim = claim.map(|(claim, outcome)| ClaimView::new(claim, outcome, head));
    Ok(Json(QuoteView::new(record, claim, &epoch_claims)))
}

/// Health of the node.
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Readiness {
    /// `ok` or `unavailable`.
    #[schema(pattern = "^(ok|unavailable)$")]
    pub status: String,
    /// The database answers.
    pub database: bool,
    /// The L1 has been reached and the rollup read.
    pub l1: bool,
    /// The node's view of L1 exists (a watcher, here or on another replica, has written it).
    pub chain_view: bool,
    /// This replica runs the L1 watcher.
    pub watcher_leader: bool,
    /// Last L1 block processed.
    pub l1_block: Option<u64>,
    /// Peers connected on the quote gossip network (absent when P2P is disabled; a node on the
    /// network with no peer is not ready).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p2p_peers: Option<usize>,
}

/// The answer of `/healthz`.
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok`.
    #[schema(pattern = "^ok$", example = "ok")]
    pub status: String,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "The process answers", body = Health)))]
pub(crate) async fn healthz() -> Json<Health> {
    Json(Health { status: "ok".into() })
}

/// Readiness: the database answers, the L1 has been reached, and the view of L1 exists.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Ready: the database answers, the L1 has been reached and the view of L1 exists", body = Readiness),
        (status = 503, description = "Not ready; the fields say what is missing", body = Readiness)
    )
)]
pub(crate) async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let database = state.store.ping().await;
    // The copy of the view intake validates against, so "ready" means quotes can be validated.
    let cursor = state.view.get().cursor;
    let watcher = state.watcher_status();
    let l1 = state.l1_up();
    let p2p_peers = state.gossip.as_ref().map(|g| g.connected_peers());
    let ready = database && l1 && cursor.is_some() && p2p_peers != Some(0);
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (
        status,
        Json(Readiness {
            status: if ready { "ok" } else { "unavailable" }.into(),
            database,
            l1,
            chain_view: cursor.is_some(),
            watcher_leader: watcher.leader,
            l1_block: cursor.map(|c| c.l1_block),
            p2p_peers,
        }),
    )
}

/// The node on the quote gossip network.
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct P2pStatus {
    /// Whether the node is on the network (`P2P_ENABLED`).
    pub enabled: bool,
    /// Its peer id.
    pub peer_id: Option<String>,
    /// Where it listens: what other peers put in `P2P_BOOTSTRAP_PEERS`.
    pub listen_addrs: Vec<String>,
    /// Connected peers subscribed to the quote topic (nodes; provers that only publish are
    /// connected but not counted here).
    pub topic_peers: usize,
    /// Connected peers.
    pub peers: Vec<P2pPeer>,
    /// Peers blocked for sending forged quotes (invalid signatures, undecodable bytes, another
    /// chain or rollup) until their score fell to -80: disconnected and refused, 2 minutes at a
    /// time. At most 100 are listed; `coordination_node_p2p_peers_blocked` counts them all.
    pub blocked_peers: Vec<String>,
}

/// A connected peer.
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct P2pPeer {
    /// Its peer id.
    pub peer_id: String,
    /// Its gossipsub score: negative after it sent invalid quotes; at -80 or below nothing more
    /// is taken from it, and a sender of forged quotes is disconnected (`blockedPeers`).
    pub score: Option<f64>,
    /// Subscribed to the quote topic: a node, which takes and forwards quotes. A prover that
    /// only publishes its own quotes is not subscribed, and that is normal.
    pub subscribed: bool,
    /// `node` (subscribed: relays quotes) or `publisher` (a prover that only sends its own).
    pub role: P2pRole,
    /// The address of its connection.
    pub address: Option<String>,
}

/// What a gossip peer does on the quote topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum P2pRole {
    /// Subscribed to the topic: takes, validates and forwards quotes.
    Node,
    /// Publishes its own quotes only (a prover node), not subscribed.
    Publisher,
}

/// The node's gossip peer: identity, listen addresses, connected peers with their scores.
#[utoipa::path(get, path = "/p2p", tag = "operations", responses((status = 200, description = "The node on the gossip network (`enabled: false` without P2P)", body = P2pStatus)))]
pub(crate) async fn p2p_status(State(state): State<AppState>) -> Json<P2pStatus> {
    let Some(gossip) = &state.gossip else {
        return Json(P2pStatus {
            enabled: false,
            peer_id: None,
            listen_addrs: Vec::new(),
            topic_peers: 0,
            peers: Vec::new(),
            blocked_peers: Vec::new(),
        });
    };
    let peers = gossip
        .peers()
        .await
        .into_iter()
        .map(|p| P2pPeer {
            peer_id: p.peer_id.to_string(),
            score: p.score,
            subscribed: p.subscribed,
            role: if p.subscribed { P2pRole::Node } else { P2pRole::Publisher },
            address: p.address.map(|a| a.to_string()),
        })
        .collect();
    Json(P2pStatus {
        enabled: true,
        peer_id: Some(gossip.peer_id().to_string()),
        listen_addrs: gossip.listen_addrs().iter().map(ToString::to_string).collect(),
        topic_peers: gossip.topic_peers(),
        peers,
        blocked_peers: gossip.blocked().await.iter().take(100).map(ToString::to_string).collect(),
    })
}

/// Prometheus metrics (OpenMetrics text).
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus metrics in the OpenMetrics text format", content_type = "application/openmetrics-text", body = String)))]
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    state.metrics.observe(&state).await;
    service_kit::metrics::serve_metrics(State(state.metrics.registry())).await
}

/// Query of `GET /epoch-proof-quotes`.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QuotesQuery {
    /// The epoch.
    #[param(required = true, value_type = u64, minimum = 0)]
    epoch: Option<String>,
    /// Only quotes with this status (default `pending`: still claimable); `all` for every status.
    #[param(value_type = Option<StatusFilter>, inline)]
    status: Option<String>,
    /// Only quotes of this prover.
    #[param(value_type = Option<String>, pattern = "^0x[0-9a-fA-F]{40}$")]
    prover: Option<String>,
    /// Page size, 1 to 500 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    limit: Option<String>,
    /// `nextCursor` of the previous page.
    #[param(value_type = Option<String>, pattern = "^[0-9]{1,5}-[0-9]{1,18}$")]
    cursor: Option<String>,
}

/// The statuses `GET /epoch-proof-quotes` filters by: one status, or `all`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[serde(rename_all = "snake_case")]
enum StatusFilter {
    Pending,
    Claimed,
    Expired,
    Superseded,
    Proven,
    Slashed,
    All,
}

/// A page of quotes.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuotePage {
    /// Best first: lowest `basisPointFee`, then earliest received.
    pub quotes: Vec<QuoteView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

pub(crate) fn query_rejection(rejection: axum::extract::rejection::QueryRejection) -> NodeError {
    NodeError::BadParameter { code: "invalid_parameter", field: None, message: rejection.body_text() }
}

/// A parameter that is an integer from 0 to 2^63-1 (an `int64` with `minimum: 0` in the spec),
/// or `invalid_parameter` with `message`.
pub(crate) fn int64_parameter(field: &'static str, text: &str, message: &'static str) -> Result<i64, NodeError> {
    text.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| NodeError::bad_parameter(field, message))
}

/// The optional `before` bound of a paged list (an epoch or an L1 block, per `message`).
pub(crate) fn parse_before(before: Option<&str>, message: &'static str) -> Result<Option<u64>, NodeError> {
    before.map(|b| int64_parameter("before", b, message).map(i64::unsigned_abs)).transpose()
}

pub(crate) fn parse_limit(limit: Option<&str>) -> Result<u32, NodeError> {
    match limit {
        None => Ok(100),
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=500).contains(n))
            .ok_or_else(|| NodeError::bad_parameter("limit", "limit must be an integer from 1 to 500")),
    }
}

fn parse_prover(prover: Option<&str>) -> Result<Option<Address>, NodeError> {
    prover
        .map(|p| {
            p.parse::<Address>()
                .map_err(|_| NodeError::bad_parameter("prover", "prover must be an address (0x and 40 hex digits)"))
        })
        .transpose()
}

/// The quotes of an epoch, best first.
///
/// By default only those still claimable (`pending`). Pages are stable: pass `nextCursor` back
/// as `cursor`.
#[utoipa::path(
    get,
    path = "/epoch-proof-quotes",
    tag = "quotes",
    params(QuotesQuery),
    responses(
        (status = 200, description = "A page of the epoch's quotes, best first", body = QuotePage),
        (status = 400, description = "A parameter is missing or unusable (`missing_parameter`, `invalid_parameter`)", body = ErrorBody),
        (status = 503, description = "Database unavailable (`database_unavailable`); retry", body = ErrorBody),
    )
)]
pub(crate) async fn list_quotes(
    State(state): State<AppState>,
    query: Result<axum::extract::Query<QuotesQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, NodeError> {
    let axum::extract::Query(query) = query.map_err(query_rejection)?;
    let epoch = query.epoch.as_deref().ok_or_else(|| NodeError::BadParameter {
        code: "missing_parameter",
        field: Some("epoch"),
        message: "epoch is required".into(),
    })?;
    let epoch = int64_parameter("epoch", epoch, "epoch must be an integer from 0 to 2^63-1")?.unsigned_abs();
    let status = match query.status.as_deref() {
        None => Some(QuoteStatus::Pending),
        Some("all") => None,
        Some(text) => Some(text.parse::<QuoteStatus>().map_err(|_| {
            NodeError::bad_parameter(
                "status",
                "status must be pending, claimed, expired, superseded, proven, slashed or all",
            )
        })?),
    };
    let prover = parse_prover(query.prover.as_deref())?;
    let limit = parse_limit(query.limit.as_deref())?;
    let after = query
        .cursor
        .as_deref()
        .map(|c| {
            c.split_once('-')
                .and_then(|(fee, seq)| Some((fee.parse::<u32>().ok()?, seq.parse::<i64>().ok()?)))
                .ok_or_else(|| NodeError::bad_parameter("cursor", "cursor must be a nextCursor from a previous page"))
        })
        .transpose()?;
    if status == Some(QuoteStatus::Pending) && prover.is_none() && after.is_none() {
        // The proposer's question: the best claimable quotes, from memory while current.
        let body = state
            .best
            .page(&state.store, epoch, limit, || async {
                // A database failure was logged where it became a `NodeError`.
                let page = quote_page(&state, epoch, status, None, None, limit).await.ok()?;
                serde_json::to_vec(&page)
                    .map_err(|error| tracing::error!(%error, "cannot write a page of quotes as JSON"))
                    .ok()
                    .map(bytes::Bytes::from)
            })
            .await?;
        return Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response());
    }
    Ok(Json(quote_page(&state, epoch, status, prover, after, limit).await?).into_response())
}

/// A page of the quotes of `epoch` from the database (see [`crate::store::NodeStore::quotes_page`]).
async fn quote_page(
    state: &AppState,
    epoch: u64,
    status: Option<QuoteStatus>,
    prover: Option<Address>,
    after: Option<(u32, i64)>,
    limit: u32,
) -> Result<QuotePage, NodeError> {
    let records = state.store.quotes_page(epoch, status, prover, after, limit).await?;
    let next_cursor = (records.len() == limit as usize)
        .then(|| records.last().map(|r| format!("{}-{}", r.quote.quote.basis_point_fee, r.seq)))
        .flatten();
    let claims = epoch_claims(state, &records).await?;
    let quotes = records.into_iter().map(|r| QuoteView::new(r, None, &claims)).collect();
    Ok(QuotePage { quotes, next_cursor })
}

/// The claims of the epoch of `records` (all of one epoch), read only if one of them expired
/// and may have been outbid.
async fn epoch_claims(
    state: &AppState,
    records: &[QuoteRecord],
) -> Result<Vec<(ClaimRecord, ClaimOutcome)>, NodeError> {
    let Some(expired) = records.iter().find(|r| r.status == QuoteStatus::Expired) else { return Ok(Vec::new()) };
    let epoch = expired.quote.quote.epoch_number.saturating_to::<u64>();
    Ok(state.store.claims_of_epoch(epoch).await?)
}

/// Where an epoch is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EpochState {
    /// The current epoch.
    Open,
    /// Ended, not claimed, not proven.
    Complete,
    /// Claimed, not yet proven.
    Claimed,
    /// Proven.
    Proven,
    /// Pruned.
    Pruned,
}

/// An epoch as the node sees it on L1.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EpochView {
    /// The epoch.
    pub epoch: u64,
    /// First L2 block.
    pub init_block: u64,
    /// Last L2 block (inclusive).
    pub final_block: u64,
    /// Number of blocks.
    pub block_count: u64,
    /// Transactions.
    pub tx_count: u64,
    /// Sum of the blocks' fees.
    #[schema(value_type = service_kit::schema::DecimalUint256)]
    #[serde(serialize_with = "crate::domain::as_text::serialize")]
    pub total_fees: U256,
    /// Its state.
    pub state: EpochState,
    /// The claim on it, if any.
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
    /// Its quotes were deleted by the node's retention (`NODE_RETENTION_EPOCHS`): the epoch was
    /// proven or pruned long ago. Its claim, totals and each prover's quote counts are kept.
    pub quotes_deleted: bool,
}

/// What the prover of `claim` is paid for `record` (`totalFees × basisPointFee / 10000`), unless
/// the claim was slashed (nothing is paid) or the product overflows (the rollup would revert).
pub(crate) fn payout(record: &EpochRecord, (claim, outcome): &(ClaimRecord, ClaimOutcome)) -> Option<U256> {
    if *outcome == ClaimOutcome::Slashed {
        return None;
    }
    epoch_quote::prover_payout(record.total_fees, claim.basis_point_fee)
}

/// The open epoch as of the node's view of L1 (none before the L1 has been reached).
pub(crate) fn current_epoch(state: &AppState) -> Option<u64> {
    let cursor = state.view.get().cursor?;
    let config = state.rollup_config()?;
    Some(config.epoch_at_slot(config.slot_at(cursor.l1_timestamp)))
}

/// Where `record` is in its life, given its latest claim's outcome and the open epoch.
pub(crate) fn epoch_state(record: &EpochRecord, claim: Option<ClaimOutcome>, current_epoch: Option<u64>) -> EpochState {
    if record.pruned {
        EpochState::Pruned
    } else if record.proven() {
        EpochState::Proven
    } else if claim == Some(ClaimOutcome::Open) {
        EpochState::Claimed
    } else if current_epoch.is_some_and(|current| current > record.epoch) {
        EpochState::Complete
    } else {
        EpochState::Open
    }
}

/// One epoch: its blocks, fees, state and claim.
#[utoipa::path(
    get,
    path = "/epochs/{epoch}",
    tag = "chain",
    params(("epoch" = u64, Path, description = "The epoch number")),
    responses(
        (status = 200, description = "The epoch: its blocks, fees, state and claim", body = EpochView),
        (status = 400, description = "Not an epoch number", body = ErrorBody),
        (status = 404, description = "No blocks in this epoch (`epoch_not_found`)", body = ErrorBody),
        (status = 503, description = "Database unavailable (`database_unavailable`); retry", body = ErrorBody),
    )
)]
pub(crate) async fn get_epoch(
    State(state): State<AppState>,
    Path(epoch): Path<String>,
) -> Result<Json<EpochView>, NodeError> {
    let epoch = int64_parameter("epoch", &epoch, "epoch must be an integer from 0 to 2^63-1")?.unsigned_abs();
    let record = state.store.epoch(epoch).await?.ok_or_else(|| NodeError::NotFound {
        code: "epoch_not_found",
        message: format!("epoch {epoch} has no blocks on L1"),
    })?;
    let head = state.view.get().cursor.map_or(0, |c| c.l1_block);
    let claim = state.store.claims_of_epoch(epoch).await?.into_iter().next();
    let quotes_deleted = epoch < state.store.retention_marks().await?.quotes_before_epoch;
    let state_now = epoch_state(&record, claim.as_ref().map(|(_, outcome)| *outcome), current_epoch(&state));
    Ok(Json(EpochView {
        epoch,
        init_block: record.init_block,
        final_block: record.final_block,
        block_count: record.block_count,
        tx_count: record.tx_count,
        total_fees: record.total_fees,
        state: state_now,
        payout: claim.as_ref().and_then(|claim| payout(&record, claim)),
        claim: claim.map(|(c, outcome)| ClaimView::new(c, outcome, head)),
        proven_at_l1_block: record.proven_at,
        quotes_deleted,
    }))
}

/// Query of `GET /claims`.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ClaimsQuery {
    /// Only claims of this prover (its bond).
    #[param(value_type = Option<String>, pattern = "^0x[0-9a-fA-F]{40}$")]
    prover: Option<String>,
    /// Only claims made before this L1 block (`nextBefore` of the previous page).
    #[param(value_type = Option<u64>, minimum = 0)]
    before: Option<String>,
    /// Page size, 1 to 500 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    limit: Option<String>,
}

/// A page of claims.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClaimPage {
    /// Newest first.
    pub claims: Vec<ClaimView>,
    /// Pass as `before` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_before: Option<u64>,
}

/// Claims seen on L1 (the current one and history), newest first, optionally of one prover.
#[utoipa::path(
    get,
    path = "/claims",
    tag = "chain",
    params(ClaimsQuery),
    responses(
        (status = 200, description = "A page of claims, newest first", body = ClaimPage),
        (status = 400, description = "A parameter is unusable (`invalid_parameter`)", body = ErrorBody),
        (status = 503, description = "Database unavailable (`database_unavailable`); retry", body = ErrorBody),
    )
)]
pub(crate) async fn list_claims(
    State(state): State<AppState>,
    query: Result<axum::extract::Query<ClaimsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ClaimPage>, NodeError> {
    let axum::extract::Query(query) = query.map_err(query_rejection)?;
    let prover = parse_prover(query.prover.as_deref())?;
    let limit = parse_limit(query.limit.as_deref())?;
    let before = parse_before(query.before.as_deref(), "before must be an L1 block number, 0 to 2^63-1")?;
    let claims = state.store.claims(prover, before, limit).await?;
    let head = state.view.get().cursor.map_or(0, |c| c.l1_block);
    let next_before = (claims.len() == limit as usize).then(|| claims.last().map(|(c, _)| c.l1_block)).flatten();
    Ok(Json(ClaimPage { claims: claims.into_iter().map(|(c, o)| ClaimView::new(c, o, head)).collect(), next_before }))
}

/// One event of `GET /events`, as its Server-Sent Events fields.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct StreamEvent {
    /// Its sequence number: resume after it with `Last-Event-ID`. Absent on `lagged`; on
    /// `events_pruned`, the last id deleted.
    #[schema(pattern = "^[0-9]+$")]
    id: Option<String>,
    /// Its kind; or `lagged` (the client fell too far behind; the stream ends); or
    /// `events_pruned` (the client resumed from an id whose events retention deleted; data
    /// `prunedThrough` is the last id gone, and the stream goes on after it).
    #[schema(schema_with = event_names)]
    event: String,
    /// Its details, as JSON text.
    data: String,
}

/// The event names of the stream: every [`node_api::EventKind`], `lagged` and `events_pruned`.
fn event_names() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let names = node_api::EventKind::ALL.iter().map(|kind| kind.as_str()).chain(["lagged", "events_pruned"]);
    ObjectBuilder::new().schema_type(Type::String).enum_values(Some(names)).into()
}

/// Query of `GET /events`.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Resume after this event id (the `Last-Event-ID` header takes precedence); without either,
    /// the stream starts with the next event.
    #[param(value_type = Option<u64>, minimum = 0, maximum = 9223372036854775807_u64)]
    after: Option<String>,
}

/// The live event stream (Server-Sent Events).
///
/// Events: `quote_accepted`, `quote_superseded`, `quote_expired`, `epoch_completed`,
/// `claim_seen`, `proof_seen`, `bond_slashed`, `epoch_pruned`, `chain_reorg`; each with its
/// sequence number as the SSE `id` and JSON `data`. Reconnect with `Last-Event-ID` to get every
/// event missed, from any replica. A client that falls too far behind receives `lagged` (with
/// the last id it got) and the stream ends. A client resuming from an id whose events the
/// node's retention deleted (`NODE_RETENTION_EPOCHS`) first receives `events_pruned` (the last
/// id deleted), then the events after it.
#[utoipa::path(
    get,
    path = "/events",
    tag = "events",
    params(
        EventsQuery,
        ("Last-Event-ID" = Option<String>, Header, nullable = false, pattern = "^[0-9]{1,18}$", description = "Resume after this event id")
    ),
    responses(
        (status = 200, description = "An event stream: each event's SSE fields", content_type = "text/event-stream", body = StreamEvent),
        (status = 400, description = "Bad event id (`invalid_parameter`)", body = ErrorBody),
        (status = 429, description = "This client already holds as many streams as `NODE_STREAMS_PER_CLIENT` allows (`too_many_streams`); close one", body = ErrorBody),
        (status = 503, description = "Database unavailable (`database_unavailable`); retry", body = ErrorBody),
    )
)]
pub(crate) async fn stream_events(
    State(state): State<AppState>,
    client: Option<axum::Extension<service_kit::client::ClientIp>>,
    headers: axum::http::HeaderMap,
    query: Result<axum::extract::Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, NodeError> {
    let axum::extract::Query(query) = query.map_err(query_rejection)?;
    let event_id =
        |field: &'static str, id: &str| int64_parameter(field, id.trim(), "an event id is an integer from 0 to 2^63-1");
    // Both are checked; the header, sent by a reconnecting browser, takes precedence.
    let query_after = query.after.as_deref().map(|id| event_id("after", id)).transpose()?;
    let header_after =
        headers.get("last-event-id").map(|v| event_id("Last-Event-ID", v.to_str().unwrap_or("invalid"))).transpose()?;
    let after = header_after.or(query_after);
    // Held by the response's stream: freed when the client goes.
    let slot = match client {
        Some(axum::Extension(service_kit::client::ClientIp(client))) => match state.streams.take(client) {
            Some(slot) => Some(slot),
            None => {
                let limit = state.streams.per_client();
                return Ok(ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_streams",
                    format!("{client} already holds {limit} event streams, the most one client may; close one"),
                )
                .into_response());
            }
        },
        None => None,
    };
    let observer: std::sync::Arc<dyn crate::events::StreamObserver> = std::sync::Arc::new(state.metrics.clone());
    let stream =
        crate::events::stream(&state.events, state.store.clone(), after, crate::events::STALL, observer).await?;
    let stream = futures_util::StreamExt::map(stream, move |event| {
        let _held = &slot;
        event
    });
    Ok((
        [(axum::http::header::CONTENT_TYPE, "text/event-stream"), (axum::http::header::CACHE_CONTROL, "no-cache")],
        axum::body::Body::from_stream(stream),
    )
        .into_response())
}
