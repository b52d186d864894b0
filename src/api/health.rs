//! GET /healthz: for load balancers and supervisors. Says "ok" only when the
//! store answers and the daemon is not shutting down.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::state::ApiState;

/// How long the health check waits for the store: a probe should learn
/// quickly that the database is away (an unreachable server otherwise costs
/// the pool's whole acquire timeout).
const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// Liveness and readiness; open to everyone.
#[utoipa::path(
    get,
    operation_id = "healthz",
    path = "/healthz",
    tag = "operations",
    responses(
        (status = 200, description = "Store answers, not shutting down: {\"status\":\"ok\"}", body = Object),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 503, description = "Store unreachable (degraded) or shutting down (draining)", body = Object),
    )
)]
pub async fn healthz(State(state): State<ApiState>) -> (StatusCode, Json<Value>) {
    if state.is_draining() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "draining" })),
        );
    }
    let budget = state.store_timeout.min(PING_TIMEOUT);
    let state = state.with_store_timeout(budget);
    match state.store_call(state.store.ping()).await {
        Ok(()) => (StatusCode::OK, Json(json!({ "status": "ok" }))),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "degraded", "store": e.message })),
        ),
    }
}
