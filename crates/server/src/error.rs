//! Every error the API answers with goes through one table: a status code, a
//! stable machine-readable `code` and a message that says what to fix.
//! Internal details are logged, never sent.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    InvalidJson(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    NothingAccepted(String),
    #[error("{0}")]
    TooLarge(String),
    #[error(
        "an API key is required: send `Authorization: Bearer KEY` (or HTTP Basic with the write key as user name for ingestion)"
    )]
    Unauthenticated,
    #[error("this key's role ({role}) may not {action}")]
    Forbidden { role: &'static str, action: &'static str },
    #[error("{0}")]
    NotFound(String),
    #[error("the model is not valid")]
    InvalidModel(Vec<serde_json::Value>),
    #[error("the server is busy; retry after {0} second(s)")]
    Overloaded(u64),
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidJson(_) | ApiError::InvalidRequest(_) | ApiError::NothingAccepted(_) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::InvalidModel(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unauthenticated => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Overloaded(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable code clients can match on.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidJson(_) => "invalid_json",
            ApiError::InvalidRequest(_) => "invalid_request",
            ApiError::NothingAccepted(_) => "nothing_accepted",
            ApiError::TooLarge(_) => "too_large",
            ApiError::Unauthenticated => "unauthenticated",
            ApiError::Forbidden { .. } => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::InvalidModel(_) => "invalid_model",
            ApiError::Overloaded(_) => "overloaded",
            ApiError::Internal(_) => "internal",
        }
    }

    pub fn internal(error: impl std::fmt::Display) -> ApiError {
        ApiError::Internal(error.to_string())
    }

    /// An operation on stored data failed: a stored model that no longer
    /// parses is the server's fault, not the caller's.
    pub fn from_stored(error: qualify_store::ops::OpsError) -> ApiError {
        match error {
            qualify_store::ops::OpsError::Store(error) => ApiError::from(error),
            qualify_store::ops::OpsError::InvalidModel(errors) => ApiError::internal(errors),
        }
    }
}

impl From<qualify_store::StoreError> for ApiError {
    fn from(error: qualify_store::StoreError) -> Self {
        match error {
            qualify_store::StoreError::NotFound(message) => ApiError::NotFound(message),
            other => ApiError::internal(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut body = json!({ "error": { "code": self.code(), "message": self.to_string() } });
        match &self {
            ApiError::Internal(detail) => tracing::error!(%detail, "internal error"),
            ApiError::InvalidModel(errors) => body["error"]["errors"] = json!(errors),
            _ => {}
        }
        let mut response = (status, Json(body)).into_response();
        if let ApiError::Overloaded(seconds) = self {
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}
