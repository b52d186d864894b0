//! Follow-ups over HTTP: marked by whoever the auth layer says, shown with
//! the measurement, filtered on, announced as events and webhooks, refused
//! from another site's page.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::{start, Server};
use crate::model::Rating;
use crate::store::tests::{rating, T0};
use crate::store::Scope;

/// A request with a body and headers: status and JSON (Null when none).
pub(super) async fn send(
    s: &Server,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let mut req = s.client.request(method, format!("{}{path}", s.base));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    let r = req.send().await.expect("request");
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn mark_show_filter_reopen() {
    let s = start().await;
    let sad = rating(Some("ann"), Rating::Sad, T0);
    let happy = rating(Some("ann"), Rating::Happy, T0 + 1);
    s.store().insert_measurement(&sad).await.expect("insert");
    s.store().insert_measurement(&happy).await.expect("insert");
    s.store()
        .sync_config_webhooks(&[("http://127.0.0.1:9/hook".into(), "0123456789abcdef".into())])
        .await
        .expect("webhook");
    let path = format!("/api/v1/measurements/{}/follow-up", sad.id);

    // No tokens: a loopback client marks it, and is named as such.
    let note = json!({"note": "  called back; refund agreed  "});
    let (st, body) = send(&s, Method::PUT, &path, &[], Some(&note)).await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    assert_eq!(body["note"], "called back; refund agreed");
    assert_eq!(body["by"], Value::Null);
    assert_eq!(body["via"], "loopback");
    assert!(body["created_at"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    let (st, again) = send(&s, Method::PUT, &path, &[], Some(&note)).await;
    assert_eq!(
        (st, &again),
        (StatusCode::OK, &body),
        "a repeat changes nothing"
    );

    let (_, m) = s.get(&format!("/api/v1/measurements/{}", sad.id)).await;
    assert_eq!(m["follow_up"], body);
    let (_, m) = s.get(&format!("/api/v1/measurements/{}", happy.id)).await;
    assert_eq!(m["follow_up"], Value::Null);

    let ids = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|m| m["id"].as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let (_, open) = s.get("/api/v1/measurements?followed_up=false").await;
    assert_eq!(ids(&open), [happy.id.to_string()]);
    let (_, done) = s.get("/api/v1/measurements?followed_up=true").await;
    assert_eq!(ids(&done), [sad.id.to_string()]);
    let (_, unhappy) = s.get("/api/v1/measurements?score_max=0").await;
    assert_eq!(ids(&unhappy), [sad.id.to_string()]);
    s.bad("/api/v1/measurements?score_max=11", "score_max")
        .await;
    s.bad("/api/v1/measurements?followed_up=yes", "followed_up")
        .await;

    // Events and webhook deliveries name the change.
    let (_, events) = s.get("/api/v1/events").await;
    let types: Vec<&str> = events["items"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["type"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(types, ["measurement", "measurement", "follow_up"]);
    assert_eq!(
        events["items"][2]["measurement"]["follow_up"]["note"],
        body["note"]
    );

    let (st, _) = send(&s, Method::DELETE, &path, &[], None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, err) = send(&s, Method::DELETE, &path, &[], None).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{err}");
    let (_, m) = s.get(&format!("/api/v1/measurements/{}", sad.id)).await;
    assert_eq!(m["follow_up"], Value::Null);
    let deliveries = s
        .store()
        .list_deliveries(None, None, None, 10)
        .await
        .expect("deliveries");
    let mut kinds: Vec<&str> = deliveries.iter().map(|d| d.event_kind.as_str()).collect();
    kinds.sort_unstable();
    // The receiver was added after the ratings; the repeat wrote nothing.
    assert_eq!(kinds, ["follow_up", "follow_up_deleted"]);
}

#[tokio::test]
async fn who_and_what_is_refused() {
    let s = start().await;
    let m = rating(Some("bob"), Rating::Sad, T0);
    s.store().insert_measurement(&m).await.expect("insert");
    let path = format!("/api/v1/measurements/{}/follow-up", m.id);
    let ok = json!({"note": "done"});

    // Body and id problems.
    let (st, e) = send(
        &s,
        Method::PUT,
        &path,
        &[],
        Some(&json!({"note": "x".repeat(501)})),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("note: "),
        "{e}"
    );
    let (st, e) = send(
        &s,
        Method::PUT,
        &path,
        &[],
        Some(&json!({"note": "a\u{7}b"})),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    let (st, e) = send(&s, Method::PUT, &path, &[], Some(&json!({"notes": "x"}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    let r = s
        .client
        .put(format!("{}{path}", s.base))
        .body("note=x")
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let unknown = format!("/api/v1/measurements/{}/follow-up", uuid::Uuid::now_v7());
    assert_eq!(
        send(&s, Method::PUT, &unknown, &[], Some(&ok)).await.0,
        StatusCode::NOT_FOUND
    );
    let not_id = "/api/v1/measurements/nope/follow-up";
    assert_eq!(
        send(&s, Method::PUT, not_id, &[], Some(&ok)).await.0,
        StatusCode::NOT_FOUND
    );

    // Another site's page may not change anything, however authorised.
    let (st, e) = send(
        &s,
        Method::PUT,
        &path,
        &[("origin", "http://evil.example")],
        Some(&ok),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert_eq!(e["error"]["code"], "cross_origin");
    assert_eq!(
        s.store().follow_up(&m.id.to_string()).await.expect("get"),
        None
    );

    // With tokens, the token's name is recorded; read is enough.
    let (_, read) = s
        .store()
        .create_token("lead-anna", Scope::Read)
        .await
        .expect("token");
    assert_eq!(
        send(&s, Method::PUT, &path, &[], Some(&ok)).await.0,
        StatusCode::UNAUTHORIZED
    );
    let auth = format!("Bearer {read}");
    let (st, body) = send(
        &s,
        Method::PUT,
        &path,
        &[("authorization", &auth)],
        Some(&ok),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    assert_eq!(
        (body["by"].as_str(), body["via"].as_str()),
        (Some("lead-anna"), Some("token"))
    );
}
