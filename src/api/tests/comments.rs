//! Comment audio over HTTP: Range requests, 404s, erasure, retention.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::{serve, Server};
use crate::api::ApiState;
use crate::model::{CommentStatus, Rating};
use crate::store::tests::{at, rating, T0};
use crate::store::{spawn_retention_sweeper, sweep_retention, NewComment};

/// A fake WAV: a RIFF header and a counting payload, so ranges are checkable.
fn wav_bytes(len: usize) -> Vec<u8> {
    let mut v = b"RIFF\0\0\0\0WAVE".to_vec();
    v.extend((0..len - v.len()).map(|i| (i % 251) as u8));
    v
}

/// A server whose recordings live in their own temp dir, with one rating
/// that has a comment of `len` bytes recorded at `recorded_ms`.
async fn with_comment(
    len: usize,
    recorded_ms: i64,
) -> (Server, tempfile::TempDir, String, Vec<u8>) {
    let rec = tempfile::tempdir().expect("dir");
    let dir = rec.path().to_path_buf();
    let s = serve(move |store| ApiState::new(store).with_recordings_dir(dir)).await;
    let m = rating(Some("ann"), Rating::Sad, T0);
    s.store().insert_measurement(&m).await.expect("insert");
    let bytes = wav_bytes(len);
    let file = format!("{}.wav", m.id);
    std::fs::write(rec.path().join(&file), &bytes).expect("write wav");
    s.store()
        .insert_comment(&NewComment {
            measurement_id: m.id,
            created_at: at(recorded_ms),
            file_name: file,
            duration_ms: 4_000,
            size_bytes: len as i64,
            status: CommentStatus::Silence,
        })
        .await
        .expect("comment");
    (s, rec, m.id.to_string(), bytes)
}

async fn fetch(
    s: &Server,
    path: &str,
    range: Option<&str>,
) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
    let headers: Vec<(&str, &str)> = range.map(|r| vec![("range", r)]).unwrap_or_default();
    let r = s.raw(Method::GET, path, &headers).await;
    let status = r.status();
    let h = r.headers().clone();
    (status, h, r.bytes().await.expect("body").to_vec())
}

fn header<'a>(h: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

#[tokio::test]
async fn audio_with_ranges() {
    let (s, _rec, id, bytes) = with_comment(10_000, T0 + 1_000).await;
    let path = format!("/api/v1/measurements/{id}/comment");

    let (st, h, body) = fetch(&s, &path, None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(body, bytes);
    assert_eq!(header(&h, "content-type"), "audio/wav");
    assert_eq!(header(&h, "content-length"), "10000");
    assert_eq!(header(&h, "accept-ranges"), "bytes");
    assert!(!header(&h, "etag").is_empty());

    for (range, a, b) in [
        ("bytes=0-99", 0, 99),
        ("bytes=9990-", 9990, 9999),
        ("bytes=-10", 9990, 9999),
        ("bytes=5000-20000", 5000, 9999),
    ] {
        let (st, h, body) = fetch(&s, &path, Some(range)).await;
        assert_eq!(st, StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(body, &bytes[a..=b], "{range}");
        assert_eq!(
            header(&h, "content-range"),
            format!("bytes {a}-{b}/10000"),
            "{range}"
        );
        assert_eq!(
            header(&h, "content-length"),
            (b - a + 1).to_string(),
            "{range}"
        );
    }
    let (st, h, body) = fetch(&s, &path, Some("bytes=10000-")).await;
    assert_eq!(st, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(header(&h, "content-range"), "bytes */10000");
    let err: Value = serde_json::from_slice(&body).expect("json error");
    assert_eq!(err["error"]["code"], "range_not_satisfiable");

    // The measurement points at the audio.
    let (_, m) = s.get(&format!("/api/v1/measurements/{id}")).await;
    assert_eq!(m["comment_url"], path);
    assert_eq!(m["comment"]["status"], "silence");
    assert_eq!(m["comment"]["duration_ms"], 4000);
    assert_eq!(m["comment"]["size_bytes"], 10000);
    assert_eq!(m["comment"]["deleted"], false);
    assert_eq!(m["comment"]["deleted_at"], Value::Null);
    // Sad ones with comments, for follow-up.
    let (_, page) = s
        .get("/api/v1/measurements?rating=sad&has_comment=true")
        .await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
    let (_, page) = s.get("/api/v1/measurements?has_comment=false").await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(0));
}

#[tokio::test]
async fn missing_audio_is_404_json() {
    let (s, rec, id, _) = with_comment(100, T0).await;
    let bare = rating(Some("bob"), Rating::Happy, T0);
    s.store().insert_measurement(&bare).await.expect("insert");
    for path in [
        format!("/api/v1/measurements/{}/comment", bare.id),
        format!("/api/v1/measurements/{}/comment", uuid::Uuid::now_v7()),
        "/api/v1/measurements/nope/comment".to_owned(),
    ] {
        let (st, body) = s.get(&path).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body["error"]["code"], "not_found");
    }
    let (_, m) = s.get(&format!("/api/v1/measurements/{}", bare.id)).await;
    assert_eq!(m["comment_url"], Value::Null);
    assert_eq!(m["comment"], Value::Null);
    // The file went missing behind our back.
    std::fs::remove_file(rec.path().join(format!("{id}.wav"))).expect("rm");
    let (st, _) = s.get(&format!("/api/v1/measurements/{id}/comment")).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn erasure_keeps_the_rating() {
    let (s, rec, id, _) = with_comment(2_000, T0).await;
    let path = format!("/api/v1/measurements/{id}/comment");
    let file = rec.path().join(format!("{id}.wav"));
    // No tokens yet: admin operations are refused, even from loopback.
    let r = s.raw(Method::DELETE, &path, &[]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(file.exists());

    let (_, admin) = s
        .store()
        .create_token("ops", crate::store::Scope::Admin)
        .await
        .expect("token");
    let auth = format!("Bearer {admin}");
    let r = s
        .raw(Method::DELETE, &path, &[("authorization", &auth)])
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(!file.exists());
    let (st, _) = s.get_as(&path, &admin).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let r = s
        .raw(Method::DELETE, &path, &[("authorization", &auth)])
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    let (st, m) = s
        .get_as(&format!("/api/v1/measurements/{id}"), &admin)
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(m["rating"], "sad");
    assert_eq!(m["comment_url"], Value::Null);
    assert_eq!(m["comment"]["deleted"], true);
    assert!(m["comment"]["deleted_at"].is_string());
    let c = s.store().comment(&id).await.expect("comment").expect("row");
    assert_eq!(c.deleted_reason.as_deref(), Some("erasure"));
    let (_, sat) = s.get_as("/api/v1/satisfaction?agent=ann", &admin).await;
    assert_eq!(sat["sad"], 1);
}

#[tokio::test]
async fn retention_deletes_old_audio_only() {
    let now = chrono::Utc::now().timestamp_millis();
    let (s, rec, old_id, _) = with_comment(500, now - 100 * 86_400_000).await;
    // A recent comment next to the old one.
    let recent = rating(Some("ann"), Rating::Happy, now);
    s.store().insert_measurement(&recent).await.expect("insert");
    std::fs::write(rec.path().join("recent.wav"), wav_bytes(100)).expect("write");
    s.store()
        .insert_comment(&NewComment {
            measurement_id: recent.id,
            created_at: at(now),
            file_name: "recent.wav".into(),
            duration_ms: 1_000,
            size_bytes: 100,
            status: CommentStatus::Dtmf,
        })
        .await
        .expect("comment");

    let n = sweep_retention(s.store(), rec.path(), 90)
        .await
        .expect("sweep");
    assert_eq!(n, 1);
    assert!(!rec.path().join(format!("{old_id}.wav")).exists());
    assert!(rec.path().join("recent.wav").exists());
    let c = s.store().comment(&old_id).await.expect("get").expect("row");
    assert_eq!(c.deleted_reason.as_deref(), Some("retention"));
    let (st, m) = s.get(&format!("/api/v1/measurements/{old_id}")).await;
    assert_eq!(st, StatusCode::OK, "the rating stays");
    assert_eq!(m["comment"]["deleted"], true);
    assert_eq!(
        sweep_retention(s.store(), rec.path(), 90)
            .await
            .expect("again"),
        0
    );

    // The spawned sweeper does the same on its first round; 0 days disables it.
    assert!(spawn_retention_sweeper(
        s.store().clone(),
        rec.path().into(),
        0,
        Duration::from_secs(1)
    )
    .is_none());
    let older = rating(None, Rating::Sad, now - 200 * 86_400_000);
    s.store().insert_measurement(&older).await.expect("insert");
    std::fs::write(rec.path().join("older.wav"), wav_bytes(100)).expect("write");
    s.store()
        .insert_comment(&NewComment {
            measurement_id: older.id,
            created_at: at(now - 200 * 86_400_000),
            file_name: "older.wav".into(),
            duration_ms: 1_000,
            size_bytes: 100,
            status: CommentStatus::Hangup,
        })
        .await
        .expect("comment");
    let task = spawn_retention_sweeper(
        s.store().clone(),
        rec.path().into(),
        90,
        Duration::from_secs(3600),
    )
    .expect("task");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while rec.path().join("older.wav").exists() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    task.abort();
    assert!(!rec.path().join("older.wav").exists());
    assert!(rec.path().join("recent.wav").exists());
    assert!(s
        .store()
        .get_measurement(&older.id.to_string())
        .await
        .expect("get")
        .is_some());
}
