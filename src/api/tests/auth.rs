//! Tokens and scopes, and the loopback-only default.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use reqwest::{Method, StatusCode};

use super::{serve, serve_with, start, Server};
use crate::api::{ApiState, MetricsAccess};
use crate::store::Scope;

/// A server that sees every client as 192.0.2.7 (TEST-NET-1), as if remote.
async fn remote() -> Server {
    serve_with(ApiState::new, |r| {
        r.layer(axum::Extension(ConnectInfo(SocketAddr::from((
            [192, 0, 2, 7],
            40000,
        )))))
    })
    .await
}

#[tokio::test]
async fn without_tokens_reads_are_loopback_only() {
    let local = start().await;
    assert_eq!(local.get("/api/v1/satisfaction").await.0, StatusCode::OK);

    let s = remote().await;
    for path in [
        "/api/v1/satisfaction",
        "/api/v1/agents",
        "/api/v1/measurements",
        "/api/v1/events",
        "/metrics",
    ] {
        let (st, body) = s.get(path).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(body["error"]["code"], "loopback_only", "{path}");
        assert!(body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("smileyd token create"));
    }
    // Health and the API description stay open.
    assert_eq!(s.get("/healthz").await.0, StatusCode::OK);
    assert_eq!(
        s.raw(Method::GET, "/api/openapi.json", &[]).await.status(),
        StatusCode::OK
    );
    // Admin needs a token even from loopback.
    let (st, body) = local.get("/api/v1/webhooks").await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "no_tokens");

    // With a token, a remote client reads.
    let (_, read) = s
        .store()
        .create_token("wallboard", Scope::Read)
        .await
        .expect("token");
    assert_eq!(
        s.get_as("/api/v1/satisfaction", &read).await.0,
        StatusCode::OK
    );
}

/// A reverse proxy on the same host connects from loopback; the headers it
/// adds say the real client is elsewhere, so without tokens it gets 401
/// asking for a token, never the loopback clients' free reads.
#[tokio::test]
async fn without_tokens_proxied_requests_are_not_loopback() {
    let s = start().await;
    for (header, value) in [
        ("forwarded", "for=192.0.2.60;proto=https;by=203.0.113.43"),
        ("x-forwarded-for", "192.0.2.60"),
        ("x-real-ip", "192.0.2.60"),
    ] {
        for path in ["/api/v1/satisfaction", "/api/v1/measurements", "/metrics"] {
            let r = s.raw(Method::GET, path, &[(header, value)]).await;
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{header} {path}");
            assert!(
                r.headers().contains_key("www-authenticate"),
                "{header} {path}"
            );
            let body: serde_json::Value = r.json().await.expect("json");
            assert_eq!(body["error"]["code"], "token_required", "{header} {path}");
            let msg = body["error"]["message"].as_str().unwrap_or("");
            assert!(
                msg.contains("smileyd token create") && msg.contains("proxy"),
                "{msg}"
            );
        }
    }
    // The same client without the headers reads, and with a token the
    // proxied request reads too.
    assert_eq!(s.get("/api/v1/satisfaction").await.0, StatusCode::OK);
    let (_, read) = s
        .store()
        .create_token("proxy", Scope::Read)
        .await
        .expect("token");
    let auth = format!("Bearer {read}");
    let r = s
        .raw(
            Method::GET,
            "/api/v1/satisfaction",
            &[("x-forwarded-for", "192.0.2.60"), ("authorization", &auth)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn scopes_401_and_403() {
    let s = start().await;
    let (_, read) = s
        .store()
        .create_token("wallboard", Scope::Read)
        .await
        .expect("token");
    let (_, admin) = s
        .store()
        .create_token("ops", Scope::Admin)
        .await
        .expect("token");

    // Once a token exists, loopback needs one too.
    let r = s.raw(Method::GET, "/api/v1/satisfaction", &[]).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().get("www-authenticate").is_some());
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["error"]["code"], "missing_token");
    for bad in ["Bearer nope", "Basic dXNlcjpwYXNz", "Bearer", "bearer  "] {
        let r = s
            .raw(
                Method::GET,
                "/api/v1/satisfaction",
                &[("authorization", bad)],
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{bad}");
    }

    assert_eq!(
        s.get_as("/api/v1/satisfaction", &read).await.0,
        StatusCode::OK
    );
    assert_eq!(
        s.get_as("/api/v1/satisfaction", &admin).await.0,
        StatusCode::OK
    );
    let (st, body) = s.get_as("/api/v1/webhooks/deliveries", &read).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "insufficient_scope");
    assert_eq!(
        s.get_as("/api/v1/webhooks/deliveries", &admin).await.0,
        StatusCode::OK
    );
    let auth = format!("Bearer {read}");
    let path = format!("/api/v1/measurements/{}/comment", uuid::Uuid::now_v7());
    assert_eq!(
        s.raw(Method::DELETE, &path, &[("authorization", &auth)])
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let auth = format!("Bearer {admin}");
    assert_eq!(
        s.raw(Method::DELETE, &path, &[("authorization", &auth)])
            .await
            .status(),
        StatusCode::NOT_FOUND
    );

    // Revoked tokens stop working; /healthz never needs one.
    assert_eq!(
        s.store().revoke_token("wallboard").await.expect("revoke"),
        1
    );
    assert_eq!(
        s.get_as("/api/v1/satisfaction", &read).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(s.get("/healthz").await.0, StatusCode::OK);
    let listed = s.store().list_tokens().await.expect("list");
    assert_eq!(listed.len(), 2);
    assert!(listed
        .iter()
        .any(|t| t.name == "wallboard" && t.revoked_at.is_some()));
    // Only the hash is stored.
    let stored: Vec<String> = sqlx::query_scalar("SELECT hash FROM api_tokens")
        .fetch_all(s.store().pool())
        .await
        .expect("hashes");
    assert!(stored
        .iter()
        .all(|h| h.len() == 64 && *h != read && *h != admin));
}

#[tokio::test]
async fn metrics_access_is_configurable() {
    let open = serve(|st| ApiState::new(st).with_metrics(MetricsAccess::Open)).await;
    open.store()
        .create_token("x", Scope::Read)
        .await
        .expect("token");
    let r = open.raw(Method::GET, "/metrics", &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap_or("")
        .starts_with("text/plain"));

    let off = serve(|st| ApiState::new(st).with_metrics(MetricsAccess::Off)).await;
    assert_eq!(
        off.raw(Method::GET, "/metrics", &[]).await.status(),
        StatusCode::NOT_FOUND
    );

    // Wired as the daemon wires them: the store times its writes into the
    // registry /metrics shows.
    let metrics = crate::metrics::Metrics::new();
    let read = serve(|st| {
        st.record_metrics(metrics.db_write.clone());
        ApiState::new(st).with_metrics_registry(metrics.registry.clone())
    })
    .await;
    assert_eq!(
        read.raw(Method::GET, "/metrics", &[]).await.status(),
        StatusCode::OK
    );
    let (_, t) = read
        .store()
        .create_token("x", Scope::Read)
        .await
        .expect("token");
    assert_eq!(
        read.raw(Method::GET, "/metrics", &[]).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let auth = format!("Bearer {t}");
    let r = read
        .raw(Method::GET, "/metrics", &[("authorization", &auth)])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    read.store()
        .insert_measurement(&crate::store::tests::rating(
            Some("a"),
            crate::model::Rating::Happy,
            crate::store::tests::T0,
        ))
        .await
        .expect("insert");
    let text = read
        .raw(Method::GET, "/metrics", &[("authorization", &auth)])
        .await
        .text()
        .await
        .expect("text");
    for name in [
        "smileyd_active_calls ",
        "smileyd_calls_total{outcome=\"rated\"}",
        "smileyd_ratings_total{rating=\"happy\"}",
        "smileyd_sip_dropped_total",
        "smileyd_rtp_packets_total{direction=\"in\"}",
        "smileyd_dtmf_digits_total{source=\"info\"}",
        "smileyd_dtmf_digits_total{source=\"inband\"}",
        "smileyd_db_write_seconds_bucket{le=\"+Inf\"}",
        "smileyd_db_write_seconds_count",
    ] {
        assert!(text.contains(name), "{name} missing from\n{text}");
    }
    let count: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("smileyd_db_write_seconds_count "))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(count >= 1);
}
