//! The OpenAPI 3 document, generated from the handlers' annotations, so it
//! cannot drift from the code. Served at /api/openapi.json.

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::IntoResponse;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    agents, comment, events, follow_up, health, measurements, metrics, prompts, responses,
    satisfaction, session, survey, timeseries, webhooks,
};

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        // The dashboard's sign-in cookie carries the same token and is
        // accepted wherever the Bearer header is (described, not listed per
        // operation: fuzzers then send both).
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                super::auth::COOKIE_NAME,
                "The token, as set by POST /api/v1/session; accepted by every operation that \
                 takes the bearer token, with the same scopes",
            ))),
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
                       reads are answered for loopback clients only. The dashboard's sign-in cookie \
                       (POST /api/v1/session) is accepted like the token; a request that changes \
                       something is refused when its Origin names another site, and when it is \
                       signed in by the cookie, also without an Origin. The lists (measurements, \
                       agents, queues, timeseries) are also served as text/csv (format=csv or \
                       Accept: text/csv)."
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
        follow_up::put,
        follow_up::delete,
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
        session::get,
        session::sign_in,
        session::sign_out,
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
