//! GET and DELETE /api/v1/measurements/{id}/comment: a caller's recorded
//! comment as audio/wav, with HTTP Range support so players can seek; and
//! erasure on request, which deletes the audio but keeps the rating.

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::header::{ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, RANGE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::error::{ApiError, ErrorJson};
use super::etag::Tag;
use super::measurements::path_id;
use super::params::Params;
use super::state::ApiState;
use crate::store::{audio_path, erase_comment, StoreError};

/// What a Range header asks for, against a file of known length.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeAsk {
    /// No usable Range header: send everything (RFC 9110 §14.2 lets a
    /// server ignore a range it does not understand, e.g. several ranges).
    Full,
    /// Inclusive byte positions.
    Part(u64, u64),
    /// 416.
    Unsatisfiable,
}

/// Parses a single `bytes=` range: `a-b`, `a-`, `-n`.
pub fn parse_range(header: Option<&str>, len: u64) -> RangeAsk {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeAsk::Full;
    };
    if spec.contains(',') {
        return RangeAsk::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeAsk::Full;
    };
    let (a, b) = (a.trim(), b.trim());
    match (a.is_empty(), b.is_empty()) {
        (true, false) => match b.parse::<u64>() {
            Ok(0) => RangeAsk::Unsatisfiable,
            Ok(_) if len == 0 => RangeAsk::Unsatisfiable,
            Ok(n) => RangeAsk::Part(len.saturating_sub(n), len - 1),
            Err(_) => RangeAsk::Full,
        },
        (false, _) => {
            let Ok(start) = a.parse::<u64>() else {
                return RangeAsk::Full;
            };
            let end = if b.is_empty() {
                u64::MAX
            } else {
                match b.parse::<u64>() {
                    Ok(e) if e >= start => e,
                    _ => return RangeAsk::Full,
                }
            };
            if start >= len {
                RangeAsk::Unsatisfiable
            } else {
                RangeAsk::Part(start, end.min(len - 1))
            }
        }
        (true, true) => RangeAsk::Full,
    }
}

/// The comment's audio.
#[utoipa::path(
    get,
    operation_id = "get_comment",
    path = "/api/v1/measurements/{id}/comment",
    tag = "comments",
    params(
        ("id" = String, Path, description = "Measurement id (UUID)"),
        ("Range" = Option<String>, Header, description = "One byte range: bytes=a-b, bytes=a- or bytes=-n"),
    ),
    responses(
        (status = 200, description = "The whole recording", content_type = "audio/wav", body = Vec<u8>),
        (status = 206, description = "The requested range (Content-Range)", content_type = "audio/wav", body = Vec<u8>),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "Bad parameter", body = ErrorJson),
        (status = 401, description = "No or unknown token", body = ErrorJson),
        (status = 403, description = "Not allowed", body = ErrorJson),
        (status = 404, description = "No comment, or its audio was deleted", body = ErrorJson),
        (status = 416, description = "Range outside the file (Content-Range: bytes */len)", body = ErrorJson),
        (status = 503, description = "Store unavailable", body = ErrorJson),
    ),
    security(("bearer" = []))
)]
pub async fn get(
    State(state): State<ApiState>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    params: Params,
) -> Result<Response, ApiError> {
    params.only(&[])?;
    let id = path_id(id, "measurement")?;
    let none = || ApiError::not_found("this measurement has no comment audio");
    let c = state
        .store_call(state.store.comment(&id.to_string()))
        .await?
        .filter(|c| c.deleted_at.is_none())
        .ok_or_else(none)?;
    let path = audio_path(&state.recordings_dir, &c.file_name).ok_or_else(none)?;
    let mut file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(none()),
        Err(e) => return Err(StoreError::Io(format!("{}: {e}", path.display())).into()),
    };
    let io = |e: std::io::Error| ApiError::from(StoreError::Io(format!("{}: {e}", path.display())));
    let len = file.metadata().await.map_err(io)?.len();
    let tag = Tag::from_quoted(format!(
        "\"c-{}-{len}-{}\"",
        id.simple(),
        c.created_at.timestamp_millis()
    ));
    if tag.matches(&headers) {
        return Ok(tag.not_modified());
    }
    let range = headers.get(RANGE).and_then(|v| v.to_str().ok());
    let (status, start, end) = match parse_range(range, len) {
        RangeAsk::Full => (StatusCode::OK, 0, len.saturating_sub(1)),
        RangeAsk::Part(a, b) => (StatusCode::PARTIAL_CONTENT, a, b),
        RangeAsk::Unsatisfiable => {
            let mut r = ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "range_not_satisfiable",
                format!("Range: the recording has {len} bytes"),
            )
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                r.headers_mut().insert(CONTENT_RANGE, v);
            }
            return Ok(r);
        }
    };
    let count = if len == 0 { 0 } else { end - start + 1 };
    // Comments are short (about a megabyte at most): read the part at once.
    let mut buf = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
    file.seek(std::io::SeekFrom::Start(start))
        .await
        .map_err(io)?;
    file.take(count).read_to_end(&mut buf).await.map_err(io)?;
    let mut resp = Response::new(Body::from(buf));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("audio/wav"));
    h.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(CONTENT_LENGTH, HeaderValue::from(count));
    if status == StatusCode::PARTIAL_CONTENT {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")) {
            h.insert(CONTENT_RANGE, v);
        }
    }
    Ok(tag.attach(resp))
}

/// Erase the comment's audio; the rating stays.
#[utoipa::path(
    delete,
    operation_id = "delete_comment",
    path = "/api/v1/measurements/{id}/comment",
    tag = "comments",
    params(("id" = String, Path, description = "Measurement id (UUID)")),
    responses(
        (status = 204, description = "Audio deleted; the comment is marked deleted (reason erasure)"),
        (status = 400, description = "Bad parameter", body = ErrorJson),
        (status = 401, description = "No or unknown token", body = ErrorJson),
        (status = 403, description = "Needs an admin token", body = ErrorJson),
        (status = 404, description = "No comment audio to delete", body = ErrorJson),
        (status = 503, description = "Store unavailable", body = ErrorJson),
    ),
    security(("bearer" = []))
)]
pub async fn delete(
    State(state): State<ApiState>,
    id: Result<Path<String>, PathRejection>,
    params: Params,
) -> Result<StatusCode, ApiError> {
    params.only(&[])?;
    let id = path_id(id, "measurement")?;
    let erased = state
        .store_call(erase_comment(
            &state.store,
            &state.recordings_dir,
            &id.to_string(),
            "erasure",
        ))
        .await?;
    if erased {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("this measurement has no comment audio"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        use RangeAsk::*;
        assert_eq!(parse_range(None, 100), Full);
        assert_eq!(parse_range(Some("bytes=0-9"), 100), Part(0, 9));
        assert_eq!(parse_range(Some("bytes=90-"), 100), Part(90, 99));
        assert_eq!(parse_range(Some("bytes=90-500"), 100), Part(90, 99));
        assert_eq!(parse_range(Some("bytes=-10"), 100), Part(90, 99));
        assert_eq!(parse_range(Some("bytes=-500"), 100), Part(0, 99));
        assert_eq!(parse_range(Some("bytes=100-"), 100), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 100), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=5-1"), 100), Full);
        assert_eq!(parse_range(Some("bytes=0-1,5-6"), 100), Full);
        assert_eq!(parse_range(Some("items=0-1"), 100), Full);
        assert_eq!(parse_range(Some("bytes=x-"), 100), Full);
    }
}
