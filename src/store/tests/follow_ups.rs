//! Follow-ups on both backends: marked, replaced, listed with their
//! measurement, filtered on, reopened, each change an event.

use super::*;

both_backends!(follow_ups_round_trip, follow_up_filters);

async fn follow_ups_round_trip(store: Store) {
    let m = rating(Some("ann"), Rating::Sad, T0);
    store.insert_measurement(&m).await.expect("insert");
    let id = m.id.to_string();
    let lead = Actor::Token("lead-anna".into());

    assert_eq!(
        store
            .mark_followed_up(&Uuid::now_v7().to_string(), &lead, "x")
            .await
            .expect("mark"),
        Marked::NoMeasurement
    );
    assert_eq!(store.follow_up(&id).await.expect("get"), None);
    assert_eq!(
        store
            .mark_followed_up(&id, &lead, "called back, sorted")
            .await
            .expect("mark"),
        Marked::Created
    );
    assert_eq!(
        store
            .mark_followed_up(&id, &lead, "called back, sorted")
            .await
            .expect("again"),
        Marked::Unchanged
    );
    let f = store.follow_up(&id).await.expect("get").expect("stored");
    assert_eq!(f.by, lead);
    assert_eq!(f.note, "called back, sorted");
    assert!((Utc::now() - f.created_at).num_seconds().abs() < 60);

    assert_eq!(
        store
            .mark_followed_up(&id, &Actor::Loopback, "")
            .await
            .expect("replace"),
        Marked::Replaced
    );
    let listed = store.get_measurement(&id).await.expect("get").expect("m");
    let f = listed.follow_up.expect("joined");
    assert_eq!((f.by, f.note.as_str()), (Actor::Loopback, ""));

    assert!(store.reopen(&id).await.expect("reopen"));
    assert!(!store.reopen(&id).await.expect("again"));
    assert_eq!(
        store
            .get_measurement(&id)
            .await
            .expect("get")
            .expect("m")
            .follow_up,
        None
    );

    let kinds: Vec<EventKind> = store
        .events_after(0, 100)
        .await
        .expect("events")
        .iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            EventKind::Measurement,
            EventKind::FollowUp,
            EventKind::FollowUp,
            EventKind::FollowUpDeleted,
        ],
        "one event per change, none for a repeat"
    );
}

async fn follow_up_filters(store: Store) {
    let sad = rating(Some("ann"), Rating::Sad, T0);
    let happy = rating(Some("ann"), Rating::Happy, T0 + 1);
    let done = rating(Some("ann"), Rating::Sad, T0 + 2);
    for m in [&sad, &happy, &done] {
        store.insert_measurement(m).await.expect("insert");
    }
    store
        .mark_followed_up(&done.id.to_string(), &Actor::Token("lead".into()), "ok")
        .await
        .expect("mark");
    let ids = |f: Filter| {
        let store = store.clone();
        async move {
            let (items, _) = store.list_measurements(&f, 10, None).await.expect("list");
            items.into_iter().map(|m| m.id).collect::<Vec<_>>()
        }
    };
    let open = Filter {
        followed_up: Some(false),
        ..Filter::default()
    };
    assert_eq!(ids(open).await, [happy.id, sad.id]);
    let closed = Filter {
        followed_up: Some(true),
        ..Filter::default()
    };
    assert_eq!(ids(closed).await, [done.id]);
    let unhappy_open = Filter {
        followed_up: Some(false),
        score_max: Some(0),
        ..Filter::default()
    };
    assert_eq!(ids(unhappy_open).await, [sad.id]);
}
