//! The HTTP API of the node (part 1: intake, one quote by id, health).

use alloy::primitives::B256;
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
    AppState,
    intake::{self, Accepted},
    store::QuoteStatus,
};

/// The answer to a submitted quote.
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct SubmitResponse {
    /// The quote's id (its EIP-712 digest).
    #[schema(value_type = String, example = "0x06382bcfed56c0fe74b2bcdb79091945f4bfc56d1f523110f4ec25f97812fdc7")]
    pub id: B256,
    /// Its lifecycle status.
    pub status: QuoteStatus,
}

/// A stored quote: the signed quote's fields, its id and its status.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuoteView {
    /// The quote's id (its EIP-712 digest).
    #[schema(value_type = String)]
    pub id: B256,
    /// Lifecycle status.
    pub status: QuoteStatus,
    /// When the node stored it (ms since the Unix epoch).
    pub received_at_ms: i64,
    /// The signed quote, in its JSON form.
    #[serde(flatten)]
    #[schema(value_type = Object)]
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
    request_body(content = Object, description = "The signed quote (JSON form)"),
    responses(
        (status = 201, description = "Stored", body = SubmitResponse),
        (status = 200, description = "Already stored", body = SubmitResponse),
        (status = 400, description = "Malformed", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Would fail on L1", body = ErrorBody),
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
        Ok(Accepted::Stored(id)) => {
            state.metrics.accepted();
            let location = format!("/epoch-proof-quotes/{id}");
            (
                StatusCode::CREATED,
                [(header::LOCATION, location)],
                Json(SubmitResponse { id, status: QuoteStatus::Pending }),
            )
                .into_response()
        }
        Ok(Accepted::Known(id)) => {
            let status = match state.store.quote(id).await {
                Ok(Some(record)) => record.status,
                Ok(None) => QuoteStatus::Pending,
                Err(e) => return intake::database_unavailable(&e).into_response(),
            };
            (StatusCode::OK, Json(SubmitResponse { id, status })).into_response()
        }
        Err(error) => {
            state.metrics.rejected(&error.body().code);
            error.into_response()
        }
    }
}

/// One quote by id, with its lifecycle status.
#[utoipa::path(
    get,
    path = "/epoch-proof-quotes/{id}",
    tag = "quotes",
    params(("id" = String, Path, description = "The quote id (0x and 64 hex digits)")),
    responses(
        (status = 200, body = QuoteView),
        (status = 400, description = "Not a quote id", body = ErrorBody),
        (status = 404, description = "No such quote", body = ErrorBody),
    )
)]
pub(crate) async fn get_quote(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<QuoteView>, ApiError> {
    let id: B256 = id.parse().map_err(|_| {
        ApiError::bad_request("invalid_id", "a quote id is 0x followed by 64 hex digits").with_field("id")
    })?;
    let record = state
        .store
        .quote(id)
        .await
        .map_err(|e| intake::database_unavailable(&e))?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "quote_not_found", format!("no quote {id}")))?;
    Ok(Json(QuoteView {
        id: record.id,
        status: record.status,
        received_at_ms: record.received_at_ms,
        quote: record.quote,
    }))
}

/// Health of the node.
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Readiness {
    /// `ok` or `unavailable`.
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
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Readiness)))]
pub(crate) async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

/// Readiness: the database answers, the L1 has been reached, and the view of L1 exists.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses((status = 200, body = Readiness), (status = 503, description = "Not ready", body = Readiness))
)]
pub(crate) async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let database = state.store.ping().await;
    // The copy of the view intake validates against, so "ready" means quotes can be validated.
    let cursor = state.view.get().cursor;
    let watcher = *state.watcher.borrow();
    let l1 = state.rollup_config().is_some() && (!watcher.leader || watcher.healthy);
    let ready = database && l1 && cursor.is_some();
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
        }),
    )
}

/// Prometheus metrics (OpenMetrics text).
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, content_type = "application/openmetrics-text", body = String)))]
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    service_kit::metrics::serve_metrics(State(state.metrics.registry())).await
}
