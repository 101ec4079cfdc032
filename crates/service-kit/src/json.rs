//! A JSON body extractor whose every refusal is an [`ApiError`] with a stable code.

use axum::{
    extract::{FromRequest, Request},
    http::{StatusCode, header},
};
use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::ApiError;

/// Extracts the raw bytes of a JSON request body, for handlers that parse it themselves.
///
/// Refusals: `415 unsupported_media_type` without a JSON content type, `413 payload_too_large`
/// past the body limit, `400 invalid_body` when the body cannot be read.
#[derive(Clone, Debug)]
pub struct JsonBytes(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for JsonBytes {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        if !is_json(content_type) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the body must be JSON, sent with Content-Type: application/json",
            ));
        }
        Bytes::from_request(req, state).await.map(JsonBytes).map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "the body is larger than allowed")
            } else {
                ApiError::bad_request("invalid_body", rejection.body_text())
            }
        })
    }
}

/// Extracts and parses a JSON request body.
///
/// Refusals: `415 unsupported_media_type` without a JSON content type, `413 payload_too_large`
/// past the body limit, `400 invalid_body` when the body cannot be read, `400 invalid_json` when
/// it is not valid JSON of the expected shape (including duplicate keys and deep nesting).
#[derive(Clone, Copy, Debug)]
pub struct JsonBody<T>(pub T);

fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let JsonBytes(bytes) = JsonBytes::from_request(req, state).await?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::bad_request("invalid_json", format!("malformed JSON: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::is_json;

    #[test]
    fn json_content_types() {
        assert!(is_json("application/json"));
        assert!(is_json("application/json; charset=utf-8"));
        assert!(is_json("Application/JSON"));
        assert!(is_json("application/problem+json"));
        assert!(!is_json("text/plain"));
        assert!(!is_json(""));
        assert!(!is_json("application/x-www-form-urlencoded"));
    }
}
