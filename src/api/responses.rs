//! GET /api/v1/responses: how many surveyed callers answered, and how the
//! others' calls ended.

use axum::extract::{OriginalUri, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Json;
use serde::Serialize;

use super::error::{ApiError, ErrorJson};
use super::params::Params;
use super::state::ApiState;
use super::survey::{resolve, Resolved};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ResponsesJson {
    /// The survey counted: `survey` as configured, else the default survey.
    pub survey: String,
    pub offered: i64,
    pub rated: i64,
    pub no_input: i64,
    pub hung_up: i64,
    pub failed: i64,
    /// Calls ended because neither RTP nor RTCP came from the caller for
    /// longer than the media timeout and the survey's own longest path.
    pub media_timeout: i64,
    /// rated / offered, 0.0–1.0; null when nothing was offered.
    pub response_rate: Option<f64>,
}

/// Calls offered one survey, and how they ended.
#[utoipa::path(
    get,
    operation_id = "get_responses",
    path = "/api/v1/responses",
    tag = "figures",
    params(
        ("survey" = Option<String>, Query, description = "The survey (default: the configured default_survey)"),
        ("agent" = Option<String>, Query, description = "Only this agent"),
        ("queue" = Option<String>, Query, description = "Only this queue"),
        ("from" = Option<String>, Query, format = DateTime, description = "Window start, RFC 3339, included"),
        ("to" = Option<String>, Query, format = DateTime, description = "Window end, RFC 3339, excluded"),
    ),
    responses(
        (status = 200, description = "Outcomes and the response rate", body = ResponsesJson),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "Bad parameter", body = ErrorJson),
        (status = 401, description = "No or unknown token", body = ErrorJson),
        (status = 403, description = "Not allowed", body = ErrorJson),
        (status = 404, description = "No survey of this name was configured or answered", body = ErrorJson),
        (status = 503, description = "Store unavailable", body = ErrorJson),
    ),
    security(("bearer" = []))
)]
pub async fn responses(
    State(state): State<ApiState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    let params = params.only(&["survey", "agent", "queue", "from", "to"])?;
    let (chosen, filter, tag) =
        match resolve(&state, &uri, &headers, params, params.filter()?).await? {
            Resolved::Fresh {
                chosen,
                filter,
                tag,
            } => (chosen, filter, tag),
            Resolved::NotModified(r) => return Ok(r),
        };
    let r = state.store_call(state.store.responses(&filter)).await?;
    Ok(tag.attach(Json(ResponsesJson {
        survey: chosen.name,
        offered: r.offered,
        rated: r.rated,
        no_input: r.no_input,
        hung_up: r.hung_up,
        failed: r.failed,
        media_timeout: r.media_timeout,
        response_rate: r.response_rate(),
    })))
}
