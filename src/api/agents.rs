//! GET /api/v1/agents: the per-agent league table, best first.

use axum::extract::State;
use axum::Json;
use serde::Serialize;

use super::counts::CountsJson;
use super::error::ApiError;
use super::params::Params;
use super::state::ApiState;

#[derive(Debug, Serialize)]
pub struct AgentJson {
    /// null for ratings not attributed to any agent.
    pub agent: Option<String>,
    #[serde(flatten)]
    pub counts: CountsJson,
}

#[derive(Debug, Serialize)]
pub struct AgentsJson {
    pub items: Vec<AgentJson>,
}

pub async fn agents(
    State(state): State<ApiState>,
    params: Params,
) -> Result<Json<AgentsJson>, ApiError> {
    let params = params.only(&["queue", "from", "to", "min_responses"])?;
    let filter = params.filter()?;
    let min = params.count("min_responses")?.unwrap_or(0);
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
    Ok(Json(AgentsJson { items }))
}
