//! The API's error type: every handler returns `Result<_, ApiError>`, and an error becomes a
//! status code plus `{"error": "<clear message>"}`. Internal failures are logged with their
//! whole cause chain and answered with a message that leaks no path or internal detail.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

#[derive(Debug)]
pub enum ApiError {
    /// 400: the request is wrong (empty prompt, bad id, no model loaded).
    BadRequest(String),
    /// 403: the request is not addressed to this machine by a local name.
    Forbidden(String),
    /// 404: the thing asked for does not exist or has no values.
    NotFound(String),
    /// 409: a trace is already running, or the compared runs do not match.
    Conflict(String),
    /// 413: the request body, or the trace it asks for, is too large.
    TooLarge(String),
    /// 500: something failed inside; logged, not shown.
    Internal(anyhow::Error),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> ApiError {
        ApiError::Internal(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match self {
            ApiError::BadRequest(m)
            | ApiError::Forbidden(m)
            | ApiError::NotFound(m)
            | ApiError::Conflict(m)
            | ApiError::TooLarge(m) => {
                tracing::debug!(%status, "{m}");
                m
            }
            ApiError::Internal(e) => {
                tracing::error!("internal error: {e:#}");
                "internal server error (the details are in the server's log)".to_string()
            }
        };
        (status, Json(json!({ "error": message }))).into_response()
    }
}
