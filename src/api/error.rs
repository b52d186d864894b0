//! The API's error type. Every failure, including unknown routes and wrong
//! methods, leaves as `{"error":{"code":…,"message":…}}` so clients need one
//! parser, and the message names the offending parameter when there is one.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::store::StoreError;

/// An error response: status, stable machine-readable code, human message.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400 for a parameter with a value we cannot use; `message` says why.
    pub fn invalid(param: &str, message: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            format!("{param}: {message}"),
        )
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 401: no usable credentials; the response names the Bearer scheme.
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }

    /// 403: known, but not allowed to do this.
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    /// 503: the database is known to be unreachable; not even tried.
    pub fn store_down() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "the database is unreachable; try again shortly",
        )
    }

    /// 503: every live event stream is taken (`MAX_EVENT_STREAMS`).
    pub fn too_many_streams(max: usize) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_streams",
            format!(
                "{max} event streams are open already; close one or poll pages of /api/v1/events"
            ),
        )
    }

    /// 503: the store did not answer in time.
    pub fn store_timeout() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "the store did not answer in time",
        )
    }
}

impl From<StoreError> for ApiError {
    /// Details go to the log, not to the client: they may name hosts or files.
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Corrupt { .. } => {
                tracing::error!(error = %e, "unreadable row in the store");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    "a stored row could not be read",
                )
            }
            _ => {
                tracing::warn!(error = %e, "store request failed");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    "the store is unavailable",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": { "code": self.code, "message": self.message } });
        let mut resp = (self.status, Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            // RFC 9110 §10.2.3: when to try again, in seconds.
            resp.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"smileyd\""),
            );
        }
        resp
    }
}

/// The error body, for the OpenAPI document.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorJson {
    pub error: ErrorDetail,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `invalid_parameter`, `not_found`.
    pub code: String,
    /// Human-readable; names the offending parameter first when there is one.
    pub message: String,
}
