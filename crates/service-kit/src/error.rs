//! The one error envelope of every HTTP answer that is not a success.

use std::borrow::Cow;

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Serialize;

/// The body of every error answer: a stable machine-readable `code`, a sentence for people, and
/// the offending request field when there is one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable, machine-readable reason, e.g. `invalid_json`, `fees_below_cost`.
    #[schema(example = "invalid_number")]
    pub code: Cow<'static, str>,
    /// What went wrong, for people.
    #[schema(example = "totalFees: must not be negative")]
    pub message: String,
    /// The request field at fault, if the error is about one field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "totalFees")]
    pub field: Option<Cow<'static, str>>,
}

/// An error answer: a status and an [`ErrorBody`].
#[derive(Clone, Debug)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
}

impl ApiError {
    /// An answer with `status`, `code` and `message`.
    pub fn new(status: StatusCode, code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self { status, body: ErrorBody { code: code.into(), message: message.into(), field: None } }
    }

    /// A 400 answer.
    pub fn bad_request(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// A 500 answer with a generic body; the cause goes to the log, never to the client.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "internal error; see the service log")
    }

    /// Names the request field at fault.
    pub fn with_field(mut self, field: impl Into<Cow<'static, str>>) -> Self {
        self.body.field = Some(field.into());
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The body.
    pub fn body(&self) -> &ErrorBody {
        &self.body
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

/// The answer for a path no route serves.
pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

/// The answer for a route that exists with another method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this route does not take this method")
}
