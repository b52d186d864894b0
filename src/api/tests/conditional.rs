//! ETags on every GET; If-None-Match → 304 without a body.

use reqwest::{Method, StatusCode};

use super::{start, Server};
use crate::model::Rating;
use crate::store::tests::{insert_many, T0};

async fn etag_of(s: &Server, path: &str) -> String {
    let r = s.raw(Method::GET, path, &[]).await;
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    assert_eq!(
        r.headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("private, no-cache"),
        "{path}"
    );
    r.headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("{path}: no ETag"))
        .to_owned()
}

async fn status_if_none_match(s: &Server, path: &str, tag: &str) -> (StatusCode, usize) {
    let r = s.raw(Method::GET, path, &[("if-none-match", tag)]).await;
    let st = r.status();
    (st, r.bytes().await.expect("body").len())
}

#[tokio::test]
async fn every_get_revalidates() {
    let s = start().await;
    insert_many(s.store(), Some("ann"), Rating::Happy, 3, T0).await;
    let paths = [
        "/healthz",
        "/api/v1/satisfaction?agent=ann",
        "/api/v1/agents",
        "/api/v1/timeseries?from=2024-11-20T00:00:00Z&to=2024-11-25T00:00:00Z",
        "/api/v1/responses",
        "/api/v1/measurements",
        "/api/v1/events",
        "/metrics",
    ];
    let mut tags = Vec::new();
    for p in paths {
        let tag = etag_of(&s, p).await;
        let (st, len) = status_if_none_match(&s, p, &tag).await;
        if p == "/metrics" {
            // Counters move between two requests; a match is not guaranteed.
            assert!(st == StatusCode::OK || st == StatusCode::NOT_MODIFIED);
        } else {
            assert_eq!((st, len), (StatusCode::NOT_MODIFIED, 0), "{p}");
        }
        assert_eq!(
            status_if_none_match(&s, p, "\"other\"").await.0,
            StatusCode::OK,
            "{p}"
        );
        tags.push(tag);
    }
    // A new rating changes every figure's tag.
    insert_many(s.store(), Some("ann"), Rating::Sad, 1, T0).await;
    for (p, old) in paths.iter().zip(&tags).skip(1).take(6) {
        let (st, _) = status_if_none_match(&s, p, old).await;
        assert_eq!(st, StatusCode::OK, "{p} must change after a new rating");
    }
    // Different filters never share a tag.
    assert_ne!(
        etag_of(&s, "/api/v1/satisfaction?agent=ann").await,
        etag_of(&s, "/api/v1/satisfaction?agent=bob").await
    );
}
