//! The browser dashboard: a handful of hand-written files (HTML, CSS, JS,
//! a message catalogue) embedded in the binary and served under `/` on the
//! API's port. The pages call the JSON API like any other client, signed in
//! by the session cookie (`session.rs`), so they show exactly the API's
//! numbers and add no second way to read the data.
//!
//! Assets are served under names that carry a hash of their bytes
//! (`app.3f2a9c1b7d.js`), cached for a year; the HTML that names them is
//! revalidated every time (ETag), so a new binary's files are picked up on
//! the next load. The HTML carries a strict Content-Security-Policy: scripts,
//! styles and media from this origin only, no inline script, no eval.

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::body::Body;
use axum::extract::Path;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};
use tower_http::compression::CompressionLayer;

use super::error::ApiError;
use super::etag::Tag;
use super::state::ApiState;

/// What the pages may load and run: their own files and API, nothing else.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                       img-src 'self'; media-src 'self'; connect-src 'self'; \
                       manifest-src 'self'; base-uri 'none'; form-action 'self'; \
                       frame-ancestors 'none'";

/// The embedded files: name in the HTML, bytes, type.
const FILES: [(&str, &[u8], &str); 4] = [
    (
        "app.js",
        include_bytes!("assets/app.js"),
        "text/javascript; charset=utf-8",
    ),
    (
        "messages.js",
        include_bytes!("assets/messages.js"),
        "text/javascript; charset=utf-8",
    ),
    (
        "style.css",
        include_bytes!("assets/style.css"),
        "text/css; charset=utf-8",
    ),
    (
        "icon.svg",
        include_bytes!("assets/icon.svg"),
        "image/svg+xml",
    ),
];

const INDEX: &str = include_str!("assets/index.html");

/// The paths that open the dashboard (the page script picks the view).
pub const PAGES: [&str; 8] = [
    "/",
    "/agents",
    "/agents/{name}",
    "/queues",
    "/queues/{name}",
    "/comments",
    "/prompts",
    "/deliveries",
];

struct Asset {
    bytes: &'static [u8],
    content_type: &'static str,
    tag: Tag,
}

struct Built {
    /// The HTML with hashed asset names.
    index: String,
    /// By hashed name.
    assets: HashMap<String, Asset>,
}

/// `app.js` → `app.<10 hex of SHA-256>.js`.
fn hashed_name(name: &str, bytes: &[u8]) -> String {
    let digest = hex::encode(&Sha256::digest(bytes)[..5]);
    match name.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}.{digest}.{ext}"),
        None => format!("{name}.{digest}"),
    }
}

static BUILT: LazyLock<Built> = LazyLock::new(|| {
    let mut index = INDEX.to_owned();
    let mut assets = HashMap::new();
    for (name, bytes, content_type) in FILES {
        let hashed = hashed_name(name, bytes);
        index = index.replace(&format!("/assets/{name}\""), &format!("/assets/{hashed}\""));
        assets.insert(
            hashed,
            Asset {
                bytes,
                content_type,
                tag: Tag::of_bytes(bytes),
            },
        );
    }
    Built { index, assets }
});

/// The page routes and `/assets/…`, compressed (gzip or brotli, as the
/// browser offers) by tower-http.
pub fn routes() -> Router<ApiState> {
    let mut r = Router::new();
    for page in PAGES {
        r = r.route(page, get(page_html));
    }
    r.route("/assets/{file}", get(asset))
        .layer(CompressionLayer::new())
}

/// Every dashboard path answers the same HTML; its ETag (the body's hash,
/// from the API's ETag layer) makes a reload a 304.
async fn page_html() -> Response {
    let mut r = BUILT.index.clone().into_response();
    let h = r.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// A hashed asset: its name changes with its bytes, so it is cached for a
/// year without revalidation.
async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    let a = BUILT
        .assets
        .get(&file)
        .ok_or_else(|| ApiError::not_found("no such dashboard file"))?;
    if a.tag.matches(&headers) {
        return Ok(a.tag.not_modified());
    }
    let mut r = Body::from(a.bytes).into_response();
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(a.content_type));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    Ok(a.tag.attach(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_html_names_every_asset_by_its_hash() {
        for (name, bytes, _) in FILES {
            let hashed = hashed_name(name, bytes);
            assert!(
                BUILT.index.contains(&format!("/assets/{hashed}\"")),
                "{name} is not referenced as {hashed}"
            );
            assert!(!BUILT.index.contains(&format!("/assets/{name}\"")));
        }
        assert_eq!(hashed_name("app.js", b"x").len(), "app.".len() + 10 + 3);
    }

    #[test]
    fn no_inline_script_or_style_in_the_html() {
        let html = INDEX.to_ascii_lowercase();
        assert!(!html.contains("<script>"), "inline script");
        assert!(!html.contains(" style="), "inline style");
        assert!(!html.contains("<style"), "style element");
        let handler = regex::Regex::new(r"\son[a-z]+\s*=").unwrap();
        assert!(!handler.is_match(&html), "event handler attribute");
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "external reference"
        );
    }
}
