//! PUT and DELETE /api/v1/measurements/{id}/follow-up: a lead marks an
//! answer as dealt with, with a short note, or reopens it. Needs the read
//! scope (a lead's daily work, not administration); who did it is the
//! token's name, or "loopback" while no tokens exist.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Caller;
use super::body::SmallBody;
use super::error::{ApiError, ErrorJson};
use super::measurements::{path_id, rfc3339};
use super::params::{require_json, Params};
use super::state::ApiState;
use crate::store::{FollowUp, Marked};

/// Longest note, in characters.
pub const MAX_NOTE_CHARS: usize = 500;

#[derive(Debug, Serialize, ToSchema)]
pub struct FollowUpJson {
    /// What was done, as the lead wrote it (may be empty).
    pub note: String,
    /// The name of the token used; null when a loopback client marked it
    /// while no tokens existed.
    pub by: Option<String>,
    /// `token`, or `loopback` (no tokens existed).
    #[schema(pattern = "^(token|loopback)$")]
    pub via: String,
    /// When it was marked (or last changed).
    #[schema(format = "date-time")]
    pub created_at: String,
}

impl From<&FollowUp> for FollowUpJson {
    fn from(f: &FollowUp) -> Self {
        FollowUpJson {
            note: f.note.clone(),
            by: f.by.name().map(str::to_owned),
            via: f.by.via().to_owned(),
            created_at: rfc3339(f.created_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFollowUpJson {
    /// What was done, at most 500 characters; may be left out.
    #[serde(default)]
    #[schema(
        max_length = 500,
        pattern = "^[^\\u0000-\\u0009\\u000b-\\u001f\\u007f-\\u009f]*$"
    )]
    pub note: String,
}

/// Mark an answer as followed up.
#[utoipa::path(
    put,
    path = "/api/v1/measurements/{id}/follow-up",
    operation_id = "mark_followed_up",
    tag = "measurements",
    params(("id" = String, Path, description = "Measurement id (UUID)")),
    request_body = NewFollowUpJson,
    responses(
        (status = 200, description = "Replaced an earlier follow-up (or the same one again)", body = FollowUpJson),
        (status = 201, description = "Marked", body = FollowUpJson),
        (status = 400, description = "Bad body", body = ErrorJson),
        (status = 401, description = "No or unknown token", body = ErrorJson),
        (status = 403, description = "Not allowed (also: from another site's page)", body = ErrorJson),
        (status = 404, description = "Unknown id", body = ErrorJson),
        (status = 415, description = "Body is not application/json", body = ErrorJson),
        (status = 503, description = "Store unavailable", body = ErrorJson),
    ),
    security(("bearer" = []))
)]
pub async fn put(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    params: Params,
    SmallBody(body): SmallBody,
) -> Result<Response, ApiError> {
    params.only(&[])?;
    let id = path_id(id, "measurement")?.to_string();
    require_json(&headers)?;
    let new: NewFollowUpJson = serde_json::from_slice(&body)
        .map_err(|e| ApiError::invalid("body", format!("not a follow-up object: {e}")))?;
    let note = new.note.trim();
    if note.chars().count() > MAX_NOTE_CHARS {
        return Err(ApiError::invalid(
            "note",
            format!("at most {MAX_NOTE_CHARS} characters"),
        ));
    }
    if note.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ApiError::invalid(
            "note",
            "control characters other than line breaks are not allowed",
        ));
    }
    let marked = state
        .store_call(state.store.mark_followed_up(&id, &caller.actor, note))
        .await?;
    let status = match marked {
        Marked::NoMeasurement => return Err(ApiError::not_found("no measurement with this id")),
        Marked::Created => StatusCode::CREATED,
        Marked::Replaced | Marked::Unchanged => StatusCode::OK,
    };
    let stored = state
        .store_call(state.store.follow_up(&id))
        .await?
        .ok_or_else(|| ApiError::not_found("the follow-up was withdrawn meanwhile"))?;
    Ok((status, Json(FollowUpJson::from(&stored))).into_response())
}

/// Reopen an answer: withdraw its follow-up.
#[utoipa::path(
    delete,
    path = "/api/v1/measurements/{id}/follow-up",
    operation_id = "reopen",
    tag = "measurements",
    params(("id" = String, Path, description = "Measurement id (UUID)")),
    responses(
        (status = 204, description = "Reopened"),
        (status = 400, description = "Bad parameter", body = ErrorJson),
        (status = 401, description = "No or unknown token", body = ErrorJson),
        (status = 403, description = "Not allowed (also: from another site's page)", body = ErrorJson),
        (status = 404, description = "Unknown id, or not followed up", body = ErrorJson),
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
    let id = path_id(id, "measurement")?.to_string();
    if state.store_call(state.store.reopen(&id)).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("this measurement has no follow-up"))
    }
}
