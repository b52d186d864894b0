//! GET /api/v1/satisfaction: happy/sad figures for a slice, and with an agent
//! given, the whole group's over the same window for comparison.

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
use crate::store::Filter;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SatisfactionJson {
    #[serde(flatten)]
    pub counts: CountsJson,
    /// Only with `agent`: everybody's figures over the same window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<CountsJson>,
}

/// Happy/sad figures; with `agent`, the group's too.
#[utoipa::path(
    get,
    path = "/api/v1/satisfaction",
    tag = "figures",
    params(
        ("agent" = Option<String>, Query, description = "Only this agent; adds `group`"),
        ("queue" = Option<String>, Query, description = "Only this queue"),
        ("from" = Option<String>, Query, format = DateTime, description = "Window start, RFC 3339, included"),
        ("to" = Option<String>, Query, format = DateTime, description = "Window end, RFC 3339, excluded"),
    ),
    responses(
        (status = 200, description = "Figures", body = SatisfactionJson),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "Bad parameter", body = ErrorJson),
        (status = 401, description = "No or unknown token", body = ErrorJson),
        (status = 403, description = "Not allowed", body = ErrorJson),
        (status = 503, description = "Store unavailable", body = ErrorJson),
    ),
    security(("bearer" = []))
)]
pub async fn satisfaction(
    State(state): State<ApiState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    let filter = params.only(&["agent", "queue", "from", "to"])?.filter()?;
    let tag = Tag::versioned(&state, &request_key(&uri)).await?;
    if tag.matches(&headers) {
        return Ok(tag.not_modified());
    }
    let counts = state.store_call(state.store.satisfaction(&filter)).await?;
    let group = match filter.agent {
        Some(_) => {
            let all_agents = Filter {
                agent: None,
                ..filter
            };
            Some(
                state
                    .store_call(state.store.satisfaction(&all_agents))
                    .await?,
            )
        }
        None => None,
    };
    Ok(tag.attach(Json(SatisfactionJson {
        counts: counts.into(),
        group: group.map(Into::into),
    })))
}
