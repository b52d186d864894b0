//! The OpenAPI 3 document, generated from the handlers' annotations, so it
//! cannot drift from the code. Served at /api/openapi.json.

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::IntoResponse;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    agents, comment, events, health, measurements, metrics, prompts, responses, satisfaction,
    survey, timeseries, webhooks,
};

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "smileyd",
        description = "Post-call satisfaction figures. Every error body is {\"error\":{\"code\",\"message\"}}. \
                       Every GET has an ETag; send If-None-Match to get a bodiless 304. \
                       Tokens: `smileyd token create --scope read|admin --name NAME`; without any token, \
                       reads are answered for loopback clients only."
    ),
    paths(
        health::healthz,
        survey::surveys,
        satisfaction::satisfaction,
        agents::agents,
        agents::queues,
        timeseries::timeseries,
        responses::responses,
        measurements::list,
        measurements::get,
        comment::get,
        comment::delete,
        events::events,
        webhooks::list,
        webhooks::create,
        webhooks::remove,
        webhooks::deliveries,
        webhooks::retry,
        prompts::list,
        prompts::get_shared,
        prompts::get_survey,
        prompts::put_shared,
        prompts::put_survey,
        prompts::delete_shared,
        prompts::delete_survey,
        metrics::metrics,
        openapi_json,
    ),
    // Types only parameters refer to are not collected from the paths.
    components(schemas(
        super::error::ErrorJson,
        super::schema::PromptNameName,
        super::schema::DeliveryStatusName
    )),
    modifiers(&Bearer)
)]
pub struct ApiDoc;

/// This document.
#[utoipa::path(
    get,
    operation_id = "openapi_document",
    path = "/api/openapi.json",
    tag = "operations",
    responses(
        (status = 200, description = "OpenAPI 3 document", content_type = "application/json", body = Object),
        (status = 304, description = "Not modified (If-None-Match)"),
    )
)]
pub async fn openapi_json() -> impl IntoResponse {
    let body = ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|_| "{}".into());
    (
        [
            (CONTENT_TYPE, "application/json"),
            (CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
}
