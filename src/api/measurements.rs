//! GET /api/v1/measurements and /api/v1/measurements/{id}: the individual
//! ratings, newest first, paged by an opaque cursor.

use axum::extract::rejection::PathRejection;
use axum::extract::{OriginalUri, Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Json;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::error::{ApiError, ErrorJson};
use super::etag::{request_key, Tag};
use super::export::{download, measurements_body, vary, Format};
use super::follow_up::FollowUpJson;
use super::params::Params;
use super::schema::{CommentStatusName, DtmfSourceName, ScaleKindName};
use super::state::ApiState;
use crate::model::{CommentStatus, DtmfSource};
use crate::store::{Comment, Measurement};
use crate::survey::ScaleKind;

/// RFC 3339, UTC, millisecond precision: the one way times leave the API.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeasurementJson {
    #[schema(format = "uuid")]
    pub id: String,
    pub survey: String,
    pub agent: Option<String>,
    pub queue: Option<String>,
    /// The SIP Call-ID of the survey call.
    pub call_id: String,
    /// The Call-ID of the support call the survey was about, when known.
    pub original_call_id: Option<String>,
    pub caller: Option<String>,
    /// The survey's scale.
    #[schema(value_type = ScaleKindName)]
    pub kind: ScaleKind,
    /// The answer on the scale: smiley 1 (happy) or 0 (sad), csat 1–5, nps 0–10.
    #[schema(minimum = 0, maximum = 10)]
    pub score: u8,
    /// "happy" or "sad" on the smiley scale, else the score as text.
    #[schema(pattern = "^(happy|sad|[0-9]|10)$")]
    pub rating: String,
    /// The keys the caller pressed, e.g. "10".
    pub digit: String,
    #[schema(value_type = DtmfSourceName)]
    pub dtmf_source: DtmfSource,
    /// RFC 3339, UTC, millisecond precision.
    #[schema(format = "date-time")]
    pub created_at: String,
    /// Where the recorded comment's audio is, while it exists; else null.
    pub comment_url: Option<String>,
    /// The recorded comment, if the caller left one (also after its audio
    /// was deleted); else null.
    pub comment: Option<CommentJson>,
    /// Set once someone marked the answer as followed up; else null.
    pub follow_up: Option<FollowUpJson>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CommentJson {
    #[schema(value_type = CommentStatusName)]
    pub status: CommentStatus,
    pub duration_ms: i64,
    pub size_bytes: i64,
    /// True once the audio was deleted (erasure or retention).
    pub deleted: bool,
    #[schema(format = "date-time")]
    pub deleted_at: Option<String>,
}

impl From<&Comment> for CommentJson {
    fn from(c: &Comment) -> Self {
        CommentJson {
            status: c.status,
            duration_ms: c.duration_ms,
            size_bytes: c.size_bytes,
            deleted: c.deleted_at.is_some(),
            deleted_at: c.deleted_at.map(rfc3339),
        }
    }
}

impl From<Measurement> for MeasurementJson {
    fn from(m: Measurement) -> Self {
        let live = m.comment.as_ref().is_some_and(|c| c.deleted_at.is_none());
        MeasurementJson {
            id: m.id.to_string(),
            survey: m.survey,
            agent: m.agent,
            queue: m.queue,
            call_id: m.sip_call_id,
            original_call_id: m.original_call_id,
            caller: m.caller,
            kind: m.kind,
            score: m.score,
            rating: m.rating,
            digit: m.digit,
            dtmf_source: m.dtmf_source,
            created_at: rfc3339(m.created_at),
            comment_url: live.then(|| format!("/api/v1/measurements/{}/comment", m.id)),
            comment: m.comment.as_ref().map(CommentJson::from),
            follow_up: m.follow_up.as_ref().map(FollowUpJson::from),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PageJson {
    pub items: Vec<MeasurementJson>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// List answers, newest first.
#[utoipa::path(
    get,
    operation_id = "list_measurements",
    path = "/api/v1/measurements",
    tag = "measurements",
    params(
        ("survey" = Option<String>, Query, description = "Only this survey (default: every survey)"),
        ("agent" = Option<String>, Query, description = "Only this agent"),
        ("queue" = Option<String>, Query, description = "Only this queue"),
        ("from" = Option<String>, Query, format = DateTime, description = "Window start, RFC 3339, included"),
        ("to" = Option<String>, Query, format = DateTime, description = "Window end, RFC 3339, excluded"),
        ("rating" = Option<String>, Query, pattern = "^(happy|sad|[0-9]|10)$", description = "Only answers with this label: happy or sad (smiley), or a score 0–10"),
        ("has_comment" = Option<bool>, Query, description = "Only ratings with (true) or without (false) comment audio"),
        ("followed_up" = Option<bool>, Query, description = "Only answers with (true) or without (false) a follow-up"),
        ("score_max" = Option<u8>, Query, minimum = 0, maximum = 10, description = "Only answers with at most this score: 0 is a sad smiley, 2 a dissatisfied CSAT answer, 6 an NPS detractor"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Page size, default 50"),
        ("cursor" = Option<String>, Query, pattern = "^[0-7][0-9a-f]{47}$", description = "next_cursor of the previous page"),
        ("format" = Option<String>, Query, pattern = "^(json|csv)$", description = "csv: every matching answer (only `limit` of them with a limit), newest first, as text/csv (also with Accept: text/csv); default json"),
    ),
    responses(
        (status = 200, description = "A page; as CSV: one row per answer (id, created_at, survey, kind, score, rating, digit, agent, queue, call_id, original_call_id, caller, dtmf_source, comment_status, comment_duration_ms, comment_url, follow_up_by, follow_up_via, follow_up_at, follow_up_note)",
            content((PageJson = "application/json"), (String = "text/csv"))),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "Bad parameter", body = ErrorJson),
        (status = 401, description = "No or unknown token", body = ErrorJson),
        (status = 403, description = "Not allowed", body = ErrorJson),
        (status = 503, description = "Store unavailable", body = ErrorJson),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<ApiState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    let params = params.only(&[
        "survey",
        "agent",
        "queue",
        "from",
        "to",
        "rating",
        "has_comment",
        "followed_up",
        "score_max",
        "limit",
        "cursor",
        "format",
    ])?;
    let format = Format::of(&headers, params)?;
    let mut filter = params.filter()?;
    // A configured survey may be named in any case.
    if let Some(name) = &filter.survey {
        if let Some((configured, _)) = state.surveys.get().find(name) {
            filter.survey = Some(configured.to_owned());
        }
    }
    let limit = params.limit()?;
    let cursor = params.cursor()?;
    let key = format!("{}\n{}", request_key(&uri), format.key());
    let tag = Tag::versioned(&state, &key).await?;
    if tag.matches(&headers) {
        return Ok(tag.not_modified());
    }
    if format == Format::Csv {
        // Every matching row unless `limit` says how many.
        let limit = params.get("limit").map(|_| limit);
        let body = measurements_body(state.clone(), filter, limit, cursor);
        return Ok(vary(tag.attach(download(body, "measurements"))));
    }
    let (items, next) = state
        .store_call(state.store.list_measurements(&filter, limit, cursor))
        .await?;
    Ok(vary(tag.attach(Json(PageJson {
        items: items.into_iter().map(Into::into).collect(),
        next_cursor: next.map(|c| c.to_string()),
    }))))
}

/// The id in the path, normalised; anything that is not a UUID cannot exist.
pub fn path_id(id: Result<Path<String>, PathRejection>, what: &str) -> Result<Uuid, ApiError> {
    let not_found = || ApiError::not_found(format!("no {what} with this id"));
    let Path(id) = id.map_err(|_| not_found())?;
    Uuid::try_parse(&id).map_err(|_| not_found())
}

/// One rating by id.
#[utoipa::path(
    get,
    operation_id = "get_measurement",
    path = "/api/v1/measurements/{id}",
    tag = "measurements",
    params(("id" = String, Path, description = "Measurement id (UUID)")),
    responses(
        (status = 200, description = "The measurement", body = MeasurementJson),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "Bad parameter", body = ErrorJson),
        (status = 401, description = "No or unknown token", body = ErrorJson),
        (status = 403, description = "Not allowed", body = ErrorJson),
        (status = 404, description = "Unknown id", body = ErrorJson),
        (status = 503, description = "Store unavailable", body = ErrorJson),
    ),
    security(("bearer" = []))
)]
pub async fn get(
    State(state): State<ApiState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    params: Params,
) -> Result<Response, ApiError> {
    params.only(&[])?;
    let id = path_id(id, "measurement")?;
    let tag = Tag::versioned(&state, &request_key(&uri)).await?;
    if tag.matches(&headers) {
        return Ok(tag.not_modified());
    }
    let m = state
        .store_call(state.store.get_measurement(&id.to_string()))
        .await?
        .ok_or_else(|| ApiError::not_found("no measurement with this id"))?;
    Ok(tag.attach(Json(MeasurementJson::from(m))))
}
