//! Request bodies, read with a limit: nothing a client sends is buffered
//! past what its route can use. A body known to be too large (from its
//! Content-Length, or while a chunked one arrives) is refused with a JSON
//! 413 before more of it is read.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_LENGTH;
use axum::http::{HeaderMap, StatusCode};
use futures_util::StreamExt;

use super::error::ApiError;

/// The JSON bodies of the API (sign-in, webhooks, follow-ups) are small.
pub const MAX_JSON_BODY: usize = 64 * 1024;

/// A body of at most `MAX_JSON_BODY` bytes, as an extractor.
pub struct SmallBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for SmallBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let limit = Limit {
            max: MAX_JSON_BODY,
            what: "a request body",
        };
        read_limited(&parts.headers, body, limit)
            .await
            .map(SmallBody)
    }
}

/// How much a route takes, and what it is called in the error.
#[derive(Clone, Copy)]
pub struct Limit {
    pub max: usize,
    pub what: &'static str,
}

impl Limit {
    fn too_large(self) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("{} may be at most {} bytes", self.what, self.max),
        )
    }
}

/// Reads `body`, refusing it with 413 as soon as it is known to be larger
/// than `limit`.
pub async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    limit: Limit,
) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit.max as u64) {
        return Err(limit.too_large());
    }
    let mut buf = Vec::with_capacity(declared.unwrap_or(0) as usize);
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                format!("the body could not be read: {e}"),
            )
        })?;
        if buf.len() + chunk.len() > limit.max {
            return Err(limit.too_large());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(buf))
}
