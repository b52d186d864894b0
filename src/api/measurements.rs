//! GET /api/v1/measurements and /api/v1/measurements/{id}: the individual
//! ratings, newest first, paged by an opaque cursor.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::Json;
use chrono::SecondsFormat;
use serde::Serialize;
use uuid::Uuid;

use super::error::ApiError;
use super::params::Params;
use super::state::ApiState;
use crate::model::{DtmfSource, Rating};
use crate::store::Measurement;

#[derive(Debug, Serialize)]
pub struct MeasurementJson {
    pub id: String,
    pub survey: String,
    pub agent: Option<String>,
    pub queue: Option<String>,
    /// The SIP Call-ID of the survey call.
    pub call_id: String,
    /// The Call-ID of the support call the survey was about, when known.
    pub original_call_id: Option<String>,
    pub caller: Option<String>,
    pub rating: Rating,
    pub digit: String,
    pub dtmf_source: DtmfSource,
    /// RFC 3339, UTC, millisecond precision.
    pub created_at: String,
    /// Recorded comments come later; always null for now.
    pub comment_url: Option<String>,
}

impl From<Measurement> for MeasurementJson {
    fn from(m: Measurement) -> Self {
        MeasurementJson {
            id: m.id.to_string(),
            survey: m.survey,
            agent: m.agent,
            queue: m.queue,
            call_id: m.sip_call_id,
            original_call_id: m.original_call_id,
            caller: m.caller,
            rating: m.rating,
            digit: m.digit.to_string(),
            dtmf_source: m.dtmf_source,
            created_at: m.created_at.to_rfc3339_opts(SecondsFormat::Millis, true),
            comment_url: None,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct PageJson {
    pub items: Vec<MeasurementJson>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

pub async fn list(
    State(state): State<ApiState>,
    params: Params,
) -> Result<Json<PageJson>, ApiError> {
    let params = params.only(&["agent", "queue", "from", "to", "rating", "limit", "cursor"])?;
    let filter = params.filter()?;
    let limit = params.limit()?;
    let cursor = params.cursor()?;
    let (items, next) = state
        .store_call(state.store.list_measurements(&filter, limit, cursor))
        .await?;
    Ok(Json(PageJson {
        items: items.into_iter().map(Into::into).collect(),
        next_cursor: next.map(|c| c.to_string()),
    }))
}

pub async fn get(
    State(state): State<ApiState>,
    id: Result<Path<String>, PathRejection>,
    params: Params,
) -> Result<Json<MeasurementJson>, ApiError> {
    params.only(&[])?;
    let not_found = || ApiError::not_found("no measurement with this id");
    let Path(id) = id.map_err(|_| not_found())?;
    // Ids are UUIDs; anything else cannot exist. Parsing also normalises
    // the spelling (case, hyphens) to the stored form.
    let id = Uuid::try_parse(&id).map_err(|_| not_found())?;
    state
        .store_call(state.store.get_measurement(&id.to_string()))
        .await?
        .map(|m| Json(m.into()))
        .ok_or_else(not_found)
}
