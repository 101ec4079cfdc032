//! The HTTP API: its request and response shapes and its handlers.

use axum::{Json, extract::State, http::StatusCode};
use epoch_quote::num::{JsonScalar, NumberError};
use serde::{Deserialize, Serialize};
use service_kit::{ApiError, ErrorBody, JsonBody};

use crate::{AppState, policy::EpochSummary, store::LoadedPolicy};

/// The prover node's question: what would you charge to prove this epoch?
///
/// Numbers may be JSON integers (up to 2^53−1), decimal strings or `0x` hex strings. `toBlock` is
/// accepted for `endBlock` (the name Aztec's HTTP quote provider sends).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuoteRequest {
    /// The epoch to prove.
    #[schema(value_type = service_kit::schema::Uint64, example = "7")]
    epoch_number: Option<JsonScalar>,
    /// Its first L2 block.
    #[schema(value_type = service_kit::schema::Uint64, example = "225")]
    from_block: Option<JsonScalar>,
    /// Its last L2 block (inclusive); `toBlock` is accepted too.
    #[serde(alias = "toBlock")]
    #[schema(value_type = service_kit::schema::Uint64, example = "256")]
    end_block: Option<JsonScalar>,
    /// Transactions in the epoch.
    #[schema(value_type = service_kit::schema::Uint64, example = "1200")]
    tx_count: Option<JsonScalar>,
    /// Sum of the epoch's fees, in fee-token base units.
    #[schema(value_type = service_kit::schema::Uint256, example = "2000000000000000000")]
    total_fees: Option<JsonScalar>,
    /// The last slot (absolute) the prover wants the quote to be claimable at; the answer is
    /// valid until this slot or the policy's limit, whichever comes first.
    #[schema(value_type = Option<service_kit::schema::Uint64>, example = "33")]
    valid_until_slot: Option<JsonScalar>,
}

fn field_error(field: &'static str, error: &NumberError) -> ApiError {
    ApiError::bad_request("invalid_number", format!("{field}: {error}")).with_field(field)
}

fn required<'a>(field: &'static str, value: &'a Option<JsonScalar>) -> Result<&'a JsonScalar, ApiError> {
    value
        .as_ref()
        .ok_or_else(|| ApiError::bad_request("missing_field", format!("{field}: is required")).with_field(field))
}

fn uint64(field: &'static str, value: &Option<JsonScalar>) -> Result<u64, ApiError> {
    required(field, value)?.to_u64().map_err(|e| field_error(field, &e))
}

impl QuoteRequest {
    /// The `validUntilSlot` asked for, if any.
    fn requested_validity(&self) -> Result<Option<u64>, ApiError> {
        match &self.valid_until_slot {
            None => Ok(None),
            Some(value) => value.to_u64().map(Some).map_err(|e| field_error("validUntilSlot", &e)),
        }
    }

    /// The epoch described, or the first field at fault.
    fn parse(&self) -> Result<EpochSummary, ApiError> {
        let epoch = EpochSummary {
            epoch_number: uint64("epochNumber", &self.epoch_number)?,
            from_block: uint64("fromBlock", &self.from_block)?,
            end_block: uint64("endBlock", &self.end_block)?,
            tx_count: uint64("txCount", &self.tx_count)?,
            total_fees: required("totalFees", &self.total_fees)?.to_u256().map_err(|e| field_error("totalFees", &e))?,
        };
        if epoch.end_block < epoch.from_block {
            // Well-formed numbers that do not describe an epoch: the request is understood and
            // cannot be priced (422), like a decline.
            return Err(ApiError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_block_range",
                format!("endBlock ({}) is before fromBlock ({})", epoch.end_block, epoch.from_block),
            )
            .with_field("endBlock"));
        }
        Ok(epoch)
    }
}

/// The answer: the fee and bond this prover commits to, and until which slot.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuoteResponse {
    /// Share of the epoch's fees asked, in basis points (at least the policy's `minBps`).
    #[schema(minimum = 1, maximum = 10000, example = 250)]
    pub basis_point_fee: u32,
    /// Bond staked from the prover's escrow if the quote is claimed.
    #[schema(value_type = service_kit::schema::DecimalUint256, example = "5000000000000000000")]
    pub bond_amount: String,
    /// Last L2 slot (absolute, inclusive) at which the quote may be claimed.
    #[schema(value_type = service_kit::schema::DecimalUint256, example = "67")]
    pub valid_until_slot: String,
    /// When the request asked for a `validUntilSlot`: `request` if the answer's is that one (at
    /// most the policy's limit), `policy` if it is the policy's limit (the one asked for was later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until_slot_from: Option<crate::policy::ValidityFrom>,
}

async fn answer(state: &AppState, request: &QuoteRequest) -> Result<Json<QuoteResponse>, ApiError> {
    let epoch = request.parse()?;
    let requested_validity = request.requested_validity()?;
    let loaded = state.policy.current();
    match loaded.policy.price(&epoch, requested_validity) {
        Ok(priced) => {
            state.metrics.quoted();
            tracing::info!(
                epoch = epoch.epoch_number,
                blocks = epoch.blocks(),
                txs = epoch.tx_count,
                total_fees = %epoch.total_fees,
                cost = %priced.cost,
                fee_bps = priced.basis_point_fee,
                payout = %priced.payout,
                bond = %priced.bond_amount,
                valid_until_slot = priced.valid_until_slot,
                "quoted"
            );
            Ok(Json(QuoteResponse {
                basis_point_fee: priced.basis_point_fee,
                bond_amount: priced.bond_amount.to_string(),
                valid_until_slot: priced.valid_until_slot.to_string(),
                valid_until_slot_from: requested_validity.map(|_| priced.validity_from),
            }))
        }
        Err(decline) => {
            state.metrics.declined(decline.code());
            tracing::info!(epoch = epoch.epoch_number, reason = decline.code(), %decline, "declined");
            Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, decline.code(), decline.to_string()))
        }
    }
}

/// Price an epoch.
///
/// Declines answer `422` with the reason as `code`: `too_many_txs`, `too_many_blocks`,
/// `fees_below_cost`, `fee_above_maximum` or `validity_before_claim_window`. A `validUntilSlot`
/// in the request shortens the quote's validity (never beyond the policy's).
#[utoipa::path(
    post,
    path = "/quote",
    tag = "quotes",
    request_body = QuoteRequest,
    responses(
        (status = 200, description = "The fee and bond offered", body = QuoteResponse),
        (status = 400, description = "A field is missing or invalid", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Declined, or the epoch's block range is out of order (`invalid_block_range`); `code` says why", body = ErrorBody),
    )
)]
pub(crate) async fn post_quote(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<QuoteRequest>,
) -> Result<Json<QuoteResponse>, ApiError> {
    answer(&state, &request).await
}

/// Price an epoch (the same as `POST /quote`, so `QUOTE_PROVIDER_URL` can be the bare base URL).
#[utoipa::path(
    post,
    path = "/",
    tag = "quotes",
    request_body = QuoteRequest,
    responses(
        (status = 200, description = "The fee and bond offered", body = QuoteResponse),
        (status = 400, description = "A field is missing or invalid", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Declined, or the epoch's block range is out of order (`invalid_block_range`); `code` says why", body = ErrorBody),
    )
)]
pub(crate) async fn post_root(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<QuoteRequest>,
) -> Result<Json<QuoteResponse>, ApiError> {
    answer(&state, &request).await
}

/// The policy in force, with its version and source.
#[utoipa::path(get, path = "/policy", tag = "operations", responses((status = 200, description = "The policy in force, where it came from and its version", body = LoadedPolicy)))]
pub(crate) async fn get_policy(State(state): State<AppState>) -> Json<LoadedPolicy> {
    Json(state.policy.current().as_ref().clone())
}

/// Health of a service.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "The process answers", body = Health)))]
pub(crate) async fn healthz() -> Json<Health> {
    Json(Health { status: "ok".into() })
}

/// Readiness: a valid policy is loaded, so quotes can be answered.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200, description = "A policy is loaded: the service can price epochs", body = Health)))]
pub(crate) async fn readyz(State(state): State<AppState>) -> Json<Health> {
    let _ = state.policy.current();
    Json(Health { status: "ok".into() })
}

/// Prometheus metrics (OpenMetrics text).
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus metrics in the OpenMetrics text format", content_type = "application/openmetrics-text", body = String)))]
pub(crate) async fn metrics(State(state): State<AppState>) -> axum::response::Response {
    service_kit::metrics::serve_metrics(State(state.metrics.registry())).await
}
