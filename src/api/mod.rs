//! The HTTP API: read-only JSON figures over the store.
//!
//! Handlers stay thin (parse → store → JSON). Every response, errors
//! included, is JSON; store calls are bounded by a timeout so a stuck
//! database yields a 503, never a hung request.

mod agents;
mod counts;
mod error;
mod fallback;
mod health;
mod measurements;
mod params;
mod responses;
mod satisfaction;
mod state;

#[cfg(test)]
mod tests;

use axum::routing::get;
use axum::Router;

pub use error::ApiError;
pub use params::{DEFAULT_LIMIT, MAX_LIMIT};
pub use state::{ApiState, DEFAULT_STORE_TIMEOUT};

/// All routes, ready to be served.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/api/v1/satisfaction", get(satisfaction::satisfaction))
        .route("/api/v1/agents", get(agents::agents))
        .route("/api/v1/responses", get(responses::responses))
        .route("/api/v1/measurements", get(measurements::list))
        .route("/api/v1/measurements/{id}", get(measurements::get))
        .fallback(fallback::not_found)
        .method_not_allowed_fallback(fallback::method_not_allowed)
        .with_state(state)
}
