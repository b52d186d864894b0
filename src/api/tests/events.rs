//! /api/v1/events: SSE with Last-Event-ID resume, and the polled JSON form.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::{start, Server};
use crate::model::{CommentStatus, Rating};
use crate::store::tests::{at, rating, T0};
use crate::store::NewComment;

/// Reads SSE events (id, type, data) until `n` arrived or 5 s passed.
async fn read_events(resp: &mut reqwest::Response, n: usize) -> Vec<(i64, String, Value)> {
    let mut buf = String::new();
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while out.len() < n {
        let chunk = match tokio::time::timeout_at(deadline, resp.chunk()).await {
            Ok(Ok(Some(c))) => c,
            _ => break,
        };
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let (mut id, mut kind, mut data) = (None, String::new(), String::new());
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().parse().ok();
                } else if let Some(v) = line.strip_prefix("event:") {
                    kind = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            if let Some(id) = id {
                out.push((id, kind, serde_json::from_str(&data).unwrap_or(Value::Null)));
            }
        }
    }
    out
}

async fn stream(s: &Server, last_event_id: Option<&str>) -> reqwest::Response {
    let mut h = vec![("accept", "text/event-stream")];
    if let Some(id) = last_event_id {
        h.push(("last-event-id", id));
    }
    let r = s.raw(Method::GET, "/api/v1/events", &h).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap_or("")
        .starts_with("text/event-stream"));
    r
}

#[tokio::test]
async fn live_then_resume_after_last_event_id() {
    let s = start().await;
    // Before the stream: not sent to a new stream without Last-Event-ID.
    s.store()
        .insert_measurement(&rating(Some("old"), Rating::Happy, T0))
        .await
        .expect("insert");
    let mut live = stream(&s, None).await;
    let first = rating(Some("ann"), Rating::Happy, T0 + 1);
    let second = rating(Some("ann"), Rating::Sad, T0 + 2);
    s.store().insert_measurement(&first).await.expect("insert");
    s.store().insert_measurement(&second).await.expect("insert");
    let got = read_events(&mut live, 2).await;
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].1, "measurement");
    assert_eq!(got[0].2["measurement"]["id"], first.id.to_string());
    assert_eq!(got[1].2["measurement"]["rating"], "sad");
    assert!(got[0].0 < got[1].0);
    drop(live);

    // While disconnected: a rating and a comment.
    let third = rating(Some("bob"), Rating::Happy, T0 + 3);
    s.store().insert_measurement(&third).await.expect("insert");
    s.store()
        .insert_comment(&NewComment {
            measurement_id: second.id,
            created_at: at(T0 + 5),
            file_name: "x.wav".into(),
            duration_ms: 1,
            size_bytes: 1,
            status: CommentStatus::Dtmf,
        })
        .await
        .expect("comment");
    // Reconnect after the first: the second is replayed, then what was missed.
    let mut resumed = stream(&s, Some(&got[0].0.to_string())).await;
    let again = read_events(&mut resumed, 3).await;
    let kinds: Vec<&str> = again.iter().map(|e| e.1.as_str()).collect();
    assert_eq!(
        kinds,
        ["measurement", "measurement", "comment"],
        "{again:?}"
    );
    assert_eq!(again[0].0, got[1].0);
    assert_eq!(again[1].2["measurement"]["id"], third.id.to_string());
    assert_eq!(again[2].2["measurement"]["comment"]["status"], "dtmf");
    assert_eq!(again[2].2["measurement_id"], second.id.to_string());

    // The polled form pages through the same events.
    let (st, page) = s.get("/api/v1/events?after=0&limit=2").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(page["items"].as_array().map(Vec::len), Some(2));
    let after = page["last_event_id"].as_i64().unwrap_or(0);
    let (_, rest) = s.get(&format!("/api/v1/events?after={after}")).await;
    assert_eq!(rest["items"].as_array().map(Vec::len), Some(3));
    let (_, none) = s
        .get(&format!("/api/v1/events?after={}", rest["last_event_id"]))
        .await;
    assert_eq!(none["items"], serde_json::json!([]));
    s.bad("/api/v1/events?after=-1", "after").await;
    let r = s
        .raw(Method::GET, "/api/v1/events", &[("last-event-id", "x")])
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}
