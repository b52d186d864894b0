//! /api/v1/session: the dashboard's sign-in. A person pastes a token once;
//! it is checked and kept in an HttpOnly, SameSite=Strict cookie that the
//! auth layer accepts like `Authorization: Bearer`. Page scripts never see
//! it (no localStorage), and DELETE signs out. GET tells a page who it is
//! talking as, so it shows admin controls only to admins (the server refuses
//! admin operations to anyone else in any case).

use axum::extract::{Request, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{
    check_origin, credential, token_caller, tokens_exist, Caller, Client, Credential, COOKIE_NAME,
};
use super::body::SmallBody;
use super::error::{ApiError, ErrorJson};
use super::params::require_json;
use super::state::ApiState;
use crate::store::{Actor, Scope};

/// How long a sign-in lasts unless the person signs out (30 days).
const COOKIE_MAX_AGE_SECS: u64 = 30 * 86_400;

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionJson {
    /// What this client may do now: read, admin, or null (nothing: sign in).
    #[schema(pattern = "^(read|admin)$")]
    pub scope: Option<String>,
    /// The token's name; null when not signed in or reading as loopback.
    pub name: Option<String>,
    /// How: `token` (cookie or Authorization header) or `loopback` (no
    /// tokens exist and the client is local); null when nothing is allowed.
    #[schema(pattern = "^(token|loopback)$")]
    pub via: Option<String>,
    /// Whether the token came from the sign-in cookie (sign-out clears it).
    pub cookie: bool,
    /// Whether any token exists; while none does, only loopback clients
    /// read and nobody administers.
    pub tokens_exist: bool,
}

impl SessionJson {
    fn of(caller: Option<&Caller>, cookie: bool, tokens_exist: bool) -> Self {
        SessionJson {
            scope: caller.map(|c| c.scope.as_str().to_owned()),
            name: caller.and_then(|c| c.actor.name().map(str::to_owned)),
            via: caller.map(|c| c.actor.via().to_owned()),
            cookie: cookie && caller.is_some(),
            tokens_exist,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInJson {
    /// An API token (`smileyd token create`), as printed.
    pub token: String,
}

/// Who this client is.
#[utoipa::path(
    get,
    path = "/api/v1/session",
    operation_id = "get_session",
    tag = "session",
    responses(
        (status = 200, description = "What this client may do (scope null: sign in first)", body = SessionJson),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 401, description = "A malformed, unknown or revoked Authorization header", body = ErrorJson),
        (status = 503, description = "Store unavailable", body = ErrorJson),
    ),
)]
pub async fn get(State(state): State<ApiState>, req: Request) -> Result<Response, ApiError> {
    let loopback = Client::of(&req) == Client::Loopback;
    let exist = tokens_exist(&state).await?;
    match credential(req.headers())? {
        Credential::Bearer(token) => {
            let caller = token_caller(&state, &token).await?;
            Ok(Json(SessionJson::of(Some(&caller), false, exist)).into_response())
        }
        Credential::Cookie(token) => match token_caller(&state, &token).await {
            Ok(caller) => Ok(Json(SessionJson::of(Some(&caller), true, exist)).into_response()),
            // A revoked token's cookie is dropped: the page asks again.
            Err(e) if e.status == StatusCode::UNAUTHORIZED => Ok(with_cookie(
                Json(SessionJson::of(None, false, exist)),
                clear_cookie(),
            )),
            Err(e) => Err(e),
        },
        Credential::None => {
            let caller = (!exist && loopback).then_some(Caller {
                scope: Scope::Read,
                actor: Actor::Loopback,
            });
            Ok(Json(SessionJson::of(caller.as_ref(), false, exist)).into_response())
        }
    }
}

/// Sign in: keep a token in the session cookie.
#[utoipa::path(
    post,
    path = "/api/v1/session",
    operation_id = "sign_in",
    tag = "session",
    request_body = SignInJson,
    responses(
        (status = 200, description = "Signed in; Set-Cookie carries the token (HttpOnly, SameSite=Strict)", body = SessionJson),
        (status = 400, description = "Bad body", body = ErrorJson),
        (status = 401, description = "Unknown or revoked token", body = ErrorJson),
        (status = 403, description = "Sent from another site's page", body = ErrorJson),
        (status = 415, description = "Body is not application/json", body = ErrorJson),
        (status = 503, description = "Store unavailable", body = ErrorJson),
    ),
)]
pub async fn sign_in(
    State(state): State<ApiState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    SmallBody(body): SmallBody,
) -> Result<Response, ApiError> {
    check_origin(&headers, &uri, false)?;
    require_json(&headers)?;
    let SignInJson { token } = serde_json::from_slice(&body)
        .map_err(|e| ApiError::invalid("body", format!("not a sign-in object: {e}")))?;
    let token = token.trim();
    // Only what a token can look like goes into a header.
    if token.is_empty()
        || token.len() > 200
        || !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(ApiError::unauthorized(
            "invalid_token",
            "token: not a smileyd token (they look like smileyd_0123…)",
        ));
    }
    let caller = token_caller(&state, token).await?;
    let exist = tokens_exist(&state).await?;
    let secure = over_https(&headers);
    let cookie = format!(
        "{COOKIE_NAME}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={COOKIE_MAX_AGE_SECS}{}",
        if secure { "; Secure" } else { "" }
    );
    tracing::info!(
        token = caller.actor.name().unwrap_or(""),
        "dashboard sign-in"
    );
    Ok(with_cookie(
        Json(SessionJson::of(Some(&caller), true, exist)),
        HeaderValue::from_str(&cookie)
            .map_err(|_| ApiError::unauthorized("invalid_token", "token: not a smileyd token"))?,
    ))
}

/// Sign out: drop the session cookie.
#[utoipa::path(
    delete,
    path = "/api/v1/session",
    operation_id = "sign_out",
    tag = "session",
    responses(
        (status = 204, description = "Signed out; Set-Cookie expires the cookie"),
        (status = 403, description = "Sent from another site's page", body = ErrorJson),
    ),
)]
pub async fn sign_out(headers: HeaderMap, uri: axum::http::Uri) -> Result<Response, ApiError> {
    check_origin(&headers, &uri, false)?;
    Ok(with_cookie(StatusCode::NO_CONTENT, clear_cookie()))
}

fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static("smileyd_token=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

fn with_cookie(resp: impl IntoResponse, cookie: HeaderValue) -> Response {
    let mut r = resp.into_response();
    r.headers_mut().append(SET_COOKIE, cookie);
    r
}

/// Whether a TLS-terminating proxy says the browser used https; the cookie
/// is then marked Secure. (Trusting this only ever makes the cookie
/// stricter.)
fn over_https(headers: &HeaderMap) -> bool {
    let value = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_ascii_lowercase)
    };
    value("x-forwarded-proto").is_some_and(|v| v.trim() == "https")
        || value("forwarded").is_some_and(|v| v.contains("proto=https"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cleared_cookie_is_the_sign_in_cookie() {
        let v = clear_cookie();
        let v = v.to_str().unwrap_or("");
        assert!(v.starts_with(&format!("{COOKIE_NAME}=;")), "{v}");
        assert!(v.contains("Max-Age=0"));
    }
}
