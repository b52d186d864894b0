//! Who may do what. Bearer tokens carry a scope (read or admin; admin
//! includes read). The dashboard's sign-in keeps the same token in an
//! HttpOnly cookie, which is accepted like the header. While no token
//! exists, read requests are answered for loopback clients only and admin
//! requests are refused, so a first run is both simple and safe. A request
//! a reverse proxy forwarded is not a loopback client, even when the proxy
//! connects from loopback.
//!
//! Requests that change something and carry a cookie must come from a page
//! of this server (their `Origin` names it): a browser attaches cookies to
//! requests other sites make it send, and SameSite is one defence, this
//! check the second. A request whose `Origin` names another site is refused
//! however it is authorised.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{AUTHORIZATION, COOKIE, HOST, ORIGIN};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::state::{ApiState, MetricsAccess};
use crate::store::{Actor, Scope};

/// The dashboard's sign-in cookie; its value is the API token itself.
pub const COOKIE_NAME: &str = "smileyd_token";

/// Who is asking, as the auth layer found out; handlers that record who did
/// something read it from the request's extensions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub scope: Scope,
    pub actor: Actor,
}

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

async fn guard(state: &ApiState, mut req: Request, next: Next, needed: Scope) -> Response {
    // Taken out before awaiting: a request (its body) cannot be shared across threads.
    let credential = credential(req.headers());
    let client = Client::of(&req);
    if changes_state(req.method()) {
        let by_cookie = matches!(credential, Ok(Credential::Cookie(_)));
        if let Err(e) = check_origin(req.headers(), req.uri(), by_cookie) {
            return e.into_response();
        }
    }
    match authorize(state, credential, client, needed).await {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

/// Where a request's token came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    Bearer(String),
    Cookie(String),
    None,
}

/// The token of `Authorization: Bearer …`, else of the sign-in cookie. A
/// malformed Authorization header is an error even with a cookie.
pub fn credential(headers: &HeaderMap) -> Result<Credential, ApiError> {
    if let Some(value) = headers.get(AUTHORIZATION) {
        let bad =
            || ApiError::unauthorized("invalid_token", "Authorization: expected 'Bearer <token>'");
        let value = value.to_str().map_err(|_| bad())?;
        let (scheme, token) = value.trim().split_once(' ').ok_or_else(bad)?;
        let token = token.trim();
        if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
            return Err(bad());
        }
        return Ok(Credential::Bearer(token.to_owned()));
    }
    Ok(cookie(headers, COOKIE_NAME)
        .filter(|t| !t.is_empty())
        .map_or(Credential::None, Credential::Cookie))
}

/// The value of cookie `name` (RFC 6265 §5.4: `a=b; c=d`, in any of the
/// Cookie headers).
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().trim_matches('"').to_owned())
}

/// Where a request without a token comes from, for the no-token rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Client {
    Loopback,
    /// Forwarded by a proxy (RFC 7239 Forwarded, X-Forwarded-For, X-Real-IP):
    /// the real client is elsewhere, whatever address the proxy connects from.
    Proxied,
    Remote,
}

/// Headers a reverse proxy adds to say who the real client is.
const PROXY_HEADERS: [&str; 3] = ["forwarded", "x-forwarded-for", "x-real-ip"];

impl Client {
    pub fn of(req: &Request) -> Client {
        if PROXY_HEADERS.iter().any(|h| req.headers().contains_key(*h)) {
            Client::Proxied
        } else if from_loopback(req) {
            Client::Loopback
        } else {
            Client::Remote
        }
    }
}

fn from_loopback(req: &Request) -> bool {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|ConnectInfo(addr)| addr.ip().to_canonical().is_loopback())
}

/// Methods that change something (RFC 9110 §9.2.1: all but the safe ones).
pub fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// RFC 6454 §7: a browser names the page's origin on requests that change
/// something. It must be this server (scheme, host and port as in Host);
/// cookie-authorised ones must carry it.
pub fn check_origin(
    headers: &HeaderMap,
    uri: &axum::http::Uri,
    by_cookie: bool,
) -> Result<(), ApiError> {
    let Some(origin) = headers.get(ORIGIN) else {
        return if by_cookie {
            Err(ApiError::forbidden(
                "origin_required",
                "Origin: a request signed in by cookie that changes something must say \
                 which page sent it",
            ))
        } else {
            Ok(())
        };
    };
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| uri.authority().map(|a| a.as_str().to_owned()));
    let same = origin.to_str().ok().and_then(|o| {
        let authority = o
            .strip_prefix("http://")
            .or_else(|| o.strip_prefix("https://"))?;
        Some(host.as_deref()?.eq_ignore_ascii_case(authority))
    });
    if same == Some(true) {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "cross_origin",
            format!(
                "Origin: {} is not this server; changes are taken only from its own pages",
                origin.to_str().unwrap_or("(unreadable)")
            ),
        ))
    }
}

/// Whether any live token exists; without one the API is loopback-only.
pub async fn tokens_exist(state: &ApiState) -> Result<bool, ApiError> {
    state.store_call(state.store.any_tokens()).await
}

/// The scope and name of a live token; 401 for an unknown or revoked one.
pub async fn token_caller(state: &ApiState, token: &str) -> Result<Caller, ApiError> {
    match state.store_call(state.store.token_owner(token)).await? {
        Some((scope, name)) => Ok(Caller {
            scope,
            actor: Actor::Token(name),
        }),
        None => Err(ApiError::unauthorized(
            "invalid_token",
            "unknown or revoked token",
        )),
    }
}

async fn authorize(
    state: &ApiState,
    credential: Result<Credential, ApiError>,
    client: Client,
    needed: Scope,
) -> Result<Caller, ApiError> {
    if let Credential::Bearer(token) | Credential::Cookie(token) = credential? {
        let caller = token_caller(state, &token).await?;
        return if caller.scope.allows(needed) {
            Ok(caller)
        } else {
            Err(ApiError::forbidden(
                "insufficient_scope",
                format!("this needs a token with scope {}", needed.as_str()),
            ))
        };
    }
    if tokens_exist(state).await? {
        return Err(ApiError::unauthorized(
            "missing_token",
            "this needs 'Authorization: Bearer <token>'",
        ));
    }
    match needed {
        Scope::Read if client == Client::Loopback => Ok(Caller {
            scope: Scope::Read,
            actor: Actor::Loopback,
        }),
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn cookie_or_bearer() {
        let h = headers(&[("cookie", "a=1; smileyd_token=smileyd_abc; b=2")]);
        assert_eq!(
            credential(&h).unwrap(),
            Credential::Cookie("smileyd_abc".into())
        );
        let h = headers(&[("cookie", "smileyd_token=c"), ("authorization", "Bearer b")]);
        assert_eq!(credential(&h).unwrap(), Credential::Bearer("b".into()));
        let h = headers(&[("cookie", "other=1"), ("cookie", "smileyd_token=")]);
        assert_eq!(credential(&h).unwrap(), Credential::None);
        let h = headers(&[("cookie", "smileyd_token=c"), ("authorization", "Basic x")]);
        assert!(credential(&h).is_err());
    }

    #[test]
    fn origin_must_be_this_server() {
        let uri: axum::http::Uri = "/api/v1/x".parse().unwrap();
        let ok = headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080"),
        ]);
        assert!(check_origin(&ok, &uri, true).is_ok());
        let other = headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://evil.example"),
        ]);
        assert_eq!(
            check_origin(&other, &uri, false).unwrap_err().code,
            "cross_origin"
        );
        let port = headers(&[("host", "127.0.0.1:8080"), ("origin", "http://127.0.0.1:9")]);
        assert!(check_origin(&port, &uri, true).is_err());
        let null = headers(&[("host", "127.0.0.1:8080"), ("origin", "null")]);
        assert!(check_origin(&null, &uri, false).is_err());
        let none = headers(&[("host", "127.0.0.1:8080")]);
        assert!(check_origin(&none, &uri, false).is_ok(), "curl sends none");
        assert_eq!(
            check_origin(&none, &uri, true).unwrap_err().code,
            "origin_required"
        );
    }
}
