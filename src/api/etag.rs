//! Cheap polling: every GET carries an ETag, and `If-None-Match` with a
//! current tag gets a bodiless 304. Figures are tagged by the data version
//! (the newest event id, one index lookup) and the request, so a 304 skips
//! the query that would compute them; other responses are tagged by a hash
//! of their body.

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::state::ApiState;
use crate::store::token_hash;

/// Clients may keep answers but must revalidate them every time.
pub const CACHE_CONTROL_VALUE: &str = "private, no-cache";

/// Bumped when the JSON shapes change, so old tags stop matching.
const SHAPE_VERSION: &str = "2";

/// A strong entity tag, quoted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tag(String);

impl Tag {
    /// Tag of whatever the data version and `key` (the request) determine.
    pub async fn versioned(state: &ApiState, key: &str) -> Result<Tag, ApiError> {
        let version = state.store_call(state.store.last_event_id()).await?;
        let h = token_hash(&format!("{SHAPE_VERSION}\n{version}\n{key}"));
        Ok(Tag(format!("\"v{version}-{}\"", &h[..16])))
    }

    pub fn of_bytes(body: &[u8]) -> Tag {
        let h = Sha256::digest(body);
        Tag(format!("\"{}\"", hex::encode(&h[..12])))
    }

    pub fn from_quoted(s: String) -> Tag {
        Tag(s)
    }

    /// Whether `If-None-Match` names this tag (or is `*`); weak comparison,
    /// as RFC 9110 §13.1.2 asks for.
    pub fn matches(&self, headers: &HeaderMap) -> bool {
        let mine = self.0.trim_start_matches("W/");
        headers.get_all(IF_NONE_MATCH).iter().any(|v| {
            v.to_str().is_ok_and(|v| {
                v.split(',')
                    .map(str::trim)
                    .any(|t| t == "*" || t.trim_start_matches("W/") == mine)
            })
        })
    }

    fn header(&self) -> Option<HeaderValue> {
        HeaderValue::from_str(&self.0).ok()
    }

    /// The 304 answer.
    pub fn not_modified(&self) -> Response {
        let mut r = StatusCode::NOT_MODIFIED.into_response();
        self.stamp(r.headers_mut());
        r
    }

    /// Adds the tag and Cache-Control to a response.
    pub fn attach(&self, resp: impl IntoResponse) -> Response {
        let mut r = resp.into_response();
        self.stamp(r.headers_mut());
        r
    }

    fn stamp(&self, h: &mut HeaderMap) {
        if let Some(v) = self.header() {
            h.insert(ETAG, v);
        }
        h.entry(CACHE_CONTROL)
            .or_insert(HeaderValue::from_static(CACHE_CONTROL_VALUE));
    }
}

/// The key of a request for versioned tags: path and query as sent.
pub fn request_key(uri: &axum::http::Uri) -> String {
    uri.path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default()
}

/// Largest body the middleware hashes; larger ones go out untagged.
const MAX_HASHED: usize = 8 << 20;

/// Middleware: tags successful GET answers that have no tag yet by their
/// body and honours `If-None-Match` for them. Streams (SSE) and audio are
/// left alone; their handlers do their own.
pub async fn fill(req: Request, next: Next) -> Response {
    let is_get = req.method() == Method::GET || req.method() == Method::HEAD;
    let conditional = req.headers().clone();
    let resp = next.run(req).await;
    if !is_get || resp.status() != StatusCode::OK || resp.headers().contains_key(ETAG) {
        return resp;
    }
    let streaming = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/event-stream") || ct.starts_with("audio/"));
    if streaming {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_HASHED).await {
        Ok(b) => b,
        Err(_) => {
            return ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "response too large",
            )
            .into_response()
        }
    };
    let tag = Tag::of_bytes(&bytes);
    if tag.matches(&conditional) {
        return tag.not_modified();
    }
    let mut resp = Response::from_parts(parts, Body::from(bytes));
    tag.stamp(resp.headers_mut());
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_lists_and_weak_tags() {
        let t = Tag("\"abc\"".into());
        let mut h = HeaderMap::new();
        assert!(!t.matches(&h));
        h.insert(IF_NONE_MATCH, HeaderValue::from_static("\"x\", W/\"abc\""));
        assert!(t.matches(&h));
        h.insert(IF_NONE_MATCH, HeaderValue::from_static("*"));
        assert!(t.matches(&h));
        h.insert(IF_NONE_MATCH, HeaderValue::from_static("\"abcd\""));
        assert!(!t.matches(&h));
    }
}
