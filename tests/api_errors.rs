//! The HTTP API's answers when there is nothing to report and when a
//! parameter is wrong.

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_parameters_get_400_naming_the_parameter() {
    let d = Daemon::start().await;
    for path in [
        "/api/v1/measurements",
        "/api/v1/satisfaction",
        "/api/v1/responses",
    ] {
        let (status, ct, body) = d
            .api
            .get(path, &[("agent", "x"), ("from", "yesterday")])
            .await;
        assert_eq!(status, 400, "GET {path}?from=yesterday → {status}: {body}");
        assert!(
            ct.starts_with("application/json"),
            "{path}: content-type {ct:?}"
        );
        let err = &body["error"];
        assert!(
            err["code"].is_string(),
            "{path}: error.code missing: {body}"
        );
        let msg = err["message"].as_str().unwrap_or_default();
        assert!(
            msg.contains("from"),
            "{path}: error.message should name `from`: {body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_agent_has_empty_figures() {
    let d = Daemon::start().await;
    let a = agent("nobody");
    let m = d.api.measurements(&a).await;
    assert_eq!(m["items"].as_array().map(|x| x.len()), Some(0), "{m}");
    assert!(
        m.get("next_cursor").is_some(),
        "next_cursor field missing: {m}"
    );
    assert!(
        m["next_cursor"].is_null(),
        "no next page for an empty list: {m}"
    );
    let s = d.api.satisfaction(&a).await;
    assert_eq!(num(&s["total"]), 0.0, "{s}");
    assert_eq!(num(&s["happy"]), 0.0, "{s}");
    assert_eq!(num(&s["sad"]), 0.0, "{s}");
    let r = d.api.responses(&a).await;
    for k in [
        "offered",
        "rated",
        "no_input",
        "hung_up",
        "failed",
        "media_timeout",
    ] {
        assert_eq!(num(&r[k]), 0.0, "{k}: {r}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_is_ok() {
    let d = Daemon::start().await;
    assert_eq!(d.api.status("/healthz").await, Some(200));
}
