//! GET /api/v1/agents and /api/v1/queues: one survey's league tables, best
//! first on the survey's scale.

use axum::extract::{OriginalUri, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Json;
use serde::Serialize;

use super::counts::FiguresJson;
use super::error::{ApiError, ErrorJson};
use super::export::{figure_cells, figure_columns, vary, Cell, Format, Table};
use super::params::Params;
use super::schema::ScaleKindName;
use super::state::ApiState;
use super::survey::{resolve, Resolved};
use crate::survey::ScaleKind;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AgentJson {
    /// null for answers not attributed to any agent.
    pub agent: Option<String>,
    #[serde(flatten)]
    pub figures: FiguresJson,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AgentsJson {
    /// The survey counted: `survey` as configured, else the default survey.
    pub survey: String,
    #[schema(value_type = ScaleKindName)]
    pub kind: ScaleKind,
    pub items: Vec<AgentJson>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QueueJson {
    /// null for answers from calls without a queue.
    pub queue: Option<String>,
    #[serde(flatten)]
    pub figures: FiguresJson,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QueuesJson {
    /// The survey counted: `survey` as configured, else the default survey.
    pub survey: String,
    #[schema(value_type = ScaleKindName)]
    pub kind: ScaleKind,
    pub items: Vec<QueueJson>,
}

/// Per-agent or per-queue rows of one survey, ranked by the store, less
/// those with fewer than `min_responses` answers, each made into `item`,
/// all answered as the JSON `table` makes of the survey, its scale and the
/// rows (or 304).
async fn league<T, J: Serialize>(
    state: &ApiState,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    params: &Params,
    by_queue: bool,
    item: impl Fn(Option<String>, FiguresJson) -> T,
    table: impl FnOnce(String, ScaleKind, Vec<T>) -> J,
) -> Result<Response, ApiError> {
    let other = if by_queue { "agent" } else { "queue" };
    let params = params.only(&["survey", other, "from", "to", "min_responses", "format"])?;
    let format = Format::of(headers, params)?;
    let min = params.count("min_responses")?.unwrap_or(0);
    let (chosen, filter, tag) = match resolve(state, uri, headers, params, params.filter()?).await?
    {
        Resolved::Fresh {
            chosen,
            filter,
            tag,
        } => (chosen, filter, tag),
        Resolved::NotModified(r) => return Ok(r),
    };
    let rows = if by_queue {
        state.store_call(state.store.per_queue(&filter)).await?
    } else {
        state.store_call(state.store.per_agent(&filter)).await?
    };
    // Rows are already ranked by the store; this drops those with too few
    // answers for their figure to mean much.
    let rows = rows
        .into_iter()
        .filter(|(_, c)| u64::try_from(c.total()).unwrap_or(0) >= min)
        .map(|(name, c)| (name, FiguresJson::of(chosen.kind, c)));
    if format == Format::Csv {
        let (what, column) = if by_queue {
            ("queues", "queue")
        } else {
            ("agents", "agent")
        };
        let mut csv = Table::new(
            ["survey", "kind", column]
                .into_iter()
                .map(str::to_owned)
                .chain(figure_columns(chosen.kind))
                .collect(),
        );
        for (name, figures) in rows {
            let mut row = vec![
                Cell::text(chosen.name.as_str()),
                Cell::text(chosen.kind.as_str()),
                Cell::opt(name),
            ];
            row.extend(figure_cells(chosen.kind, &figures));
            csv.push(row);
        }
        let name = format!("{what}-{}", chosen.name);
        return Ok(vary(tag.attach(csv.response(&name))));
    }
    let items = rows.map(|(name, figures)| item(name, figures)).collect();
    Ok(vary(tag.attach(Json(table(
        chosen.name,
        chosen.kind,
        items,
    )))))
}

/// One survey's figures per agent, best first.
#[utoipa::path(
    get,
    operation_id = "list_agents",
    path = "/api/v1/agents",
    tag = "figures",
    params(
        ("survey" = Option<String>, Query, description = "The survey (default: the configured default_survey)"),
        ("queue" = Option<String>, Query, description = "Only this queue"),
        ("from" = Option<String>, Query, format = DateTime, description = "Window start, RFC 3339, included"),
        ("to" = Option<String>, Query, format = DateTime, description = "Window end, RFC 3339, excluded"),
        ("min_responses" = Option<u64>, Query, minimum = 0, description = "Leave out agents with fewer answers"),
        ("format" = Option<String>, Query, pattern = "^(json|csv)$", description = "csv: the same rows as text/csv (also with Accept: text/csv); default json"),
    ),
    responses(
        (status = 200, description = "Agents, best first by the scale's figure (happy %, CSAT %, NPS), then most answers; as CSV: survey, kind, agent, total, the scale's figures, answers_<score> per score",
            content((AgentsJson = "application/json"), (String = "text/csv"))),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "Bad parameter", body = ErrorJson),
        (status = 401, description = "No or unknown token", body = ErrorJson),
        (status = 403, description = "Not allowed", body = ErrorJson),
        (status = 404, description = "No survey of this name was configured or answered", body = ErrorJson),
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
    let item = |agent, figures| AgentJson { agent, figures };
    let table = |survey, kind, items| AgentsJson {
        survey,
        kind,
        items,
    };
    league(&state, &uri, &headers, &params, false, item, table).await
}

/// One survey's figures per queue, best first.
#[utoipa::path(
    get,
    operation_id = "list_queues",
    path = "/api/v1/queues",
    tag = "figures",
    params(
        ("survey" = Option<String>, Query, description = "The survey (default: the configured default_survey)"),
        ("agent" = Option<String>, Query, description = "Only this agent"),
        ("from" = Option<String>, Query, format = DateTime, description = "Window start, RFC 3339, included"),
        ("to" = Option<String>, Query, format = DateTime, description = "Window end, RFC 3339, excluded"),
        ("min_responses" = Option<u64>, Query, minimum = 0, description = "Leave out queues with fewer answers"),
        ("format" = Option<String>, Query, pattern = "^(json|csv)$", description = "csv: the same rows as text/csv (also with Accept: text/csv); default json"),
    ),
    responses(
        (status = 200, description = "Queues, best first by the scale's figure (happy %, CSAT %, NPS), then most answers; as CSV: survey, kind, queue, total, the scale's figures, answers_<score> per score",
            content((QueuesJson = "application/json"), (String = "text/csv"))),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "Bad parameter", body = ErrorJson),
        (status = 401, description = "No or unknown token", body = ErrorJson),
        (status = 403, description = "Not allowed", body = ErrorJson),
        (status = 404, description = "No survey of this name was configured or answered", body = ErrorJson),
        (status = 503, description = "Store unavailable", body = ErrorJson),
    ),
    security(("bearer" = []))
)]
pub async fn queues(
    State(state): State<ApiState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    let item = |queue, figures| QueueJson { queue, figures };
    let table = |survey, kind, items| QueuesJson {
        survey,
        kind,
        items,
    };
    league(&state, &uri, &headers, &params, true, item, table).await
}
