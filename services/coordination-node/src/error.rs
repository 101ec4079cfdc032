//! The node's one error type and its one HTTP answer (the shared error envelope with a stable
//! `code`). Handlers return `Result<_, NodeError>`; refusals and storage failures convert into it
//! with `?`.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
use service_kit::ApiError;

use crate::{domain::Refusal, store::StoreError};

/// Why the node did not do what a request asked.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// A quote was refused: `422` (or `400` for a malformed body) with the refusal's code.
    #[error(transparent)]
    Refused(Box<Refusal>),
    /// The database cannot be used (`503 database_unavailable`). The cause went to the log when
    /// this was made.
    #[error("the node's database is unavailable")]
    DatabaseUnavailable,
    /// The database failed while storing a quote: it was not stored (`503 database_unavailable`).
    #[error("the node's database is unavailable; the quote was not stored")]
    QuoteNotStored,
    /// The node cannot validate against L1 now (`503 chain_view_unavailable`).
    #[error("the node's view of L1 is not ready: {0}")]
    ChainViewUnavailable(&'static str),
    /// A query or path parameter is missing or unusable (`400`).
    #[error("{message}")]
    BadParameter {
        /// `invalid_parameter`, `missing_parameter` or `invalid_id`.
        code: &'static str,
        /// The parameter, when one is at fault.
        field: Option<&'static str>,
        /// For people.
        message: String,
    },
    /// Nothing by that name (`404`).
    #[error("{message}")]
    NotFound {
        /// `quote_not_found` or `epoch_not_found`.
        code: &'static str,
        /// For people.
        message: String,
    },
}

impl From<Refusal> for NodeError {
    fn from(refusal: Refusal) -> Self {
        Self::Refused(Box::new(refusal))
    }
}

impl From<StoreError> for NodeError {
    fn from(error: StoreError) -> Self {
        tracing::warn!(%error, "database unavailable");
        Self::DatabaseUnavailable
    }
}

impl NodeError {
    /// A `400 invalid_parameter` naming `field`.
    pub fn bad_parameter(field: &'static str, message: impl Into<String>) -> Self {
        Self::BadParameter { code: "invalid_parameter", field: Some(field), message: message.into() }
    }

    /// The answer's code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Refused(refusal) => refusal.code().as_str(),
            Self::DatabaseUnavailable | Self::QuoteNotStored => "database_unavailable",
            Self::ChainViewUnavailable(_) => "chain_view_unavailable",
            Self::BadParameter { code, .. } | Self::NotFound { code, .. } => code,
        }
    }

    /// The refusal, when the error is one.
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            Self::Refused(refusal) => Some(refusal),
            _ => None,
        }
    }

    /// The answer in the shared envelope.
    pub fn to_api_error(&self) -> ApiError {
        match self {
            Self::Refused(refusal) => {
                let status =
                    StatusCode::from_u16(refusal.code().http_status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
                let error = ApiError::new(status, refusal.code().as_str(), refusal.to_string());
                match refusal.field() {
                    Some(field) => error.with_field(field),
                    None => error,
                }
            }
            Self::DatabaseUnavailable => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, self.code(), "the node's database is unavailable; retry")
            }
            Self::QuoteNotStored => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                self.code(),
                "the node's database is unavailable; the quote was not stored; retry",
            ),
            Self::ChainViewUnavailable(why) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                self.code(),
                format!("the node's view of L1 is not ready: {why}; retry"),
            ),
            Self::BadParameter { code, field, message } => {
                let error = ApiError::bad_request(*code, message.clone());
                match field {
                    Some(field) => error.with_field(*field),
                    None => error,
                }
            }
            Self::NotFound { code, message } => ApiError::new(StatusCode::NOT_FOUND, *code, message.clone()),
        }
    }
}

impl IntoResponse for NodeError {
    fn into_response(self) -> Response {
        self.to_api_error().into_response()
    }
}
