//! GET /api/v1/agents: the per-agent league table, best first.

use axum::extract::{OriginalUri, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Json;
use serde::Serialize;

use super::counts::CountsJson;
use super::error::{ApiError, ErrorJson};
use super::etag::{request_key, Tag};
use super::params::Params;
use super::state::ApiState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AgentJson {
    /// null for ratings not attributed to any agent.
    pub agent: Option<String>,
    #[serde(flatten)]
    pub counts: CountsJson,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AgentsJson {
    pub items: Vec<AgentJson>,
}

/// Figures per agent, best first.
#[utoipa::path(
    get,
    path = "/api/v1/agents",
    tag = "figures",
    params(
        ("queue" = Option<String>, Query, description = "Only this queue"),
        ("from" = Option<String>, Query, format = DateTime, description = "Window start, RFC 3339, included"),
        ("to" = Option<String>, Query, format = DateTime, description = "Window end, RFC 3339, excluded"),
        ("min_responses" = Option<u64>, Query, minimum = 0, description = "Leave out agents with fewer ratings"),
    ),
    responses(
        (status = 200, description = "Agents, best happy share first", body = AgentsJson),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "Bad parameter", body = ErrorJson),
        (status = 401, description = "No or unknown token", body = ErrorJson),
        (status = 403, description = "Not allowed", body = ErrorJson),
        (status = 503, description = "Store unavailable", body = ErrorJson),
    ),
    security(("bearer" = []))
)]
pub async fn agents(
    State(state): State<ApiState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    let params = params.only(&["queue", "from", "to", "min_responses"])?;
    let filter = params.filter()?;
    let min = params.count("min_responses")?.unwrap_or(0);
    let tag = Tag::versioned(&state, &request_key(&uri)).await?;
    if tag.matches(&headers) {
        return Ok(tag.not_modified());
    }
    let rows = state.store_call(state.store.per_agent(&filter)).await?;
    // Rows are already ranked by the store; this drops agents with too few
    // ratings for their share to mean much.
    let items = rows
        .into_iter()
        .filter(|(_, c)| u64::try_from(c.total()).unwrap_or(0) >= min)
        .map(|(agent, c)| AgentJson {
            agent,
            counts: c.into(),
        })
        .collect();
    Ok(tag.attach(Json(AgentsJson { items })))
}
