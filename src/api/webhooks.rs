//! Admin endpoints for webhooks: the receivers (from the configuration file
//! or added here) and the state of every delivery in the outbox.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::body::SmallBody;
use super::error::{ApiError, ErrorJson};
use super::measurements::rfc3339;
use super::params::{require_json, Params};
use super::schema::DeliveryStatusName;
use super::state::ApiState;
use super::webhook_client;
use crate::model::{webhook_destination, webhook_url};
use crate::store::{Delivery, DeliveryStatus, Webhook};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookJson {
    #[schema(format = "uuid")]
    pub id: String,
    pub url: String,
    /// "config" or "api".
    pub source: String,
    pub active: bool,
    #[schema(format = "date-time")]
    pub created_at: String,
}

impl From<Webhook> for WebhookJson {
    fn from(w: Webhook) -> Self {
        WebhookJson {
            id: w.id.to_string(),
            url: w.url,
            source: w.source,
            active: w.active,
            created_at: rfc3339(w.created_at),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhooksJson {
    pub items: Vec<WebhookJson>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhookJson {
    /// http:// or https:// URL that receives POSTs.
    #[schema(
        pattern = "^https?://(([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?\\.)*[a-zA-Z]([a-zA-Z0-9-]*[a-zA-Z0-9])?|(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3})(:([1-9][0-9]{0,3}|[1-5][0-9]{4}))?(/[A-Za-z0-9._~-]*)*$"
    )]
    pub url: String,
    /// Shared secret for the HMAC-SHA256 signature, at least 16 characters.
    #[schema(min_length = 16)]
    pub secret: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryJson {
    #[schema(format = "uuid")]
    pub webhook_id: String,
    pub url: String,
    pub event_id: i64,
    pub event_type: String,
    #[schema(format = "uuid")]
    pub measurement_id: String,
    /// pending, delivered or failed (given up).
    pub status: String,
    pub attempts: i64,
    #[schema(format = "date-time")]
    pub next_attempt_at: Option<String>,
    #[schema(format = "date-time")]
    pub last_attempt_at: Option<String>,
    /// HTTP status of the last attempt, null when none came back.
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    #[schema(format = "date-time")]
    pub delivered_at: Option<String>,
    #[schema(format = "date-time")]
    pub created_at: String,
}

impl From<Delivery> for DeliveryJson {
    fn from(d: Delivery) -> Self {
        DeliveryJson {
            webhook_id: d.webhook_id.to_string(),
            url: d.url,
            event_id: d.event_id,
            event_type: d.event_kind,
            measurement_id: d.subject_id,
            status: d.status.as_str().to_owned(),
            attempts: d.attempts,
            next_attempt_at: (d.status == DeliveryStatus::Pending)
                .then(|| rfc3339(d.next_attempt_at)),
            last_attempt_at: d.last_attempt_at.map(rfc3339),
            last_status: d.last_status,
            last_error: d.last_error,
            delivered_at: d.delivered_at.map(rfc3339),
            created_at: rfc3339(d.created_at),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveriesJson {
    pub items: Vec<DeliveryJson>,
    /// Pass as `before` for the next (older) page; null on the last page.
    pub next_before: Option<i64>,
}

/// The webhook receivers.
#[utoipa::path(
    get,
    operation_id = "list_webhooks",
    path = "/api/v1/webhooks",
    tag = "webhooks",
    responses(
        (status = 200, description = "Receivers (secrets are never shown)", body = WebhooksJson),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "Bad parameter", body = ErrorJson),
        (status = 401, description = "No or unknown token", body = ErrorJson),
        (status = 403, description = "Needs an admin token", body = ErrorJson),
        (status = 503, description = "Store unavailable", body = ErrorJson),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<ApiState>,
    params: Params,
) -> Result<Json<WebhooksJson>, ApiError> {
    params.only(&[])?;
    let hooks = state.store_call(state.store.list_webhooks()).await?;
    Ok(Json(WebhooksJson {
        items: hooks.into_iter().map(Into::into).collect(),
    }))
}

/// Add a receiver.
#[utoipa::path(
    post,
    operation_id = "create_webhook",
    path = "/api/v1/webhooks",
    tag = "webhooks",
    request_body = NewWebhookJson,
    responses(
        (status = 201, description = "Added; receives every event from now on", body = WebhookJson),
        (status = 400, description = "Bad body, or a URL on an address webhooks are not delivered to (loopback, link-local, private networks unless allowed)", body = ErrorJson),
        (status = 401, description = "No or unknown token", body = ErrorJson),
        (status = 403, description = "Needs an admin token", body = ErrorJson),
        (status = 409, description = "A receiver with this URL exists", body = ErrorJson),
        (status = 415, description = "Body is not application/json", body = ErrorJson),
        (status = 503, description = "Store unavailable", body = ErrorJson),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<ApiState>,
    headers: HeaderMap,
    params: Params,
    SmallBody(body): SmallBody,
) -> Result<Response, ApiError> {
    params.only(&[])?;
    require_json(&headers)?;
    let new: NewWebhookJson = serde_json::from_slice(&body)
        .map_err(|e| ApiError::invalid("body", format!("not a webhook object: {e}")))?;
    let url = new.url.as_str();
    if !webhook_url::is_valid(url) {
        return Err(ApiError::invalid(
            "url",
            "must be an http:// or https:// URL with a host name or IPv4 address and a plain path",
        ));
    }
    refuse_destination(url, state.allow_private_webhooks).await?;
    if new.secret.chars().count() < 16 {
        return Err(ApiError::invalid(
            "secret",
            "must be at least 16 characters",
        ));
    }
    match state
        .store_call(state.store.add_webhook(url, &new.secret))
        .await?
    {
        Some(hook) => Ok((StatusCode::CREATED, Json(WebhookJson::from(hook))).into_response()),
        None => Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            "url: a webhook with this URL exists",
        )),
    }
}

/// A receiver must not be on an address deliveries refuse: an address
/// literal is judged as it is, a name by what it resolves to now (and again
/// at every delivery). A name that does not resolve yet is accepted: its
/// deliveries fail, with the reason, until it does.
async fn refuse_destination(url: &str, allow_private: bool) -> Result<(), ApiError> {
    webhook_destination::check_url_literal(url, allow_private)
        .map_err(|reason| ApiError::invalid("url", reason))?;
    let host = reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned));
    if let Some(host) = host.filter(|h| h.parse::<std::net::IpAddr>().is_err()) {
        if let Err(refused @ webhook_client::ResolveError::Refused(_)) =
            webhook_client::resolve_allowed(&host, allow_private).await
        {
            return Err(ApiError::invalid("url", refused));
        }
    }
    Ok(())
}

/// Remove a receiver; its pending deliveries are given up.
#[utoipa::path(
    delete,
    operation_id = "delete_webhook",
    path = "/api/v1/webhooks/{id}",
    tag = "webhooks",
    params(("id" = String, Path, description = "Webhook id (UUID)")),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "Bad parameter", body = ErrorJson),
        (status = 401, description = "No or unknown token", body = ErrorJson),
        (status = 403, description = "Needs an admin token", body = ErrorJson),
        (status = 404, description = "No active webhook with this id", body = ErrorJson),
        (status = 503, description = "Store unavailable", body = ErrorJson),
    ),
    security(("bearer" = []))
)]
pub async fn remove(
    State(state): State<ApiState>,
    id: Result<Path<String>, PathRejection>,
    params: Params,
) -> Result<StatusCode, ApiError> {
    params.only(&[])?;
    let not_found = || ApiError::not_found("no active webhook with this id");
    let Path(id) = id.map_err(|_| not_found())?;
    let id = Uuid::try_parse(&id).map_err(|_| not_found())?;
    if state
        .store_call(state.store.remove_webhook(&id.to_string()))
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found())
    }
}

/// Delivery state, newest event first.
#[utoipa::path(
    get,
    operation_id = "list_deliveries",
    path = "/api/v1/webhooks/deliveries",
    tag = "webhooks",
    params(
        ("status" = Option<DeliveryStatusName>, Query, description = "pending, delivered or failed"),
        ("webhook" = Option<String>, Query, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", description = "Only this webhook (UUID)"),
        ("before" = Option<i64>, Query, minimum = 0, description = "Only events before this id (next_before of the previous page)"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Page size, default 50"),
    ),
    responses(
        (status = 200, description = "Deliveries", body = DeliveriesJson),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "Bad parameter", body = ErrorJson),
        (status = 401, description = "No or unknown token", body = ErrorJson),
        (status = 403, description = "Needs an admin token", body = ErrorJson),
        (status = 503, description = "Store unavailable", body = ErrorJson),
    ),
    security(("bearer" = []))
)]
pub async fn deliveries(
    State(state): State<ApiState>,
    params: Params,
) -> Result<Json<DeliveriesJson>, ApiError> {
    let params = params.only(&["status", "webhook", "before", "limit"])?;
    let status = params
        .get("status")
        .map(|s| {
            DeliveryStatus::parse(s)
                .ok_or_else(|| ApiError::invalid("status", "must be pending, delivered or failed"))
        })
        .transpose()?;
    let webhook = params
        .get("webhook")
        .map(|w| {
            Uuid::try_parse(w)
                .map(|u| u.to_string())
                .map_err(|_| ApiError::invalid("webhook", "not a webhook id (UUID)"))
        })
        .transpose()?;
    let before = params
        .get("before")
        .map(|b| {
            b.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                ApiError::invalid("before", "not an event id (a non-negative integer)")
            })
        })
        .transpose()?;
    let limit = params.limit()?;
    let mut rows = state
        .store_call(
            state
                .store
                .list_deliveries(status, webhook.as_deref(), before, limit + 1),
        )
        .await?;
    // One extra row tells whether an older page exists. Pages never split
    // one event's deliveries: the next page starts with the first event not
    // shown in full.
    let next_before = if rows.len() > limit as usize {
        let cut = rows[limit as usize].event_id;
        rows.truncate(limit as usize);
        if rows.iter().any(|d| d.event_id != cut) {
            rows.retain(|d| d.event_id != cut);
        }
        Some(cut + 1)
            .filter(|_| rows.iter().all(|d| d.event_id != cut))
            .or(Some(cut))
    } else {
        None
    };
    Ok(Json(DeliveriesJson {
        items: rows.into_iter().map(Into::into).collect(),
        next_before,
    }))
}

/// Try a delivery again now.
#[utoipa::path(
    post,
    operation_id = "retry_delivery",
    path = "/api/v1/webhooks/deliveries/{webhook_id}/{event_id}/retry",
    tag = "webhooks",
    params(
        ("webhook_id" = String, Path, description = "Webhook id (UUID)"),
        ("event_id" = i64, Path, description = "Event id"),
    ),
    responses(
        (status = 204, description = "Queued for an immediate attempt"),
        (status = 400, description = "Bad parameter", body = ErrorJson),
        (status = 401, description = "No or unknown token", body = ErrorJson),
        (status = 403, description = "Needs an admin token", body = ErrorJson),
        (status = 404, description = "No undelivered delivery with these ids", body = ErrorJson),
        (status = 503, description = "Store unavailable", body = ErrorJson),
    ),
    security(("bearer" = []))
)]
pub async fn retry(
    State(state): State<ApiState>,
    ids: Result<Path<(String, String)>, PathRejection>,
    params: Params,
) -> Result<StatusCode, ApiError> {
    params.only(&[])?;
    let not_found = || ApiError::not_found("no undelivered delivery with these ids");
    let Path((wid, eid)) = ids.map_err(|_| not_found())?;
    let wid = Uuid::try_parse(&wid).map_err(|_| not_found())?;
    let eid: i64 = eid.parse().map_err(|_| not_found())?;
    if state
        .store_call(state.store.retry_delivery(&wid.to_string(), eid))
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found())
    }
}
