//! Webhooks end to end: a receiver on loopback checks each signature; a
//! delivery survives the receiver being down and the daemon restarting.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode as AxStatus};
use axum::routing::post;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::{serve, Server};
use crate::api::signature;
use crate::api::{spawn_dispatcher, ApiState, DispatchSettings};
use crate::model::Rating;
use crate::store::tests::{rating, T0};
use crate::store::{Scope, Store};

const SECRET: &str = "0123456789abcdef-secret";

/// Bodies the receiver accepted, with verified signatures.
type Inbox = Arc<Mutex<Vec<Value>>>;

/// A receiver on `port` (0: any); returns its port and task.
async fn receiver(port: u16, inbox: Inbox) -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind receiver");
    let port = listener.local_addr().expect("addr").port();
    let app = axum::Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: Bytes| {
            let inbox = inbox.clone();
            async move {
                let sig = headers
                    .get(signature::HEADER)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                let now = chrono::Utc::now().timestamp();
                if !signature::verify(SECRET.as_bytes(), sig, &body, now, 300) {
                    return AxStatus::UNAUTHORIZED;
                }
                let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                assert_eq!(
                    headers
                        .get("smileyd-event-id")
                        .and_then(|h| h.to_str().ok()),
                    Some(v["id"].to_string().as_str())
                );
                if let Ok(mut i) = inbox.lock() {
                    i.push(v);
                }
                AxStatus::NO_CONTENT
            }
        }),
    );
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (port, task)
}

fn fast() -> DispatchSettings {
    DispatchSettings {
        base_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_millis(300),
        poll: Duration::from_millis(100),
        timeout: Duration::from_secs(2),
        // The receivers here are on 127.0.0.1.
        delivery: crate::config::WebhookDelivery {
            allow_private_networks: true,
            ..Default::default()
        },
        ..DispatchSettings::default()
    }
}

async fn wait_for(inbox: &Inbox, n: usize) -> Vec<Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let got = inbox.lock().map(|i| i.clone()).unwrap_or_default();
        if got.len() >= n || std::time::Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn deliveries(s: &Server, token: &str) -> Vec<Value> {
    let (st, body) = s.get_as("/api/v1/webhooks/deliveries", token).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    body["items"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn delivered_signed_retried_and_kept_across_restarts() {
    let inbox: Inbox = Arc::default();
    let (port, rx_task) = receiver(0, inbox.clone()).await;
    let url = format!("http://127.0.0.1:{port}/hook");
    let s = serve(ApiState::new).await;
    let (_, admin) = s
        .store()
        .create_token("ops", Scope::Admin)
        .await
        .expect("token");
    s.store()
        .sync_config_webhooks(&[(url.clone(), SECRET.into())])
        .await
        .expect("sync");
    let dispatcher = spawn_dispatcher(s.store().clone(), fast());

    // 1. Delivered, signed.
    let first = rating(Some("ann"), Rating::Happy, T0);
    s.store().insert_measurement(&first).await.expect("insert");
    let got = wait_for(&inbox, 1).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["type"], "measurement");
    assert_eq!(got[0]["measurement"]["id"], first.id.to_string());
    assert_eq!(got[0]["measurement"]["agent"], "ann");

    // 2. Receiver down: the delivery stays pending and is retried.
    rx_task.abort();
    let _ = rx_task.await;
    let second = rating(Some("ann"), Rating::Sad, T0 + 1);
    s.store().insert_measurement(&second).await.expect("insert");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let failed = loop {
        let items = deliveries(&s, &admin).await;
        let pending = items
            .iter()
            .find(|d| {
                d["measurement_id"] == second.id.to_string() && d["attempts"].as_i64() >= Some(2)
            })
            .cloned();
        if let Some(p) = pending {
            break p;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no failed attempts recorded: {items:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(failed["status"], "pending");
    assert!(failed["last_error"].is_string());
    let (_, rx_task) = receiver(port, inbox.clone()).await;
    let got = wait_for(&inbox, 2).await;
    assert_eq!(got.len(), 2);
    assert_eq!(got[1]["measurement"]["id"], second.id.to_string());

    // 3. smileyd stops with a delivery in the outbox; a new one delivers it.
    dispatcher.abort();
    let _ = dispatcher.await;
    let third = rating(Some("bob"), Rating::Happy, T0 + 2);
    s.store().insert_measurement(&third).await.expect("insert");
    s.store().close().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        inbox.lock().map(|i| i.len()).unwrap_or(0),
        2,
        "nothing sent while stopped"
    );
    let reopened = Store::connect(&s.db.url).await.expect("reopen");
    let dispatcher = spawn_dispatcher(reopened.clone(), fast());
    let got = wait_for(&inbox, 3).await;
    assert_eq!(got.len(), 3);
    assert_eq!(got[2]["measurement"]["id"], third.id.to_string());

    // Every delivery is visible, and delivered exactly once (the outcome is
    // recorded just after the receiver answers: wait for it).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let rows = loop {
        let rows = reopened
            .list_deliveries(None, None, None, 100)
            .await
            .expect("list");
        let done = rows
            .iter()
            .all(|d| d.status == crate::store::DeliveryStatus::Delivered);
        if done || std::time::Instant::now() > deadline {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(rows.len(), 3);
    assert!(rows
        .iter()
        .all(|d| d.status == crate::store::DeliveryStatus::Delivered));
    dispatcher.abort();
    let ids: Vec<Value> = got.iter().map(|v| v["id"].clone()).collect();
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(ids, unique);
    rx_task.abort();
}

#[tokio::test]
async fn webhooks_managed_through_the_api() {
    let s = serve(ApiState::new).await;
    let (_, admin) = s
        .store()
        .create_token("ops", Scope::Admin)
        .await
        .expect("token");
    let auth = format!("Bearer {admin}");
    let post = |body: &'static str, ct: &'static str| {
        let auth = auth.clone();
        let client = s.client.clone();
        let url = format!("{}/api/v1/webhooks", s.base);
        async move {
            let r = client
                .post(url)
                .header("authorization", auth)
                .header("content-type", ct)
                .body(body)
                .send()
                .await
                .expect("post");
            let st = r.status();
            (st, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    // Loopback, link-local, private and names resolving to loopback are
    // refused (private networks are not allowed on this server).
    for (body, why) in [
        (
            r#"{"url":"http://127.0.0.1:22/hook","secret":"0123456789abcdef"}"#,
            "127.0.0.1 is a loopback address",
        ),
        (
            r#"{"url":"http://169.254.169.254/latest","secret":"0123456789abcdef"}"#,
            "169.254.169.254 is a link-local address",
        ),
        (
            r#"{"url":"http://10.1.2.3/hook","secret":"0123456789abcdef"}"#,
            "10.1.2.3 is a private network address",
        ),
        (
            r#"{"url":"http://0.0.0.0:8080/hook","secret":"0123456789abcdef"}"#,
            "0.0.0.0 is an unspecified address",
        ),
        (
            r#"{"url":"http://localhost:8080/hook","secret":"0123456789abcdef"}"#,
            "localhost resolves to no address webhooks may be delivered to",
        ),
    ] {
        let (st, e) = post(body, "application/json").await;
        let message = e["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}: {e}");
        assert!(
            message.starts_with("url: ") && message.contains(why),
            "{body}: {message}"
        );
    }
    // TEST-NET-1: a public-looking address nothing here ever connects to
    // (no dispatcher runs in this test).
    let (st, hook) = post(
        r#"{"url":"http://192.0.2.10:9/hook","secret":"0123456789abcdef"}"#,
        "application/json",
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{hook}");
    assert_eq!(hook["active"], true);
    assert_eq!(hook["source"], "api");
    assert!(hook.get("secret").is_none());
    let (st, _) = post(
        r#"{"url":"http://192.0.2.10:9/hook","secret":"0123456789abcdef"}"#,
        "application/json",
    )
    .await;
    assert_eq!(st, StatusCode::CONFLICT);
    let (st, e) = post(
        r#"{"url":"ftp://x/","secret":"0123456789abcdef"}"#,
        "application/json",
    )
    .await;
    assert_eq!(
        (
            st,
            e["error"]["message"]
                .as_str()
                .map(|m| m.starts_with("url: "))
        ),
        (StatusCode::BAD_REQUEST, Some(true))
    );
    let (st, e) = post(
        r#"{"url":"http://x/","secret":"short"}"#,
        "application/json",
    )
    .await;
    assert_eq!(
        (
            st,
            e["error"]["message"]
                .as_str()
                .map(|m| m.starts_with("secret: "))
        ),
        (StatusCode::BAD_REQUEST, Some(true))
    );
    assert_eq!(
        post("{", "application/json").await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        post("{}", "text/plain").await.0,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );

    let (_, list) = s.get_as("/api/v1/webhooks", &admin).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
    // A rating queues a delivery for it, visible (pending) to admins.
    s.store()
        .insert_measurement(&rating(None, Rating::Happy, T0))
        .await
        .expect("insert");
    let items = deliveries(&s, &admin).await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["status"], "pending");
    assert_eq!(items[0]["event_type"], "measurement");
    let (st, _) = s
        .get_as("/api/v1/webhooks/deliveries?status=delivered", &admin)
        .await;
    assert_eq!(st, StatusCode::OK);
    s.bad_as("/api/v1/webhooks/deliveries?status=sent", "status", &admin)
        .await;

    let id = hook["id"].as_str().unwrap_or_default();
    let r = s
        .raw(
            Method::DELETE,
            &format!("/api/v1/webhooks/{id}"),
            &[("authorization", &auth)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = s
        .raw(
            Method::DELETE,
            &format!("/api/v1/webhooks/{id}"),
            &[("authorization", &auth)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let items = deliveries(&s, &admin).await;
    assert_eq!(items[0]["status"], "failed");
    // Retry puts it back.
    let retry = format!(
        "/api/v1/webhooks/deliveries/{id}/{}/retry",
        items[0]["event_id"]
    );
    let r = s
        .raw(Method::POST, &retry, &[("authorization", &auth)])
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

/// With `webhook_delivery.allow_private_networks`, receivers on loopback and
/// private networks may be added; link-local (metadata services) still not.
#[tokio::test]
async fn private_receivers_only_when_allowed() {
    let s = serve(|store| ApiState::new(store).with_private_webhooks(true)).await;
    let (_, admin) = s
        .store()
        .create_token("ops", Scope::Admin)
        .await
        .expect("token");
    let post = |url: &str| {
        let req = s
            .client
            .post(format!("{}/api/v1/webhooks", s.base))
            .header("authorization", format!("Bearer {admin}"))
            .json(&serde_json::json!({"url": url, "secret": "0123456789abcdef"}));
        async move {
            let r = req.send().await.expect("post");
            (r.status(), r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    for ok in [
        "http://127.0.0.1:9/hook",
        "http://10.1.2.3/hook",
        "http://localhost:9/hook",
    ] {
        let (st, body) = post(ok).await;
        assert_eq!(st, StatusCode::CREATED, "{ok}: {body}");
    }
    let (st, e) = post("http://169.254.169.254/latest").await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let message = e["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("never delivered there"), "{message}");
}

/// The URL rule published in the OpenAPI document is the one enforced.
#[test]
fn published_pattern_is_the_enforced_one() {
    use crate::model::webhook_url::URL_PATTERN;
    use utoipa::OpenApi;
    let doc = serde_json::to_value(crate::api::ApiDoc::openapi()).unwrap_or_default();
    let p = &doc["components"]["schemas"]["NewWebhookJson"]["properties"]["url"]["pattern"];
    assert_eq!(p.as_str(), Some(URL_PATTERN));
}
