//! The OpenAPI document lists every route the router serves.

use reqwest::StatusCode;

use super::start;

#[tokio::test]
async fn document_covers_every_operation() {
    let s = start().await;
    let (st, doc) = s.get("/api/openapi.json").await;
    assert_eq!(st, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap_or("").starts_with("3."));
    for (path, methods) in [
        ("/healthz", &["get"][..]),
        ("/metrics", &["get"]),
        ("/api/openapi.json", &["get"]),
        ("/api/v1/surveys", &["get"]),
        ("/api/v1/satisfaction", &["get"]),
        ("/api/v1/agents", &["get"]),
        ("/api/v1/queues", &["get"]),
        ("/api/v1/timeseries", &["get"]),
        ("/api/v1/responses", &["get"]),
        ("/api/v1/measurements", &["get"]),
        ("/api/v1/measurements/{id}", &["get"]),
        ("/api/v1/measurements/{id}/comment", &["get", "delete"]),
        ("/api/v1/measurements/{id}/follow-up", &["put", "delete"]),
        ("/api/v1/session", &["get", "post", "delete"]),
        ("/api/v1/events", &["get"]),
        ("/api/v1/webhooks", &["get", "post"]),
        ("/api/v1/webhooks/{id}", &["delete"]),
        ("/api/v1/webhooks/deliveries", &["get"]),
        (
            "/api/v1/webhooks/deliveries/{webhook_id}/{event_id}/retry",
            &["post"],
        ),
        ("/api/v1/prompts", &["get"]),
        (
            "/api/v1/prompts/{language}/{name}",
            &["get", "put", "delete"],
        ),
        (
            "/api/v1/prompts/{language}/{survey}/{name}",
            &["get", "put", "delete"],
        ),
    ] {
        for m in methods {
            assert!(doc["paths"][path][m].is_object(), "{m} {path} undocumented");
        }
    }
    assert_eq!(doc["paths"].as_object().map(|p| p.len()), Some(22));
    assert!(doc["components"]["schemas"]["ErrorJson"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    // The sign-in cookie carries the same token.
    assert_eq!(
        doc["components"]["securitySchemes"]["cookie"]["name"],
        "smileyd_token"
    );
}

/// Client generators name their functions after the operationIds, so each
/// must be there and unique (OpenAPI 3.0 §4.7.10).
#[tokio::test]
async fn operation_ids_are_unique() {
    let s = start().await;
    let (_, doc) = s.get("/api/openapi.json").await;
    let mut ids = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for (method, op) in item.as_object().into_iter().flatten() {
            let id = op["operationId"].as_str();
            assert!(
                id.is_some_and(|id| !id.is_empty()),
                "{method} {path}: no operationId"
            );
            ids.push(id.unwrap_or_default().to_owned());
        }
    }
    let count = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), count, "duplicate operationIds among {ids:?}");
}
