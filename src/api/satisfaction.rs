//! GET /api/v1/satisfaction: one survey's figures for a slice, and with an
//! agent given, the whole group's over the same window for comparison.

use axum::extract::{OriginalUri, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Json;
use serde::Serialize;

use super::counts::FiguresJson;
use super::error::{ApiError, ErrorJson};
use super::params::Params;
use super::schema::ScaleKindName;
use super::state::ApiState;
use super::survey::{resolve, Resolved};
use crate::store::Filter;
use crate::survey::ScaleKind;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SatisfactionJson {
    /// The survey counted: `survey` as configured, else the default survey.
    pub survey: String,
    #[schema(value_type = ScaleKindName)]
    pub kind: ScaleKind,
    #[serde(flatten)]
    pub figures: FiguresJson,
    /// Only with `agent`: everybody's figures over the same window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<FiguresJson>,
}

/// One survey's figures; with `agent`, the group's too.
#[utoipa::path(
    get,
    operation_id = "get_satisfaction",
    path = "/api/v1/satisfaction",
    tag = "figures",
    params(
        ("survey" = Option<String>, Query, description = "The survey (default: the configured default_survey); figures of different surveys are never counted together"),
        ("agent" = Option<String>, Query, description = "Only this agent; adds `group`"),
        ("queue" = Option<String>, Query, description = "Only this queue"),
        ("from" = Option<String>, Query, format = DateTime, description = "Window start, RFC 3339, included"),
        ("to" = Option<String>, Query, format = DateTime, description = "Window end, RFC 3339, excluded"),
    ),
    responses(
        (status = 200, description = "Figures on the survey's scale", body = SatisfactionJson),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "Bad parameter", body = ErrorJson),
        (status = 401, description = "No or unknown token", body = ErrorJson),
        (status = 403, description = "Not allowed", body = ErrorJson),
        (status = 404, description = "No survey of this name was configured or answered", body = ErrorJson),
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
        survey: chosen.name,
        kind: chosen.kind,
        figures: FiguresJson::of(chosen.kind, counts),
        group: group.map(|g| FiguresJson::of(chosen.kind, g)),
    })))
}
