//! GET /api/v1/satisfaction: happy/sad figures for a slice, and with an agent
//! given, the whole group's over the same window for comparison.

use axum::extract::State;
use axum::Json;
use serde::Serialize;

use super::counts::CountsJson;
use super::error::ApiError;
use super::params::Params;
use super::state::ApiState;
use crate::store::Filter;

#[derive(Debug, Serialize)]
pub struct SatisfactionJson {
    #[serde(flatten)]
    pub counts: CountsJson,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<CountsJson>,
}

pub async fn satisfaction(
    State(state): State<ApiState>,
    params: Params,
) -> Result<Json<SatisfactionJson>, ApiError> {
    let filter = params.only(&["agent", "queue", "from", "to"])?.filter()?;
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
    Ok(Json(SatisfactionJson {
        counts: counts.into(),
        group: group.map(Into::into),
    }))
}
