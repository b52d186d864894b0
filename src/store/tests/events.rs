//! Comments, events, webhook deliveries claimed once, and tokens, on both backends.

use super::*;

both_backends!(comments_and_events, deliveries_claimed_once, tokens,);

async fn comments_and_events(store: Store) {
    assert_eq!(store.last_event_id().await.expect("last"), 0);
    let m = rating(Some("ann"), Rating::Sad, T0);
    store.insert_measurement(&m).await.expect("insert");
    store
        .insert_measurement(&m)
        .await
        .expect("again: no new event");
    let c = NewComment {
        measurement_id: m.id,
        created_at: at(T0 + 9_000),
        file_name: format!("{}.wav", m.id),
        duration_ms: 8_000,
        size_bytes: 128_044,
        status: crate::model::CommentStatus::MaxLength,
    };
    store.insert_comment(&c).await.expect("comment");
    store.insert_comment(&c).await.expect("idempotent");
    let got = store
        .comment(&m.id.to_string())
        .await
        .expect("get")
        .expect("row");
    assert_eq!(got.file_name, c.file_name);
    assert_eq!(got.status, crate::model::CommentStatus::MaxLength);
    assert_eq!(got.deleted_at, None);
    let listed = store
        .get_measurement(&m.id.to_string())
        .await
        .expect("get")
        .expect("m");
    assert_eq!(listed.comment.as_ref().map(|c| c.size_bytes), Some(128_044));
    assert_eq!(
        store
            .comments_older_than(at(T0 + 10_000), 10)
            .await
            .expect("old")
            .len(),
        1
    );
    assert_eq!(
        store
            .comments_older_than(at(T0 + 9_000), 10)
            .await
            .expect("old")
            .len(),
        0
    );
    assert!(store
        .mark_comment_deleted(&m.id.to_string(), "erasure")
        .await
        .expect("mark"));
    assert!(!store
        .mark_comment_deleted(&m.id.to_string(), "erasure")
        .await
        .expect("again"));
    assert_eq!(
        store
            .comments_older_than(at(T0 + 10_000), 10)
            .await
            .expect("old")
            .len(),
        0
    );
    let got = store
        .comment(&m.id.to_string())
        .await
        .expect("get")
        .expect("row");
    assert_eq!(got.deleted_reason.as_deref(), Some("erasure"));
    store
        .record_call(&call(Some("ann"), CallOutcome::Rated, T0))
        .await
        .expect("call");
    let events = store.events_after(0, 100).await.expect("events");
    let kinds: Vec<EventKind> = events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            EventKind::Measurement,
            EventKind::Comment,
            EventKind::CommentDeleted,
            EventKind::Call
        ]
    );
    assert!(events.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(store.last_event_id().await.expect("last"), events[3].id);
    assert_eq!(
        store.events_after(events[1].id, 1).await.expect("page")[0].kind,
        EventKind::CommentDeleted
    );
    assert!(store
        .comment(&Uuid::now_v7().to_string())
        .await
        .expect("none")
        .is_none());
}

async fn deliveries_claimed_once(store: Store) {
    store
        .sync_config_webhooks(&[("http://127.0.0.1:9/a".into(), "0123456789abcdef".into())])
        .await
        .expect("sync");
    store
        .insert_measurement(&rating(None, Rating::Happy, T0))
        .await
        .expect("insert");
    // Two dispatchers race: each delivery goes to exactly one.
    let (a, b) = tokio::join!(
        store.claim_deliveries(10, 60_000),
        store.claim_deliveries(10, 60_000)
    );
    let (a, b) = (a.expect("claim"), b.expect("claim"));
    assert_eq!(a.len() + b.len(), 1);
    let d = a.into_iter().chain(b).next().expect("one");
    assert_eq!(d.kind, EventKind::Measurement);
    assert!(store
        .claim_deliveries(10, 60_000)
        .await
        .expect("leased")
        .is_empty());
    store
        .finish_delivery(
            d.webhook_id,
            d.event_id,
            &Attempt::Failed {
                status: Some(500),
                error: "HTTP 500".into(),
                retry_at: Some(at(T0)),
            },
        )
        .await
        .expect("finish");
    let again = store.claim_deliveries(10, 60_000).await.expect("due again");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 1);
    store
        .finish_delivery(
            d.webhook_id,
            d.event_id,
            &Attempt::Delivered { status: 204 },
        )
        .await
        .expect("finish");
    let rows = store
        .list_deliveries(None, None, None, 10)
        .await
        .expect("list");
    assert_eq!(rows[0].status, DeliveryStatus::Delivered);
    assert_eq!(rows[0].attempts, 2);
    // Dropped from the config: no new deliveries.
    store.sync_config_webhooks(&[]).await.expect("sync");
    store
        .insert_measurement(&rating(None, Rating::Happy, T0))
        .await
        .expect("insert");
    assert_eq!(
        store
            .list_deliveries(None, None, None, 10)
            .await
            .expect("list")
            .len(),
        1
    );
    assert!(!store.list_webhooks().await.expect("hooks")[0].active);
}

async fn tokens(store: Store) {
    assert!(!store.any_tokens().await.expect("any"));
    let (info, secret) = store
        .create_token("wallboard", Scope::Read)
        .await
        .expect("create");
    assert!(secret.starts_with("smileyd_") && secret.len() > 40);
    assert!(store.any_tokens().await.expect("any"));
    assert_eq!(
        store.token_scope(&secret).await.expect("scope"),
        Some(Scope::Read)
    );
    assert_eq!(
        store.token_scope("smileyd_nope").await.expect("scope"),
        None
    );
    assert_eq!(
        store
            .revoke_token(&info.id.to_string())
            .await
            .expect("revoke"),
        1
    );
    assert_eq!(store.token_scope(&secret).await.expect("scope"), None);
    assert!(!store.any_tokens().await.expect("any"));
}
