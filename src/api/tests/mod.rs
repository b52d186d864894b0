//! The API served on a real socket (127.0.0.1, ephemeral port) over a real
//! SQLite store, queried with an HTTP client.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{router, ApiState};

mod auth;
mod comments;
mod conditional;
mod dashboard;
mod events;
mod export;
mod follow_up;
mod openapi;
mod session;
mod surveys;
mod timeseries;
mod webhooks;
mod webhooks_tls;
use crate::model::{CallOutcome, Rating};
use crate::store::tests::{at, insert_many, rating, TempSqlite, T0};
use crate::store::{CallRecord, Store};

pub(super) struct Server {
    pub base: String,
    pub db: TempSqlite,
    pub client: reqwest::Client,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(state_for: impl FnOnce(Store) -> ApiState) -> Server {
    serve_with(state_for, |r| r).await
}

/// Serves with connect info, like the daemon; `wrap` may add layers (a
/// test stands in for a remote peer by overriding the connect info).
pub(super) async fn serve_with(
    state_for: impl FnOnce(Store) -> ApiState,
    wrap: impl FnOnce(axum::Router) -> axum::Router,
) -> Server {
    let db = TempSqlite::new().await;
    let state = state_for(db.store.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = wrap(router(state)).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    Server {
        base: format!("http://{addr}"),
        db,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client"),
        task,
    }
}

pub(super) async fn start() -> Server {
    serve(ApiState::new).await
}

impl Server {
    pub fn store(&self) -> &Store {
        &self.db.store
    }

    /// A request with extra headers; the raw response.
    pub async fn raw(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send().await.expect("request")
    }

    /// GET with a bearer token: status and JSON body (Null when none).
    pub async fn get_as(&self, path: &str, token: &str) -> (StatusCode, Value) {
        let auth = format!("Bearer {token}");
        let r = self
            .raw(reqwest::Method::GET, path, &[("authorization", &auth)])
            .await;
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.request(reqwest::Method::GET, path).await
    }

    pub async fn request(&self, method: reqwest::Method, path: &str) -> (StatusCode, Value) {
        let resp = self
            .client
            .request(method, format!("{}{path}", self.base))
            .send()
            .await
            .expect("request");
        let status = resp.status();
        let ctype = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        assert!(
            ctype.starts_with("application/json"),
            "{path}: content-type {ctype:?}"
        );
        (status, resp.json().await.expect("json body"))
    }

    /// `bad` with a bearer token.
    pub async fn bad_as(&self, path: &str, param: &str, token: &str) {
        let (status, body) = self.get_as(path, token).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        let msg = body["error"]["message"].as_str().unwrap_or("");
        assert!(msg.starts_with(&format!("{param}: ")), "{path}: {msg:?}");
    }

    /// Asserts a 400 whose message names `param`.
    pub async fn bad(&self, path: &str, param: &str) {
        let (status, body) = self.get(path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        let msg = body["error"]["message"].as_str().unwrap_or("");
        assert!(
            msg.starts_with(&format!("{param}: ")),
            "{path}: message {msg:?} should name {param}"
        );
        assert!(body["error"]["code"].is_string(), "{path}: {body}");
    }
}

#[tokio::test]
async fn healthz() {
    let s = start().await;
    assert_eq!(
        s.get("/healthz").await,
        (StatusCode::OK, json!({"status": "ok"}))
    );
    s.store().close().await;
    let (status, body) = s.get("/healthz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "degraded");
}

/// Once a store call finds the database unreachable, reads and health
/// answer 503 with Retry-After without asking it again.
#[tokio::test]
async fn reads_answer_503_with_retry_after_while_the_database_is_down() {
    let s = start().await;
    assert_eq!(s.get("/api/v1/satisfaction").await.0, StatusCode::OK);
    s.store().close().await;
    for path in [
        "/api/v1/satisfaction",
        "/api/v1/measurements",
        "/api/v1/responses",
    ] {
        let r = s.raw(reqwest::Method::GET, path, &[]).await;
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert_eq!(
            r.headers().get("retry-after").and_then(|v| v.to_str().ok()),
            Some("1"),
            "{path}"
        );
        let body: Value = r.json().await.expect("json");
        assert_eq!(body["error"]["code"], "store_unavailable", "{path}");
    }
    let (status, body) = s.get("/healthz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "degraded");
}

/// While the database is marked away, nothing is asked of it; the probe
/// finds it answering again and reads recover by themselves.
#[tokio::test]
async fn reads_recover_once_the_probe_finds_the_database_back() {
    let outage = std::sync::Arc::new(super::outage::Outage::default());
    let shared = outage.clone();
    let s = serve(move |store| {
        let mut state = ApiState::new(store);
        state.outage = shared;
        state
    })
    .await;
    outage.mark_down(s.store());
    let (status, body) = s.get("/api/v1/satisfaction").await;
    // Answered from the mark (the probe waits 250 ms before its first ping).
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(
        body["error"]["message"],
        "the database is unreachable; try again shortly"
    );
    let mut recovered = false;
    for _ in 0..100 {
        if s.get("/api/v1/satisfaction").await.0 == StatusCode::OK {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "reads did not recover");
    assert!(!outage.is_down());
    assert_eq!(s.get("/healthz").await.0, StatusCode::OK);
}

#[tokio::test]
async fn healthz_while_draining() {
    // The daemon shares its shutdown flag with the API and flips it later.
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s = serve(|store| ApiState::new(store).with_draining(flag.clone())).await;
    assert_eq!(s.get("/healthz").await.0, StatusCode::OK);
    flag.store(true, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(
        s.get("/healthz").await,
        (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"status": "draining"})
        )
    );
}

#[tokio::test]
async fn satisfaction_with_group() {
    let s = start().await;
    let (status, body) = s.get("/api/v1/satisfaction").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"survey": "smiley", "kind": "smiley", "happy": 0, "sad": 0, "total": 0,
               "happy_pct": null, "distribution": {"0": 0, "1": 0}})
    );

    insert_many(s.store(), Some("ann"), Rating::Happy, 41, T0).await;
    insert_many(s.store(), Some("ann"), Rating::Sad, 9, T0).await;
    insert_many(s.store(), Some("bob"), Rating::Sad, 50, T0).await;

    let (status, body) = s.get("/api/v1/satisfaction?agent=ann").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({
            "survey": "smiley", "kind": "smiley",
            "happy": 41, "sad": 9, "total": 50, "happy_pct": 82.0,
            "distribution": {"0": 9, "1": 41},
            "group": {"happy": 41, "sad": 59, "total": 100, "happy_pct": 41.0,
                      "distribution": {"0": 59, "1": 41}}
        })
    );

    // Without an agent there is no group; the window applies to both.
    let (_, body) = s.get("/api/v1/satisfaction").await;
    assert_eq!(body.get("group"), None);
    assert_eq!(body["total"], 100);
    let (_, body) = s
        .get("/api/v1/satisfaction?agent=ann&from=2024-11-23T12:00:00.001Z")
        .await;
    assert_eq!(body["total"], 0);
    assert_eq!(body["happy_pct"], Value::Null);
    assert_eq!(body["group"]["total"], 0);
    // An offset written with an unencoded '+' (arrives as a space) works.
    let (status, body) = s
        .get("/api/v1/satisfaction?agent=ann&from=2024-11-23T13:00:00+01:00&to=2024-11-23T13:00:00.001%2B01:00")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total"], 50);
    assert_eq!(body["group"]["total"], 100);
    let (_, body) = s.get("/api/v1/satisfaction?queue=elsewhere").await;
    assert_eq!(body["total"], 0);
}

#[tokio::test]
async fn agents_ranked_and_thresholded() {
    let s = start().await;
    insert_many(s.store(), Some("ann"), Rating::Happy, 3, T0).await;
    insert_many(s.store(), Some("ann"), Rating::Sad, 1, T0).await;
    insert_many(s.store(), Some("bob"), Rating::Happy, 1, T0).await;
    insert_many(s.store(), Some("cat"), Rating::Happy, 6, T0).await;
    insert_many(s.store(), Some("cat"), Rating::Sad, 2, T0).await;
    insert_many(s.store(), None, Rating::Sad, 1, T0).await;

    let (status, body) = s.get("/api/v1/agents").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"survey": "smiley", "kind": "smiley", "items": [
            {"agent": "bob", "happy": 1, "sad": 0, "total": 1, "happy_pct": 100.0,
             "distribution": {"0": 0, "1": 1}},
            {"agent": "cat", "happy": 6, "sad": 2, "total": 8, "happy_pct": 75.0,
             "distribution": {"0": 2, "1": 6}},
            {"agent": "ann", "happy": 3, "sad": 1, "total": 4, "happy_pct": 75.0,
             "distribution": {"0": 1, "1": 3}},
            {"agent": null, "happy": 0, "sad": 1, "total": 1, "happy_pct": 0.0,
             "distribution": {"0": 1, "1": 0}},
        ]})
    );

    let (_, body) = s.get("/api/v1/agents?min_responses=4").await;
    let names: Vec<&Value> = body["items"]
        .as_array()
        .map(|a| a.iter().map(|i| &i["agent"]).collect())
        .unwrap_or_default();
    assert_eq!(names, [&json!("cat"), &json!("ann")]);
    let (_, body) = s.get("/api/v1/agents?min_responses=9").await;
    assert_eq!(body["items"], json!([]));
    let (_, body) = s.get("/api/v1/agents?to=2024-11-23T12:00:00Z").await;
    assert_eq!(body["items"], json!([]));
}

#[tokio::test]
async fn responses() {
    let s = start().await;
    let (_, body) = s.get("/api/v1/responses").await;
    assert_eq!(
        body,
        json!({"survey": "smiley", "offered": 0, "rated": 0, "no_input": 0, "hung_up": 0, "failed": 0, "media_timeout": 0, "response_rate": null})
    );
    for (outcome, agent) in [
        (CallOutcome::Rated, "ann"),
        (CallOutcome::Rated, "ann"),
        (CallOutcome::Rated, "ann"),
        (CallOutcome::NoInput, "ann"),
        (CallOutcome::HungUp, "bob"),
        (CallOutcome::Failed, "bob"),
        (CallOutcome::MediaTimeout, "bob"),
    ] {
        s.store()
            .record_call(&CallRecord {
                id: uuid::Uuid::now_v7(),
                sip_call_id: "c@pbx".into(),
                started_at: at(T0),
                ended_at: at(T0 + 5_000),
                survey: "smiley".into(),
                agent: Some(agent.into()),
                queue: None,
                caller: None,
                outcome,
                measurement_id: None,
            })
            .await
            .expect("record");
    }
    let (_, body) = s.get("/api/v1/responses?agent=ann").await;
    assert_eq!(
        body,
        json!({"survey": "smiley", "offered": 4, "rated": 3, "no_input": 1, "hung_up": 0, "failed": 0, "media_timeout": 0, "response_rate": 0.75})
    );
    let (_, body) = s.get("/api/v1/responses").await;
    assert_eq!(body["offered"], 7);
    assert_eq!(body["media_timeout"], 1);
    assert_eq!(body["response_rate"], 3.0 / 7.0);
}

#[tokio::test]
async fn measurements_paged_while_ratings_arrive() {
    let s = start().await;
    for i in 0..25 {
        s.store()
            .insert_measurement(&rating(Some("ann"), Rating::Happy, T0 + i))
            .await
            .expect("insert");
    }
    let mut seen: Vec<String> = Vec::new();
    let mut path = "/api/v1/measurements?limit=10&agent=ann".to_owned();
    let mut pages = 0;
    loop {
        let (status, body) = s.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        pages += 1;
        for item in body["items"].as_array().expect("items") {
            seen.push(item["id"].as_str().expect("id").to_owned());
        }
        // Newer ratings keep arriving between pages.
        insert_many(s.store(), Some("ann"), Rating::Sad, 2, T0 + 60_000 + pages).await;
        match body["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/measurements?limit=10&agent=ann&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 25, "no gaps");
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 25, "no duplicates");

    // Oldest is last; every one is a happy rating from the first batch.
    let (_, body) = s.get("/api/v1/measurements?rating=happy&limit=1000").await;
    let items = body["items"].as_array().expect("items");
    assert_eq!(items.len(), 25);
    assert_eq!(body["next_cursor"], Value::Null);
    let last = &items[24];
    assert_eq!(last["created_at"], "2024-11-23T12:00:00.000Z");
    assert_eq!(last["rating"], "happy");
    assert_eq!(last["digit"], "1");
    assert_eq!(last["dtmf_source"], "rfc4733");
    assert_eq!(last["agent"], "ann");
    assert_eq!(last["queue"], "support");
    assert_eq!(last["survey"], "smiley");
    assert_eq!(last["caller"], "+4930123456");
    assert_eq!(last["original_call_id"], Value::Null);
    assert_eq!(last["comment_url"], Value::Null);
    assert!(last["call_id"]
        .as_str()
        .is_some_and(|c| c.ends_with("@pbx")));
    let ids: Vec<&str> = items.iter().filter_map(|i| i["id"].as_str()).collect();
    assert_eq!(ids, seen.iter().map(String::as_str).collect::<Vec<_>>());

    let (_, body) = s.get("/api/v1/measurements?rating=sad").await;
    assert_eq!(body["items"].as_array().map(Vec::len), Some(6));
    // Default page size is 50.
    insert_many(s.store(), None, Rating::Sad, 30, T0).await;
    let (_, body) = s.get("/api/v1/measurements").await;
    assert_eq!(body["items"].as_array().map(Vec::len), Some(50));
    assert!(body["next_cursor"].is_string());
}

#[tokio::test]
async fn measurement_by_id() {
    let s = start().await;
    let m = rating(Some("ann"), Rating::Sad, T0 + 7);
    s.store().insert_measurement(&m).await.expect("insert");

    let (status, body) = s.get(&format!("/api/v1/measurements/{}", m.id)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["id"], m.id.to_string());
    assert_eq!(body["rating"], "sad");
    assert_eq!(body["digit"], "2");
    assert_eq!(body["created_at"], "2024-11-23T12:00:00.007Z");
    // Same id spelled in upper case.
    let upper = m.id.to_string().to_uppercase();
    let (status, _) = s.get(&format!("/api/v1/measurements/{upper}")).await;
    assert_eq!(status, StatusCode::OK);

    for path in [
        format!("/api/v1/measurements/{}", uuid::Uuid::now_v7()),
        "/api/v1/measurements/nope".to_owned(),
        "/api/v1/measurements/%FF".to_owned(),
    ] {
        let (status, body) = s.get(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body["error"]["code"], "not_found");
    }
}

#[tokio::test]
async fn every_bad_parameter_is_named() {
    let s = start().await;
    for (path, param) in [
        ("/api/v1/satisfaction?from=yesterday", "from"),
        ("/api/v1/satisfaction?to=2024-13-01T00:00:00Z", "to"),
        ("/api/v1/satisfaction?to=", "to"),
        ("/api/v1/measurements?limit=", "limit"),
        ("/api/v1/satisfaction?agnet=ann", "agnet"),
        ("/api/v1/satisfaction?rating=happy", "rating"),
        ("/api/v1/satisfaction?agent=a&agent=b", "agent"),
        ("/api/v1/agents?min_responses=-1", "min_responses"),
        ("/api/v1/agents?min_responses=many", "min_responses"),
        ("/api/v1/agents?agent=ann", "agent"),
        ("/api/v1/responses?from=1732363200", "from"),
        ("/api/v1/responses?rating=sad", "rating"),
        ("/api/v1/measurements?rating=meh", "rating"),
        ("/api/v1/measurements?limit=0", "limit"),
        ("/api/v1/measurements?limit=1001", "limit"),
        ("/api/v1/measurements?limit=ten", "limit"),
        ("/api/v1/measurements?cursor=abc", "cursor"),
        ("/api/v1/measurements?cursor=%FF%FE", "cursor"),
        ("/api/v1/measurements?to=now", "to"),
        (
            "/api/v1/measurements/00000000-0000-0000-0000-000000000000?x=1",
            "x",
        ),
    ] {
        s.bad(path, param).await;
    }
    let (_, body) = s.get("/api/v1/satisfaction?from=yesterday").await;
    assert_eq!(body["error"]["code"], "invalid_parameter");
    let (_, body) = s.get("/api/v1/satisfaction?agnet=ann").await;
    assert_eq!(body["error"]["code"], "unknown_parameter");
}

#[tokio::test]
async fn unknown_routes_and_methods_are_json() {
    let s = start().await;
    let (status, body) = s.get("/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
    assert_eq!(body["error"]["message"], "no route for GET /nope");
    let (status, _) = s.get("/api/v1/measurements/a/b").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    for path in ["/api/v1/satisfaction", "/healthz", "/api/v1/measurements/x"] {
        let (status, body) = s.request(reqwest::Method::POST, path).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{path}");
        assert_eq!(body["error"]["code"], "method_not_allowed");
    }
    let (status, _) = s.request(reqwest::Method::DELETE, "/api/v1/agents").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn store_failures_are_503_json() {
    // Every pooled connection held elsewhere stands in for a stuck database:
    // requests wait for a connection until the API's timeout gives up.
    let slow =
        serve(|store| ApiState::new(store).with_store_timeout(Duration::from_millis(200))).await;
    let mut held = Vec::new();
    while let Ok(Ok(conn)) =
        tokio::time::timeout(Duration::from_millis(300), slow.store().pool().acquire()).await
    {
        held.push(conn);
    }
    assert!(!held.is_empty());
    let started = std::time::Instant::now();
    let (status, body) = slow.get("/api/v1/satisfaction").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"]["code"], "store_unavailable");
    assert!(started.elapsed() < Duration::from_secs(3));
    let (status, body) = slow.get("/healthz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "degraded");
    drop(held);
    // The store is marked away until the probe's next ping (every 250 ms).
    let mut status = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..50 {
        status = slow.get("/api/v1/satisfaction").await.0;
        if status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, StatusCode::OK);

    // A closed pool stands in for a database that went away.
    let s = start().await;
    s.store().close().await;
    for path in [
        "/api/v1/satisfaction?agent=ann",
        "/api/v1/agents",
        "/api/v1/responses",
        "/api/v1/measurements",
        "/api/v1/measurements/0191a2b3-0000-7000-8000-000000000000",
    ] {
        let (status, body) = s.get(path).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert_eq!(body["error"]["code"], "store_unavailable", "{path}");
    }
}
