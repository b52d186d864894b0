//! The dashboard's sign-in: a token kept in an HttpOnly, SameSite=Strict
//! cookie, accepted like a Bearer header, with the Origin rule for changes.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::follow_up::send;
use super::{serve_with, start};
use crate::api::ApiState;
use crate::model::Rating;
use crate::store::tests::{rating, T0};
use crate::store::Scope;

#[tokio::test]
async fn sign_in_cookie_works_like_the_header() {
    let s = start().await;
    let (_, read) = s
        .store()
        .create_token("lead-anna", Scope::Read)
        .await
        .expect("token");
    let (_, admin) = s
        .store()
        .create_token("ops", Scope::Admin)
        .await
        .expect("token");
    let origin = s.base.clone();

    // Not signed in: the page is told to ask for a token.
    let (st, who) = s.get("/api/v1/session").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        who,
        json!({"scope": null, "name": null, "via": null, "cookie": false, "tokens_exist": true})
    );

    // Signing in sets the cookie: HttpOnly, SameSite=Strict, the whole site.
    let r = s
        .client
        .post(format!("{}/api/v1/session", s.base))
        .header("origin", &origin)
        .json(&json!({"token": format!(" {admin}\n")}))
        .send()
        .await
        .expect("sign in");
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = r.headers()["set-cookie"].to_str().unwrap_or("").to_owned();
    assert!(
        cookie.starts_with(&format!("smileyd_token={admin};")),
        "{cookie}"
    );
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="] {
        assert!(cookie.contains(attr), "{attr} missing: {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain http: {cookie}");
    let who: Value = r.json().await.expect("json");
    assert_eq!(
        (who["scope"].as_str(), who["name"].as_str()),
        (Some("admin"), Some("ops"))
    );
    assert_eq!(who["cookie"], true);
    let r = s
        .client
        .post(format!("{}/api/v1/session", s.base))
        .header("x-forwarded-proto", "https")
        .json(&json!({"token": admin}))
        .send()
        .await
        .expect("sign in behind TLS");
    assert!(r.headers()["set-cookie"]
        .to_str()
        .unwrap_or("")
        .contains("; Secure"));

    // The cookie reads and administers like the header.
    let read_cookie = format!("smileyd_token={read}");
    let admin_cookie = format!("theme=dark; smileyd_token={admin}");
    let (st, _) = send(
        &s,
        Method::GET,
        "/api/v1/satisfaction",
        &[("cookie", &read_cookie)],
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let (_, who) = send(
        &s,
        Method::GET,
        "/api/v1/session",
        &[("cookie", &read_cookie)],
        None,
    )
    .await;
    assert_eq!(
        who,
        json!({"scope": "read", "name": "lead-anna", "via": "token", "cookie": true, "tokens_exist": true})
    );
    let (st, e) = send(
        &s,
        Method::GET,
        "/api/v1/webhooks",
        &[("cookie", &read_cookie)],
        None,
    )
    .await;
    assert_eq!(
        st,
        StatusCode::FORBIDDEN,
        "a read cookie is refused admin work: {e}"
    );
    assert_eq!(e["error"]["code"], "insufficient_scope");
    let (st, _) = send(
        &s,
        Method::GET,
        "/api/v1/webhooks",
        &[("cookie", &admin_cookie)],
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK);

    // Changes by cookie need this server's Origin.
    let comment = format!("/api/v1/measurements/{}/comment", uuid::Uuid::now_v7());
    let (st, e) = send(
        &s,
        Method::DELETE,
        &comment,
        &[("cookie", &admin_cookie)],
        None,
    )
    .await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("origin_required"))
    );
    let (st, e) = send(
        &s,
        Method::DELETE,
        &comment,
        &[("cookie", &admin_cookie), ("origin", "http://127.0.0.1:1")],
        None,
    )
    .await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("cross_origin"))
    );
    let (st, _) = send(
        &s,
        Method::DELETE,
        &comment,
        &[("cookie", &admin_cookie), ("origin", &origin)],
        None,
    )
    .await;
    assert_eq!(
        st,
        StatusCode::NOT_FOUND,
        "allowed through, and no such comment"
    );
    let (st, e) = send(
        &s,
        Method::DELETE,
        &comment,
        &[("cookie", &read_cookie), ("origin", &origin)],
        None,
    )
    .await;
    assert_eq!(
        st,
        StatusCode::FORBIDDEN,
        "read cookie, admin operation: {e}"
    );
    // A Bearer client (curl) sends no Origin and needs none.
    let bearer = format!("Bearer {admin}");
    let (st, _) = send(
        &s,
        Method::DELETE,
        &comment,
        &[("authorization", &bearer)],
        None,
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    // A follow-up by cookie records the cookie's token.
    let m = rating(Some("ann"), Rating::Sad, T0);
    s.store().insert_measurement(&m).await.expect("insert");
    let (st, f) = send(
        &s,
        Method::PUT,
        &format!("/api/v1/measurements/{}/follow-up", m.id),
        &[("cookie", &read_cookie), ("origin", &origin)],
        Some(&json!({"note": "ok"})),
    )
    .await;
    assert_eq!(
        (st, f["by"].as_str()),
        (StatusCode::CREATED, Some("lead-anna"))
    );

    // A revoked token's cookie stops working, and the session drops it.
    s.store().revoke_token("lead-anna").await.expect("revoke");
    let (st, _) = send(
        &s,
        Method::GET,
        "/api/v1/satisfaction",
        &[("cookie", &read_cookie)],
        None,
    )
    .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let r = s
        .raw(Method::GET, "/api/v1/session", &[("cookie", &read_cookie)])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["set-cookie"]
        .to_str()
        .unwrap_or("")
        .contains("Max-Age=0"));

    // Signing out expires the cookie.
    let r = s
        .raw(Method::DELETE, "/api/v1/session", &[("origin", &origin)])
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let cleared = r.headers()["set-cookie"].to_str().unwrap_or("");
    assert!(
        cleared.starts_with("smileyd_token=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
}

#[tokio::test]
async fn sign_in_refusals() {
    let s = start().await;
    let (_, read) = s
        .store()
        .create_token("wallboard", Scope::Read)
        .await
        .expect("token");
    let post = |body: Value, origin: Option<&str>| {
        let mut req = s
            .client
            .post(format!("{}/api/v1/session", s.base))
            .json(&body);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        async move {
            let r = req.send().await.expect("post");
            let cookie = r.headers().get("set-cookie").is_some();
            (
                r.status(),
                cookie,
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    for bad in ["smileyd_0000", "", "smileyd_x; Path=/evil", "ab\r\ncd"] {
        let (st, cookie, e) = post(json!({"token": bad}), None).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED, "{bad:?}: {e}");
        assert!(!cookie, "{bad:?}");
        assert_eq!(e["error"]["code"], "invalid_token");
    }
    let (st, cookie, e) = post(json!({"token": read}), Some("http://evil.example")).await;
    assert_eq!((st, cookie), (StatusCode::FORBIDDEN, false), "{e}");
    let (st, _, e) = post(json!({"tok": read}), None).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    let r = s
        .client
        .post(format!("{}/api/v1/session", s.base))
        .body(format!("token={read}"))
        .send()
        .await
        .expect("form");
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (st, _) = send(
        &s,
        Method::DELETE,
        "/api/v1/session",
        &[("origin", "http://evil.example")],
        None,
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn without_tokens_loopback_reads_and_others_are_told_how() {
    let local = start().await;
    let (_, who) = local.get("/api/v1/session").await;
    assert_eq!(
        who,
        json!({"scope": "read", "name": null, "via": "loopback", "cookie": false, "tokens_exist": false})
    );
    let remote = serve_with(ApiState::new, |r| {
        r.layer(axum::Extension(ConnectInfo(SocketAddr::from((
            [192, 0, 2, 7],
            40000,
        )))))
    })
    .await;
    let (_, who) = remote.get("/api/v1/session").await;
    assert_eq!(
        who,
        json!({"scope": null, "name": null, "via": null, "cookie": false, "tokens_exist": false})
    );
}
