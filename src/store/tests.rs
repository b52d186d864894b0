//! Store tests against real databases: a SQLite file in a temp dir always,
//! and a freshly created PostgreSQL database when one answers on
//! 127.0.0.1:5432 (or at `SMILEYD_TEST_PG`), dropped afterwards.

use std::collections::HashSet;
use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use sqlx::{AnyConnection, Connection, Executor};
use uuid::Uuid;

use super::*;
use crate::model::{CallOutcome, DtmfSource, Rating, ScaleKind};

/// A throwaway SQLite database; the directory goes when this is dropped.
pub(crate) struct TempSqlite {
    pub store: Store,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl TempSqlite {
    pub(crate) async fn new() -> TempSqlite {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("smileyd.db").display());
        let store = Store::connect(&url).await.expect("open sqlite store");
        TempSqlite {
            store,
            url,
            _dir: dir,
        }
    }
}

fn pg_base() -> String {
    std::env::var("SMILEYD_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

async fn pg_admin() -> Option<AnyConnection> {
    sqlx::any::install_default_drivers();
    let url = format!("{}/postgres", pg_base());
    match tokio::time::timeout(Duration::from_secs(3), AnyConnection::connect(&url)).await {
        Ok(Ok(c)) => Some(c),
        _ => None,
    }
}

/// Set (to anything but empty or 0) where PostgreSQL must be there, as in
/// CI: its tests then fail instead of being skipped when no server answers.
const REQUIRE_PG: &str = "SMILEYD_TEST_REQUIRE_PG";

/// A new, empty PostgreSQL database: the admin connection and the
/// database's name. None (with a note) when no server answers, unless
/// `SMILEYD_TEST_REQUIRE_PG` says one must.
async fn create_pg_database(test: &str) -> Option<(AnyConnection, String)> {
    let Some(mut admin) = pg_admin().await else {
        let required = std::env::var(REQUIRE_PG).is_ok_and(|v| !v.is_empty() && v != "0");
        assert!(
            !required,
            "PostgreSQL not reachable at {} but {REQUIRE_PG} is set: {test} on postgres cannot run",
            pg_base()
        );
        eprintln!(
            "note: PostgreSQL not reachable at {}; skipping {test} on postgres",
            pg_base()
        );
        return None;
    };
    let db = format!("smileyd_test_{}", Uuid::now_v7().simple());
    admin
        .execute(format!("CREATE DATABASE {db}").as_str())
        .await
        .expect("create test database");
    Some((admin, db))
}

/// Drops a database of `create_pg_database`, then re-raises the test's
/// panic, if it had one.
async fn drop_pg_database(
    mut admin: AnyConnection,
    db: &str,
    outcome: Result<(), Box<dyn std::any::Any + Send>>,
) {
    admin
        .execute(format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)").as_str())
        .await
        .expect("drop test database");
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Runs `test` on a store backed by a new PostgreSQL database, dropping the
/// database afterwards even when the test panics. Skips (with a note) when no
/// server answers.
async fn on_postgres<F, Fut>(name: &str, test: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some((admin, db)) = create_pg_database(name).await else {
        return;
    };
    let outcome = match Store::connect(&format!("{}/{db}", pg_base())).await {
        Ok(store) => {
            let r = tokio::spawn(test(store.clone())).await;
            store.close().await;
            r.map_err(|e| e.into_panic())
        }
        Err(e) => Err(Box::new(format!("open postgres store: {e}")) as Box<_>),
    };
    drop_pg_database(admin, &db, outcome).await;
}

/// Declares `$name` as a test on SQLite and on PostgreSQL.
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                let db = super::TempSqlite::new().await;
                super::$name(db.store.clone()).await;
            }

            #[tokio::test]
            async fn postgres() {
                super::on_postgres(stringify!($name), super::$name).await;
            }
        }
    )*};
}

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
    rollups_match_raw_counts,
    batch_stores_each_once_in_order,
    comments_and_events,
    deliveries_claimed_once,
    tokens,
    scales_counted_per_survey,
);

pub(crate) fn at(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().expect("valid ms")
}

/// Base time for the fixtures: 2024-11-23T12:00:00Z.
pub(crate) const T0: i64 = 1_732_363_200_000;

pub(crate) fn rating(agent: Option<&str>, r: Rating, ms: i64) -> NewMeasurement {
    NewMeasurement {
        id: Uuid::now_v7(),
        created_at: at(ms),
        survey: "smiley".into(),
        kind: ScaleKind::Smiley,
        score: smiley_score(r),
        digits: if r == Rating::Happy { "1" } else { "2" }.into(),
        dtmf_source: DtmfSource::Rfc4733,
        agent: agent.map(str::to_owned),
        queue: Some("support".into()),
        original_call_id: None,
        sip_call_id: format!("{}@pbx", Uuid::now_v7().simple()),
        caller: Some("+4930123456".into()),
    }
}

pub(crate) async fn insert_many(store: &Store, agent: Option<&str>, r: Rating, n: usize, ms: i64) {
    for _ in 0..n {
        store
            .insert_measurement(&rating(agent, r, ms))
            .await
            .expect("insert");
    }
}

fn call(agent: Option<&str>, outcome: CallOutcome, ms: i64) -> CallRecord {
    CallRecord {
        id: Uuid::now_v7(),
        sip_call_id: format!("{}@pbx", Uuid::now_v7().simple()),
        started_at: at(ms),
        ended_at: at(ms + 15_000),
        survey: "smiley".into(),
        agent: agent.map(str::to_owned),
        queue: Some("support".into()),
        caller: None,
        outcome,
        measurement_id: (outcome == CallOutcome::Rated).then(Uuid::now_v7),
    }
}

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

#[tokio::test]
async fn sqlite_file_is_created_with_durable_settings() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sub-less.db");
    assert!(!path.exists());
    let url = format!("sqlite://{}", path.display());
    let store = Store::connect(&url).await.expect("open");
    assert!(path.exists(), "file created on first start");
    assert_eq!(store.backend(), Backend::Sqlite);

    let mut conn = store.pool.acquire().await.expect("conn");
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut *conn)
        .await
        .expect("journal_mode");
    assert_eq!(mode.to_lowercase(), "wal");
    // 2 = FULL: the WAL is synced on every commit.
    let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(&mut *conn)
        .await
        .expect("synchronous");
    assert_eq!(sync, 2);
    let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
        .fetch_one(&mut *conn)
        .await
        .expect("busy_timeout");
    assert!(busy >= 1000, "busy_timeout {busy}");
    drop(conn);

    let m = rating(Some("ann"), Rating::Happy, T0);
    store.insert_measurement(&m).await.expect("insert");
    store.close().await;

    // Reopening applies no migration twice and finds the committed row.
    let again = Store::connect(&url).await.expect("reopen");
    assert!(again
        .get_measurement(&m.id.to_string())
        .await
        .expect("get")
        .is_some());
}

#[tokio::test]
async fn committed_rating_is_visible_to_another_process_view() {
    // A second, independent pool stands in for another process: what
    // insert_measurement acknowledged must already be in the file.
    let db = TempSqlite::new().await;
    let other = Store::connect(&db.url).await.expect("second pool");
    let m = rating(Some("ann"), Rating::Sad, T0);
    db.store.insert_measurement(&m).await.expect("insert");
    assert_eq!(
        other.get_measurement(&m.id.to_string()).await.expect("get"),
        db.store
            .get_measurement(&m.id.to_string())
            .await
            .expect("get")
    );
}

#[tokio::test]
async fn in_memory_sqlite_works() {
    let store = Store::connect("sqlite::memory:").await.expect("open");
    store
        .insert_measurement(&rating(None, Rating::Happy, T0))
        .await
        .expect("insert");
    assert_eq!(
        store
            .satisfaction(&Filter::default())
            .await
            .expect("counts"),
        Counts::smiley(1, 0)
    );
}

#[tokio::test]
async fn unsupported_url_is_an_error() {
    let err = Store::connect("mysql://u:secret@h/db")
        .await
        .expect_err("rejected");
    assert!(matches!(err, StoreError::UnsupportedUrl(_)));
    assert!(!err.to_string().contains("secret"));
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

/// A database written by the smiley-only schema (migrations 0001–0003)
/// keeps its figures after the upgrade: its ratings are recounted into the
/// per-survey tallies, as smiley answers of their survey.
async fn upgrade_recounts_smiley_ratings(url: &str) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.expect("connect");
    let all = sqlx::migrate!("./migrations");
    let old = sqlx::migrate::Migrator {
        migrations: std::borrow::Cow::Owned(
            all.migrations
                .iter()
                .filter(|m| m.version <= 3)
                .cloned()
                .collect(),
        ),
        ..sqlx::migrate!("./migrations")
    };
    old.run(&pool).await.expect("old schema");
    // Rows as the smiley-only code wrote them: two happy, one sad for ann
    // an hour apart, one sad without an agent.
    for (i, (agent, rating, ms)) in [
        (Some("ann"), "happy", T0),
        (Some("ann"), "happy", T0 + 3_600_000),
        (Some("ann"), "sad", T0 + 3_600_000),
        (None, "sad", T0 + 86_400_000),
    ]
    .into_iter()
    .enumerate()
    {
        sqlx::query(
            "INSERT INTO measurements (id, created_at, survey, kind, score, rating, digit, \
             dtmf_source, agent, queue, original_call_id, sip_call_id, caller) \
             VALUES ($1, $2, 'smiley', 'smiley', $3, $4, $5, 'rfc4733', $6, 'support', NULL, $7, NULL)",
        )
        .bind(Uuid::now_v7().to_string())
        .bind(ms)
        .bind(i64::from(rating == "happy"))
        .bind(rating)
        .bind(if rating == "happy" { "1" } else { "2" })
        .bind(agent)
        .bind(format!("old-{i}@pbx"))
        .execute(&pool)
        .await
        .expect("old row");
    }
    pool.close().await;

    let store = Store::connect(url).await.expect("upgrade");
    let smiley = Filter {
        survey: Some("smiley".into()),
        kind: Some(ScaleKind::Smiley),
        ..Filter::default()
    };
    assert_eq!(
        store.satisfaction(&smiley).await.expect("counts"),
        Counts::smiley(2, 2)
    );
    let per = store.per_agent(&smiley).await.expect("per agent");
    assert_eq!(per[0], (Some("ann".into()), Counts::smiley(2, 1)));
    // Whole days and hours come from the recounted tallies.
    let day = Filter {
        from: Some(at(T0 - 12 * 3_600_000)),
        to: Some(at(T0 + 12 * 3_600_000)),
        ..smiley.clone()
    };
    assert_eq!(
        store.satisfaction(&day).await.expect("counts"),
        Counts::smiley(2, 1)
    );
    let listed = store
        .list_measurements(&smiley, 10, None)
        .await
        .expect("list")
        .0;
    assert_eq!(listed.len(), 4);
    assert!(listed.iter().all(|m| m.kind == ScaleKind::Smiley));
    // New answers go on counting where the old ones left off.
    insert_many(&store, Some("ann"), Rating::Happy, 1, T0).await;
    assert_eq!(
        store.satisfaction(&smiley).await.expect("counts"),
        Counts::smiley(3, 2)
    );
}

#[tokio::test]
async fn upgrade_from_smiley_only_schema_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("old.db").display());
    upgrade_recounts_smiley_ratings(&url).await;
}

#[tokio::test]
async fn upgrade_from_smiley_only_schema_postgres() {
    let Some((admin, db)) = create_pg_database("the upgrade test").await else {
        return;
    };
    let url = format!("{}/{db}", pg_base());
    // Not spawned (sqlx's Acquire futures are not Send enough for that):
    // a panic is caught here so the database is dropped either way.
    let r = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(
        upgrade_recounts_smiley_ratings(&url),
    ))
    .await;
    drop_pg_database(admin, &db, r).await;
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

#[tokio::test]
async fn commits_never_checkpoint_and_the_background_task_does() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("wal.db");
    let url = format!("sqlite://{}", path.display());
    let store = Store::connect(&url).await.expect("open");
    let mut conn = store.pool.acquire().await.expect("conn");
    let auto: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint")
        .fetch_one(&mut *conn)
        .await
        .expect("wal_autocheckpoint");
    assert_eq!(auto, 0, "a commit must not checkpoint");
    drop(conn);
    // Let the task copy the migrations over, then write well past the
    // 1000 pages at which SQLite would checkpoint by itself.
    tokio::time::sleep(checkpoint::CHECKPOINT_EVERY * 3).await;
    let before = std::fs::metadata(&path).expect("db").len();
    for i in 0..600 {
        let agent = format!("agent-{i}");
        let m = rating(Some(&agent), Rating::Happy, T0 + i64::from(i) * 3_600_000);
        store.insert_measurement(&m).await.expect("insert");
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let now = std::fs::metadata(&path).expect("db").len();
        if now > before {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the database file never grew ({before} bytes): nothing checkpointed the WAL"
        );
        tokio::time::sleep(checkpoint::CHECKPOINT_EVERY).await;
    }
}

mod follow_ups;
