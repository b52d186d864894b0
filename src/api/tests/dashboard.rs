//! The dashboard's files over HTTP: the HTML on every page path with its
//! Content-Security-Policy, hashed assets cached for a year and compressed,
//! within the size budget.

use reqwest::{Method, StatusCode};

use super::start;
use crate::api::dashboard::CSP;

/// The asset paths the HTML names.
fn asset_paths(html: &str) -> Vec<String> {
    html.split('"')
        .filter(|s| s.starts_with("/assets/"))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn pages_and_assets() {
    let s = start().await;
    let r = s.raw(Method::GET, "/", &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let h = r.headers().clone();
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    assert_eq!(h["content-security-policy"], CSP);
    assert!(CSP.contains("script-src 'self';") && !CSP.contains("unsafe"));
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["cache-control"], "no-cache");
    let tag = h["etag"].to_str().unwrap_or("").to_owned();
    let html = r.text().await.expect("html");
    let assets = asset_paths(&html);
    assert_eq!(assets.len(), 4, "{html}");

    // A reload revalidates the HTML: 304.
    let r = s
        .raw(Method::GET, "/", &[("if-none-match", tag.as_str())])
        .await;
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);

    // Every dashboard path is the same page; others are JSON 404s.
    for path in [
        "/agents",
        "/agents/Anna%20S%C3%B6derberg",
        "/queues",
        "/queues/support",
        "/comments",
        "/prompts",
        "/deliveries",
    ] {
        let r = s.raw(Method::GET, path, &[]).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert_eq!(r.text().await.expect("body"), html, "{path}");
    }
    assert_eq!(s.get("/nope").await.0, StatusCode::NOT_FOUND);
    assert_eq!(s.get("/assets/app.js").await.0, StatusCode::NOT_FOUND);

    let mut compressed = 0;
    for path in &assets {
        let r = s.raw(Method::GET, path, &[]).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let h = r.headers().clone();
        assert_eq!(h["cache-control"], "public, max-age=31536000, immutable");
        assert_eq!(h["x-content-type-options"], "nosniff");
        let ctype = h["content-type"].to_str().unwrap_or("");
        let want = match path.rsplit('.').next() {
            Some("js") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            _ => "image/svg+xml",
        };
        assert_eq!(ctype, want, "{path}");
        let plain = r.bytes().await.expect("body").len();
        let tag = h["etag"].to_str().unwrap_or("").to_owned();
        let r = s
            .raw(Method::GET, path, &[("if-none-match", tag.as_str())])
            .await;
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED, "{path}");

        for encoding in ["br", "gzip"] {
            let r = s
                .raw(Method::GET, path, &[("accept-encoding", encoding)])
                .await;
            assert_eq!(r.headers()["content-encoding"], encoding, "{path}");
            let size = r.bytes().await.expect("body").len();
            assert!(size < plain, "{path}: {encoding} {size} ≥ {plain}");
            if encoding == "gzip" {
                compressed += size;
            }
        }
    }
    // The budget: every asset and the page, gzip'd, under 300 KB.
    let r = s
        .raw(Method::GET, "/", &[("accept-encoding", "gzip")])
        .await;
    compressed += r.bytes().await.expect("body").len();
    assert!(compressed < 300_000, "{compressed} bytes compressed");
}
