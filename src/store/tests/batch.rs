//! The group commit and the tallies: a batch stores each rating once and in
//! order, rollups equal raw counts, answers on every scale counted per survey,
//! and journal lines of every age load.

use super::*;

both_backends!(
    batch_stores_each_once_in_order,
    deliveries_wake_the_dispatcher_only_when_queued,
    rollups_match_raw_counts,
    scales_counted_per_survey,
);

/// A batch stores new ratings and calls once each, skips ids already stored
/// or given twice, numbers their events in the order given and queues one
/// delivery per published event and active webhook.
async fn batch_stores_each_once_in_order(store: Store) {
    store
        .sync_config_webhooks(&[
            ("http://127.0.0.1:9/a".into(), "0123456789abcdef".into()),
            ("http://127.0.0.1:9/b".into(), "fedcba9876543210".into()),
        ])
        .await
        .expect("sync");
    let old = rating(Some("ann"), Rating::Happy, T0);
    store.insert_measurement(&old).await.expect("insert");
    let ms: Vec<NewMeasurement> = (0..10)
        .map(|i| {
            let r = if i % 3 == 0 {
                Rating::Sad
            } else {
                Rating::Happy
            };
            rating(Some(["ann", "bob"][i % 2]), r, T0 + i as i64)
        })
        .collect();
    let calls: Vec<CallRecord> = (0..4)
        .map(|i| call(Some("ann"), CallOutcome::Rated, T0 + i))
        .collect();
    let mut batch: Vec<&NewMeasurement> = ms.iter().collect();
    batch.insert(3, &old);
    batch.push(&ms[5]);
    let call_refs: Vec<&CallRecord> = calls.iter().chain([&calls[1]]).collect();
    store.write_batch(&batch, &call_refs).await.expect("batch");
    // Again: nothing is new.
    store
        .write_batch(&batch, &call_refs)
        .await
        .expect("batch again");

    let counts = store
        .satisfaction(&Filter::default())
        .await
        .expect("counts");
    assert_eq!(counts, Counts::smiley(1 + 6, 4));
    let bob = Filter {
        agent: Some("bob".into()),
        ..Filter::default()
    };
    let bob_counts = store.satisfaction(&bob).await.expect("bob");
    assert_eq!(bob_counts, Counts::smiley(3, 2));
    assert_eq!(
        store.responses(&Filter::default()).await.expect("r").rated,
        4
    );
    let events = store.events_after(0, 100).await.expect("events");
    let subjects: Vec<(EventKind, String)> = events
        .iter()
        .map(|e| (e.kind, e.subject_id.clone()))
        .collect();
    let want: Vec<(EventKind, String)> = std::iter::once(&old)
        .chain(&ms)
        .map(|m| (EventKind::Measurement, m.id.to_string()))
        .chain(calls.iter().map(|c| (EventKind::Call, c.id.to_string())))
        .collect();
    assert_eq!(subjects, want);
    let ids: Vec<i64> = events.iter().map(|e| e.id).collect();
    assert_eq!(ids, (1..=15).collect::<Vec<i64>>());
    // 11 rating events × 2 webhooks; call events are not published.
    let due = store.claim_deliveries(100, 60_000).await.expect("claim");
    assert_eq!(due.len(), 22);
    assert!(due.iter().all(|d| d.kind == EventKind::Measurement));
}

/// A batch wakes the webhook dispatcher only when it queued a delivery:
/// without an active webhook a rating does not make it read the outbox.
async fn deliveries_wake_the_dispatcher_only_when_queued(store: Store) {
    let wake = store.subscribe_deliveries();
    let mut events = store.subscribe();
    let first = rating(Some("ann"), Rating::Happy, T0);
    store.write_batch(&[&first], &[]).await.expect("batch");
    assert!(events.has_changed().expect("open"), "events announced");
    assert!(!wake.has_changed().expect("open"), "no webhook: no wake-up");
    events.borrow_and_update();

    store
        .sync_config_webhooks(&[("http://127.0.0.1:9/a".into(), "0123456789abcdef".into())])
        .await
        .expect("sync");
    let done = call(Some("ann"), CallOutcome::Rated, T0);
    store.write_batch(&[], &[&done]).await.expect("call batch");
    assert!(events.has_changed().expect("open"));
    assert!(
        !wake.has_changed().expect("open"),
        "call events are not published"
    );

    let second = rating(Some("ann"), Rating::Sad, T0 + 1);
    store.write_batch(&[&second], &[]).await.expect("batch");
    assert!(wake.has_changed().expect("open"), "a delivery was queued");
    let due = store.claim_deliveries(10, 60_000).await.expect("claim");
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].subject_id, second.id.to_string());
}

/// Figures read from the rollups (with their hour and raw corrections) equal
/// a plain count over the ratings, for windows with every kind of edge.
async fn rollups_match_raw_counts(store: Store) {
    let agents = [Some("ann"), Some("bob"), None];
    let mut all = Vec::new();
    for i in 0..400i64 {
        // Spread over ~12 days with odd offsets, so edges fall everywhere.
        let ms = T0 + (i * 2_617_403) % (12 * 86_400_000) - 3 * 86_400_000;
        let agent = agents[(i % 3) as usize];
        let r = if i % 4 == 0 {
            Rating::Sad
        } else {
            Rating::Happy
        };
        all.push(rating(agent, r, ms));
    }
    // Half one by one, half in group-commit batches whose tallies are summed
    // per row before they are written.
    for m in &all[..200] {
        store.insert_measurement(m).await.expect("insert");
    }
    for chunk in all[200..].chunks(67) {
        let refs: Vec<&NewMeasurement> = chunk.iter().collect();
        store.write_batch(&refs, &[]).await.expect("batch");
    }
    let hour = 3_600_000;
    let windows = [
        (None, None),
        (Some(T0), None),
        (None, Some(T0 + 17)),
        (
            Some(T0 - 86_400_000 - 11 * hour - 1_234),
            Some(T0 + 5 * 86_400_000 + 13 * hour + 999),
        ),
        (Some(T0 + 30 * 60_000), Some(T0 + 90 * 60_000)),
        (
            Some(T0 - 5 * 86_400_000 + 23 * hour),
            Some(T0 + 2 * 86_400_000 + hour),
        ),
    ];
    for (from, to) in windows {
        for agent in [None, Some("ann")] {
            let f = Filter {
                agent: agent.map(str::to_owned),
                from: from.map(at),
                to: to.map(at),
                ..Filter::default()
            };
            let inside = |m: &&NewMeasurement| {
                let t = m.created_at.timestamp_millis();
                from.is_none_or(|f| t >= f)
                    && to.is_none_or(|e| t < e)
                    && agent.is_none_or(|a| m.agent.as_deref() == Some(a))
            };
            let want = Counts::smiley(
                all.iter().filter(inside).filter(|m| m.score == 1).count() as i64,
                all.iter().filter(inside).filter(|m| m.score == 0).count() as i64,
            );
            assert_eq!(
                store.satisfaction(&f).await.expect("counts"),
                want,
                "{from:?}..{to:?} {agent:?}"
            );
            if agent.is_none() {
                let per = store.per_agent(&f).await.expect("per agent");
                let sum = per.iter().fold(Counts::default(), |mut a, (_, c)| {
                    a += *c;
                    a
                });
                assert_eq!(sum, want);
            }
        }
    }
    // Buckets of uneven widths add up to the whole.
    let edges = [
        T0 - 86_400_000 - 7,
        T0 - 5 * hour,
        T0 + 1,
        T0 + 86_400_000 + 30 * 60_000,
        T0 + 9 * 86_400_000,
    ];
    let series = store
        .timeseries(&Filter::default(), &edges)
        .await
        .expect("series");
    for (i, c) in series.iter().enumerate() {
        let n = all
            .iter()
            .filter(|m| {
                let t = m.created_at.timestamp_millis();
                t >= edges[i] && t < edges[i + 1]
            })
            .count() as i64;
        assert_eq!(c.total(), n, "bucket {i}");
    }
}

/// Answers on every scale, per survey: each survey's counts hold only its
/// own answers, the kind keeps a changed scale apart, and windows read from
/// the tallies equal a plain count.
async fn scales_counted_per_survey(store: Store) {
    let mk = |survey: &str, kind: ScaleKind, score: u8, agent: &str, ms: i64| NewMeasurement {
        id: Uuid::now_v7(),
        created_at: at(ms),
        survey: survey.into(),
        kind,
        score,
        digits: score.to_string(),
        dtmf_source: DtmfSource::Info,
        agent: Some(agent.into()),
        queue: Some("q".into()),
        original_call_id: None,
        sip_call_id: format!("{}@pbx", Uuid::now_v7().simple()),
        caller: None,
    };
    let mut all = Vec::new();
    for i in 0..300i64 {
        let ms = T0 + (i * 7_919_311) % (9 * 86_400_000) - 2 * 86_400_000;
        let agent = if i % 3 == 0 { "ann" } else { "bob" };
        let m = match i % 3 {
            0 => mk("csat", ScaleKind::Csat, 1 + (i % 5) as u8, agent, ms),
            1 => mk("nps", ScaleKind::Nps, (i % 11) as u8, agent, ms),
            // Same name as the nps survey, older scale: kept apart by kind.
            _ => mk("nps", ScaleKind::Csat, 1 + (i % 5) as u8, agent, ms),
        };
        store.insert_measurement(&m).await.expect("insert");
        all.push(m);
    }
    for (survey, kind) in [
        ("csat", ScaleKind::Csat),
        ("nps", ScaleKind::Nps),
        ("nps", ScaleKind::Csat),
    ] {
        for (from, to) in [
            (None, None),
            (
                Some(T0 + 1_234),
                Some(T0 + 3 * 86_400_000 + 5 * 3_600_000 + 17),
            ),
        ] {
            let f = Filter {
                survey: Some(survey.into()),
                kind: Some(kind),
                from: from.map(at),
                to: to.map(at),
                ..Filter::default()
            };
            let mut want = Counts::default();
            for m in all.iter().filter(|m| {
                let t = m.created_at.timestamp_millis();
                m.survey == survey
                    && m.kind == kind
                    && from.is_none_or(|f| t >= f)
                    && to.is_none_or(|e| t < e)
            }) {
                want.by_score[usize::from(m.score)] += 1;
            }
            assert!(want.total() > 0);
            assert_eq!(
                store.satisfaction(&f).await.expect("counts"),
                want,
                "{survey} {kind:?} {from:?}..{to:?}"
            );
            let per = store.per_agent(&f).await.expect("per agent");
            let sum = per.iter().fold(Counts::default(), |mut a, (_, c)| {
                a += *c;
                a
            });
            assert_eq!(sum, want);
        }
    }
    // A CSAT rating filter keeps that score only.
    let fives = Filter {
        survey: Some("csat".into()),
        kind: Some(ScaleKind::Csat),
        rating: Some("5".into()),
        ..Filter::default()
    };
    let c = store.satisfaction(&fives).await.expect("counts");
    assert_eq!(c.total(), c.of(5));
    assert_eq!(
        store.survey_kind("csat").await.expect("kind"),
        Some(ScaleKind::Csat)
    );
    assert_eq!(store.survey_kind("never").await.expect("kind"), None);
}

#[test]
fn figures_per_scale() {
    // CSAT: the published example, 160 of 200 rate 4 or 5.
    let csat = Counts::from_scores(&[(5, 100), (4, 60), (3, 20), (2, 12), (1, 8)]);
    assert_eq!(csat.total(), 200);
    assert_eq!(csat.csat_pct(), Some(80.0));
    assert_eq!(csat.dsat_pct(), Some(10.0));
    // NPS: 5 promoters, 2 passives, 3 detractors of 10 → +20.
    let nps = Counts::from_scores(&[(10, 2), (9, 3), (8, 1), (7, 1), (6, 1), (3, 1), (0, 1)]);
    assert_eq!(
        (nps.promoters(), nps.passives(), nps.detractors()),
        (5, 2, 3)
    );
    assert_eq!(nps.nps(), Some(20.0));
    assert_eq!(Counts::from_scores(&[(0, 4)]).nps(), Some(-100.0));
    assert_eq!(Counts::from_scores(&[(10, 4)]).nps(), Some(100.0));
    assert_eq!(Counts::default().nps(), None);
    assert_eq!(Counts::default().csat_pct(), None);
    // Ranked by NPS, exactly: +20 over 10 beats +0 over 2, more answers break ties.
    let zero = Counts::from_scores(&[(10, 1), (0, 1)]);
    assert_eq!(nps.rank(&zero, ScaleKind::Nps), std::cmp::Ordering::Less);
    let twice = Counts::from_scores(&[(10, 2), (0, 2)]);
    assert_eq!(twice.rank(&zero, ScaleKind::Nps), std::cmp::Ordering::Less);
    // Ranked by CSAT %: 80 % beats 50 %.
    let half = Counts::from_scores(&[(5, 1), (1, 1)]);
    assert_eq!(csat.rank(&half, ScaleKind::Csat), std::cmp::Ordering::Less);
}

#[test]
fn journal_lines_of_every_age_load() {
    // Written before scales: a smiley rating and one digit.
    let old = r#"{"id":"0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b","created_at":"2024-11-23T12:00:00Z","survey":"smiley","rating":"sad","digit":"2","dtmf_source":"info","agent":"ann","queue":null,"original_call_id":null,"sip_call_id":"c@pbx","caller":null}"#;
    let m: NewMeasurement = serde_json::from_str(old).expect("old line");
    assert_eq!(
        (m.kind, m.score, m.digits.as_str(), m.rating()),
        (ScaleKind::Smiley, 0, "2", "sad".to_string())
    );
    // Now: any scale, the keys as pressed.
    let nps = NewMeasurement {
        kind: ScaleKind::Nps,
        score: 10,
        digits: "10".into(),
        ..m.clone()
    };
    let line = serde_json::to_string(&nps).expect("serialise");
    let back: NewMeasurement = serde_json::from_str(&line).expect("new line");
    assert_eq!(back, nps);
    assert_eq!(back.rating(), "10");
    // A score off its scale is refused.
    let bad = line.replace(r#""score":10"#, r#""score":11"#);
    assert!(serde_json::from_str::<NewMeasurement>(&bad).is_err());
    let none = old.replace(r#""rating":"sad","#, "");
    assert!(serde_json::from_str::<NewMeasurement>(&none).is_err());
}
