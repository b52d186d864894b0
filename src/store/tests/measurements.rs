//! Ratings in and figures out: round trips, idempotent inserts, counts and
//! filters, rankings, outcomes, pagination and concurrent writers, on both backends.

use super::*;

both_backends!(
    round_trip,
    insert_is_idempotent,
    satisfaction_counts,
    satisfaction_filters,
    per_agent_ranking,
    responses_by_outcome,
    pagination_is_stable_under_inserts,
    pagination_with_filter_and_ties,
    concurrent_writers,
);

async fn round_trip(store: Store) {
    store.ping().await.expect("ping");
    let m = NewMeasurement {
        id: Uuid::now_v7(),
        // Sub-millisecond precision is not kept; milliseconds are.
        created_at: at(T0 + 123) + chrono::Duration::microseconds(456),
        survey: "smiley".into(),
        kind: ScaleKind::Smiley,
        score: 0,
        digits: "2".into(),
        dtmf_source: DtmfSource::Info,
        agent: Some("O'Brien \"ob\"; DROP TABLE measurements; --".into()),
        queue: Some("billing ü".into()),
        original_call_id: Some("orig-1@pbx".into()),
        sip_call_id: "sip-1@pbx".into(),
        caller: None,
    };
    store.insert_measurement(&m).await.expect("insert");
    let got = store
        .get_measurement(&m.id.to_string())
        .await
        .expect("get")
        .expect("found");
    assert_eq!(
        got,
        Measurement {
            id: m.id,
            created_at: at(T0 + 123),
            survey: "smiley".into(),
            kind: ScaleKind::Smiley,
            score: 0,
            rating: "sad".into(),
            digit: "2".into(),
            dtmf_source: DtmfSource::Info,
            agent: m.agent.clone(),
            queue: m.queue.clone(),
            original_call_id: Some("orig-1@pbx".into()),
            sip_call_id: "sip-1@pbx".into(),
            caller: None,
            comment: None,
            follow_up: None,
        }
    );
    assert_eq!(
        store
            .get_measurement(&Uuid::now_v7().to_string())
            .await
            .expect("get"),
        None
    );
    assert_eq!(
        store.get_measurement("not-a-uuid").await.expect("get"),
        None
    );

    let happy = rating(Some("ann"), Rating::Happy, T0);
    store.insert_measurement(&happy).await.expect("insert");
    let got = store
        .get_measurement(&happy.id.to_string())
        .await
        .expect("get")
        .expect("found");
    assert_eq!(
        (got.score, got.rating.as_str(), got.digit.as_str()),
        (1, "happy", "1")
    );
}

async fn insert_is_idempotent(store: Store) {
    let m = rating(Some("ann"), Rating::Happy, T0);
    store.insert_measurement(&m).await.expect("first insert");
    store.insert_measurement(&m).await.expect("retried insert");
    let c = store
        .satisfaction(&Filter::default())
        .await
        .expect("counts");
    assert_eq!(c, Counts::smiley(1, 0));

    let rec = call(Some("ann"), CallOutcome::Rated, T0);
    store.record_call(&rec).await.expect("first record");
    store.record_call(&rec).await.expect("retried record");
    let r = store
        .responses(&Filter::default())
        .await
        .expect("responses");
    assert_eq!(r.offered, 1);
}

async fn satisfaction_counts(store: Store) {
    let empty = store
        .satisfaction(&Filter::default())
        .await
        .expect("counts");
    assert_eq!(empty, Counts::default());
    assert_eq!(empty.happy_pct(), None);

    insert_many(&store, Some("ann"), Rating::Happy, 41, T0).await;
    insert_many(&store, Some("ann"), Rating::Sad, 9, T0 + 1).await;
    insert_many(&store, Some("bob"), Rating::Sad, 3, T0 + 2).await;

    let ann = Filter {
        agent: Some("ann".into()),
        ..Filter::default()
    };
    let c = store.satisfaction(&ann).await.expect("counts");
    assert_eq!(c, Counts::smiley(41, 9));
    assert_eq!(c.total(), 50);
    assert_eq!(c.happy_pct(), Some(82.0));

    let all = store
        .satisfaction(&Filter::default())
        .await
        .expect("counts");
    assert_eq!(all, Counts::smiley(41, 12));
}

async fn satisfaction_filters(store: Store) {
    // ann: 2 happy at T0, 1 sad at T0+1h; in queue "sales" 1 happy at T0.
    insert_many(&store, Some("ann"), Rating::Happy, 2, T0).await;
    insert_many(&store, Some("ann"), Rating::Sad, 1, T0 + 3_600_000).await;
    let mut sales = rating(Some("ann"), Rating::Happy, T0);
    sales.queue = Some("sales".into());
    store.insert_measurement(&sales).await.expect("insert");
    insert_many(&store, None, Rating::Sad, 1, T0).await;

    let count = |f: Filter| {
        let store = store.clone();
        async move { store.satisfaction(&f).await.expect("counts") }
    };
    assert_eq!(
        count(Filter {
            queue: Some("sales".into()),
            ..Filter::default()
        })
        .await,
        Counts::smiley(1, 0)
    );
    // `from` is inclusive, `to` exclusive.
    assert_eq!(
        count(Filter {
            from: Some(at(T0)),
            to: Some(at(T0 + 3_600_000)),
            ..Filter::default()
        })
        .await,
        Counts::smiley(3, 1)
    );
    assert_eq!(
        count(Filter {
            from: Some(at(T0 + 3_600_000)),
            ..Filter::default()
        })
        .await,
        Counts::smiley(0, 1)
    );
    assert_eq!(
        count(Filter {
            agent: Some("ann".into()),
            rating: Some("sad".into()),
            ..Filter::default()
        })
        .await,
        Counts::smiley(0, 1)
    );
    assert_eq!(
        count(Filter {
            agent: Some("nobody".into()),
            ..Filter::default()
        })
        .await,
        Counts::default()
    );
}

async fn per_agent_ranking(store: Store) {
    // cat 100 % of 1, bob 100 % of 3, ann 75 % of 4, dan 75 % of 8, none 0 %.
    insert_many(&store, Some("cat"), Rating::Happy, 1, T0).await;
    insert_many(&store, Some("bob"), Rating::Happy, 3, T0).await;
    insert_many(&store, Some("ann"), Rating::Happy, 3, T0).await;
    insert_many(&store, Some("ann"), Rating::Sad, 1, T0).await;
    insert_many(&store, Some("dan"), Rating::Happy, 6, T0).await;
    insert_many(&store, Some("dan"), Rating::Sad, 2, T0).await;
    insert_many(&store, None, Rating::Sad, 2, T0).await;

    let rows = store
        .per_agent(&Filter::default())
        .await
        .expect("per agent");
    let names: Vec<Option<&str>> = rows.iter().map(|(a, _)| a.as_deref()).collect();
    assert_eq!(
        names,
        [Some("bob"), Some("cat"), Some("dan"), Some("ann"), None]
    );
    assert_eq!(rows[2].1, Counts::smiley(6, 2));
    assert_eq!(rows[4].1, Counts::smiley(0, 2));

    let later = Filter {
        from: Some(at(T0 + 1)),
        ..Filter::default()
    };
    assert!(store.per_agent(&later).await.expect("per agent").is_empty());
}

async fn responses_by_outcome(store: Store) {
    let empty = store
        .responses(&Filter::default())
        .await
        .expect("responses");
    assert_eq!(empty, Responses::default());
    assert_eq!(empty.response_rate(), None);

    for (outcome, n) in [
        (CallOutcome::Rated, 6),
        (CallOutcome::NoInput, 2),
        (CallOutcome::HungUp, 1),
        (CallOutcome::Failed, 1),
        (CallOutcome::MediaTimeout, 1),
    ] {
        for _ in 0..n {
            store
                .record_call(&call(Some("ann"), outcome, T0))
                .await
                .expect("record");
        }
    }
    store
        .record_call(&call(Some("bob"), CallOutcome::HungUp, T0 + 10))
        .await
        .expect("record");

    let ann = Filter {
        agent: Some("ann".into()),
        ..Filter::default()
    };
    let r = store.responses(&ann).await.expect("responses");
    assert_eq!(
        r,
        Responses {
            offered: 11,
            rated: 6,
            no_input: 2,
            hung_up: 1,
            failed: 1,
            media_timeout: 1,
        }
    );
    assert_eq!(r.response_rate(), Some(6.0 / 11.0));

    let window = Filter {
        from: Some(at(T0 + 10)),
        to: Some(at(T0 + 11)),
        ..Filter::default()
    };
    let r = store.responses(&window).await.expect("responses");
    assert_eq!((r.offered, r.hung_up), (1, 1));
}

/// Walks every page; returns ids in order.
async fn walk(store: &Store, f: &Filter, limit: u32) -> Vec<Uuid> {
    let mut ids = Vec::new();
    let mut cursor = None;
    loop {
        let (items, next) = store
            .list_measurements(f, limit, cursor)
            .await
            .expect("list");
        assert!(items.len() <= limit as usize);
        ids.extend(items.iter().map(|m| m.id));
        match next {
            Some(c) => cursor = Some(c),
            None => return ids,
        }
    }
}

async fn pagination_is_stable_under_inserts(store: Store) {
    // 25 ratings one millisecond apart, so their order is plain.
    let mut expected = Vec::new();
    for i in 0..25 {
        let m = rating(Some("ann"), Rating::Happy, T0 + i);
        store.insert_measurement(&m).await.expect("insert");
        expected.push(m.id);
    }
    expected.reverse(); // newest first

    let f = Filter::default();
    let (p1, c1) = store.list_measurements(&f, 10, None).await.expect("page 1");
    let c1 = c1.expect("more after page 1");
    // New ratings arrive at the head while the client is paging.
    insert_many(&store, Some("ann"), Rating::Sad, 3, T0 + 1_000).await;
    let (p2, c2) = store
        .list_measurements(&f, 10, Some(c1))
        .await
        .expect("page 2");
    let c2 = c2.expect("more after page 2");
    insert_many(&store, Some("ann"), Rating::Sad, 3, T0 + 2_000).await;
    // A cursor survives being sent to a client and back.
    let c2: Cursor = c2.to_string().parse().expect("cursor parses");
    let (p3, c3) = store
        .list_measurements(&f, 10, Some(c2))
        .await
        .expect("page 3");
    assert_eq!(c3, None);
    assert_eq!((p1.len(), p2.len(), p3.len()), (10, 10, 5));

    let seen: Vec<Uuid> = p1.iter().chain(&p2).chain(&p3).map(|m| m.id).collect();
    assert_eq!(seen, expected, "no duplicates, no gaps, newest first");

    // An exact multiple of the page size ends without an empty last page.
    let (_, next) = store
        .list_measurements(
            &Filter {
                rating: Some("sad".into()),
                ..Filter::default()
            },
            6,
            None,
        )
        .await
        .expect("list");
    assert_eq!(next, None);
}

async fn pagination_with_filter_and_ties(store: Store) {
    // Many ratings in the same millisecond: the id breaks the tie.
    insert_many(&store, Some("ann"), Rating::Happy, 17, T0).await;
    insert_many(&store, Some("ann"), Rating::Sad, 5, T0).await;
    insert_many(&store, Some("bob"), Rating::Happy, 4, T0).await;

    let ann_happy = Filter {
        agent: Some("ann".into()),
        rating: Some("happy".into()),
        ..Filter::default()
    };
    let ids = walk(&store, &ann_happy, 4).await;
    assert_eq!(ids.len(), 17);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 17);
    let mut sorted = ids.clone();
    sorted.sort_by_key(|id| std::cmp::Reverse(id.to_string()));
    assert_eq!(ids, sorted, "ties ordered by id, descending");

    let all = walk(&store, &Filter::default(), 1).await;
    assert_eq!(all.iter().collect::<HashSet<_>>().len(), 26);
    let big = walk(&store, &Filter::default(), 1000).await;
    assert_eq!(all, big);
}

async fn concurrent_writers(store: Store) {
    let mut tasks = Vec::new();
    for i in 0..40 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let r = if i % 4 == 0 {
                Rating::Sad
            } else {
                Rating::Happy
            };
            store
                .insert_measurement(&rating(Some("ann"), r, T0 + i))
                .await
                .expect("concurrent insert");
            store
                .record_call(&call(Some("ann"), CallOutcome::Rated, T0 + i))
                .await
                .expect("concurrent record");
            store.satisfaction(&Filter::default()).await.expect("read");
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let c = store
        .satisfaction(&Filter::default())
        .await
        .expect("counts");
    assert_eq!(c, Counts::smiley(30, 10));
    assert_eq!(
        store.responses(&Filter::default()).await.expect("r").rated,
        40
    );
}

#[test]
fn ranking_is_exact() {
    let a = Counts::smiley(1, 2);
    let b = Counts::smiley(2, 4);
    // Same share: more ratings first.
    assert_eq!(b.rank(&a, ScaleKind::Smiley), std::cmp::Ordering::Less);
    assert_eq!(Counts::smiley(0, 0).happy_pct(), None);
    assert_eq!(Counts::smiley(41, 9).happy_pct(), Some(82.0));
}
