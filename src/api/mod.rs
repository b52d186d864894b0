//! The HTTP API: JSON figures over the store, comment audio, live events,
//! webhook administration, metrics and the OpenAPI document.
//!
//! Handlers stay thin (parse → store → JSON). Every response, errors
//! included, is JSON (audio, metrics and the event stream aside); store
//! calls are bounded by a timeout so a stuck database yields a 503, never a
//! hung request. Route layers check tokens and scopes; one outer layer tags
//! every GET with an ETag.

mod agents;
mod auth;
mod body;
mod buckets;
mod comment;
mod counts;
mod dashboard;
mod dispatch;
mod error;
mod etag;
mod event_json;
mod events;
mod export;
mod fallback;
mod follow_up;
mod health;
mod measurements;
mod metrics;
mod openapi;
mod outage;
mod params;
mod prompts;
mod responses;
mod satisfaction;
mod schema;
mod serve;
mod session;
pub mod signature;
mod state;
mod survey;
mod timeseries;
mod webhook_client;
mod webhooks;

#[cfg(test)]
mod tests;

use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, post, put};
use axum::Router;

pub use dispatch::{spawn_dispatcher, DispatchSettings};
pub use error::ApiError;
pub use openapi::ApiDoc;
pub use params::{DEFAULT_LIMIT, MAX_LIMIT};
pub use serve::serve;
pub use state::{ApiState, MetricsAccess, SurveyCatalog, SurveysHandle, DEFAULT_STORE_TIMEOUT};

/// All routes, ready to be served (with connect info, for the loopback rule).
pub fn router(state: ApiState) -> Router {
    let read = Router::new()
        .route("/api/v1/satisfaction", get(satisfaction::satisfaction))
        .route("/api/v1/agents", get(agents::agents))
        .route("/api/v1/queues", get(agents::queues))
        .route("/api/v1/surveys", get(survey::surveys))
        .route("/api/v1/timeseries", get(timeseries::timeseries))
        .route("/api/v1/responses", get(responses::responses))
        .route("/api/v1/measurements", get(measurements::list))
        .route("/api/v1/measurements/{id}", get(measurements::get))
        .route("/api/v1/measurements/{id}/comment", get(comment::get))
        .route(
            "/api/v1/measurements/{id}/follow-up",
            put(follow_up::put).delete(follow_up::delete),
        )
        .route("/api/v1/events", get(events::events))
        .route_layer(from_fn_with_state(state.clone(), auth::read));
    let admin = Router::new()
        .route(
            "/api/v1/measurements/{id}/comment",
            axum::routing::delete(comment::delete),
        )
        .route(
            "/api/v1/webhooks",
            get(webhooks::list).post(webhooks::create),
        )
        .route(
            "/api/v1/webhooks/{id}",
            axum::routing::delete(webhooks::remove),
        )
        .route("/api/v1/webhooks/deliveries", get(webhooks::deliveries))
        .route(
            "/api/v1/webhooks/deliveries/{webhook_id}/{event_id}/retry",
            post(webhooks::retry),
        )
        .route_layer(from_fn_with_state(state.clone(), auth::admin));
    let metrics = Router::new()
        .route("/metrics", get(metrics::metrics))
        .route_layer(from_fn_with_state(state.clone(), auth::metrics));
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/api/openapi.json", get(openapi::openapi_json))
        .route(
            "/api/v1/session",
            get(session::get)
                .post(session::sign_in)
                .delete(session::sign_out),
        )
        .merge(read)
        .merge(admin)
        .merge(metrics)
        .merge(prompts::routes(state.clone()))
        .merge(dashboard::routes())
        .fallback(fallback::not_found)
        .method_not_allowed_fallback(fallback::method_not_allowed)
        .layer(from_fn(etag::fill))
        .with_state(state)
}
