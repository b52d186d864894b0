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

mod batch;
mod events;
mod follow_ups;
mod measurements;
mod sqlite;
mod upgrade;
