//! Who may do what. Bearer tokens carry a scope (read or admin; admin
//! includes read). While no token exists, read requests are answered for
//! loopback clients only and admin requests are refused, so a first run is
//! both simple and safe. A request a reverse proxy forwarded is not a
//! loopback client, even when the proxy connects from loopback.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::state::{ApiState, MetricsAccess};
use crate::store::Scope;

/// Route layer for read endpoints.
pub async fn read(State(state): State<ApiState>, req: Request, next: Next) -> Response {
    guard(&state, req, next, Scope::Read).await
}

/// Route layer for admin endpoints.
pub async fn admin(State(state): State<ApiState>, req: Request, next: Next) -> Response {
    guard(&state, req, next, Scope::Admin).await
}

/// Route layer for /metrics, as configured.
pub async fn metrics(State(state): State<ApiState>, req: Request, next: Next) -> Response {
    match state.metrics {
        MetricsAccess::Open => next.run(req).await,
        MetricsAccess::Off => ApiError::not_found("metrics are turned off").into_response(),
        MetricsAccess::Read => guard(&state, req, next, Scope::Read).await,
    }
}

async fn guard(state: &ApiState, req: Request, next: Next, needed: Scope) -> Response {
    // Taken out before awaiting: a request (its body) cannot be shared across threads.
    let token = bearer(&req).map(|t| t.map(str::to_owned));
    let client = if proxied(&req) {
        Client::Proxied
    } else if from_loopback(&req) {
        Client::Loopback
    } else {
        Client::Remote
    };
    match authorize(state, token, client, needed).await {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

/// The token in `Authorization: Bearer …`, if the header is there.
fn bearer(req: &Request) -> Result<Option<&str>, ApiError> {
    let Some(value) = req.headers().get(AUTHORIZATION) else {
        return Ok(None);
    };
    let bad =
        || ApiError::unauthorized("invalid_token", "Authorization: expected 'Bearer <token>'");
    let value = value.to_str().map_err(|_| bad())?;
    let (scheme, token) = value.trim().split_once(' ').ok_or_else(bad)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(bad());
    }
    Ok(Some(token))
}

/// Where a request without a token comes from, for the no-token rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Client {
    Loopback,
    /// Forwarded by a proxy (RFC 7239 Forwarded, X-Forwarded-For, X-Real-IP):
    /// the real client is elsewhere, whatever address the proxy connects from.
    Proxied,
    Remote,
}

/// Headers a reverse proxy adds to say who the real client is.
const PROXY_HEADERS: [&str; 3] = ["forwarded", "x-forwarded-for", "x-real-ip"];

fn proxied(req: &Request) -> bool {
    PROXY_HEADERS.iter().any(|h| req.headers().contains_key(*h))
}

fn from_loopback(req: &Request) -> bool {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|ConnectInfo(addr)| addr.ip().to_canonical().is_loopback())
}

async fn authorize(
    state: &ApiState,
    token: Result<Option<String>, ApiError>,
    client: Client,
    needed: Scope,
) -> Result<(), ApiError> {
    if let Some(token) = token? {
        return match state.store_call(state.store.token_scope(&token)).await? {
            Some(scope) if scope.allows(needed) => Ok(()),
            Some(_) => Err(ApiError::forbidden(
                "insufficient_scope",
                format!("this needs a token with scope {}", needed.as_str()),
            )),
            None => Err(ApiError::unauthorized(
                "invalid_token",
                "unknown or revoked token",
            )),
        };
    }
    if state.store_call(state.store.any_tokens()).await? {
        return Err(ApiError::unauthorized(
            "missing_token",
            "this needs 'Authorization: Bearer <token>'",
        ));
    }
    match needed {
        Scope::Read if client == Client::Loopback => Ok(()),
        Scope::Read if client == Client::Proxied => Err(ApiError::unauthorized(
            "token_required",
            "this request came through a proxy (Forwarded, X-Forwarded-For or X-Real-IP), \
             so it is not a loopback client and needs a token; \
             create one with `smileyd token create --scope read --name NAME`",
        )),
        Scope::Read => Err(ApiError::forbidden(
            "loopback_only",
            "no API tokens exist yet, so only loopback clients may read; \
             create one with `smileyd token create --scope read --name NAME`",
        )),
        Scope::Admin => Err(ApiError::forbidden(
            "no_tokens",
            "admin operations need a token; \
             create one with `smileyd token create --scope admin --name NAME`",
        )),
    }
}
