//! GET /api/v1/responses: how many surveyed callers answered, and how the
//! others' calls ended.

use axum::extract::State;
use axum::Json;
use serde::Serialize;

use super::error::ApiError;
use super::params::Params;
use super::state::ApiState;

#[derive(Debug, Serialize)]
pub struct ResponsesJson {
    pub offered: i64,
    pub rated: i64,
    pub no_input: i64,
    pub hung_up: i64,
    pub failed: i64,
    /// rated / offered, 0.0–1.0; null when nothing was offered.
    pub response_rate: Option<f64>,
}

pub async fn responses(
    State(state): State<ApiState>,
    params: Params,
) -> Result<Json<ResponsesJson>, ApiError> {
    let filter = params.only(&["agent", "queue", "from", "to"])?.filter()?;
    let r = state.store_call(state.store.responses(&filter)).await?;
    Ok(Json(ResponsesJson {
        offered: r.offered,
        rated: r.rated,
        no_input: r.no_input,
        hung_up: r.hung_up,
        failed: r.failed,
        response_rate: r.response_rate(),
    }))
}
