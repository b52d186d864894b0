//! Opening the database: one code path for SQLite and PostgreSQL through
//! sqlx's `Any` driver, with the SQLite settings our durability promise
//! rests on applied to every connection.

use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyConnection, AnyPool, Connection, Executor, Row};

use super::StoreError;

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// How long a statement may run (PostgreSQL) or a writer waits for the
/// lock (SQLite) unless `[database] statement_timeout_ms` says otherwise.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a caller waits for a pooled connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// How the pool is set up (`[database]` in the configuration).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectOptions {
    /// Connections per daemon; `None`: 4 for SQLite, 8 for PostgreSQL. An
    /// in-memory SQLite database always has exactly one.
    pub pool_size: Option<u32>,
    /// PostgreSQL: `statement_timeout` of every pooled connection (schema
    /// migrations at start-up are exempt). SQLite: how long a writer waits
    /// for the database lock. `None`: [`DEFAULT_STATEMENT_TIMEOUT`].
    pub statement_timeout: Option<Duration>,
}

impl ConnectOptions {
    fn timeout_ms(&self) -> u64 {
        self.statement_timeout
            .unwrap_or(DEFAULT_STATEMENT_TIMEOUT)
            .as_millis()
            .max(1) as u64
    }
}

impl Backend {
    pub fn of(url: &str) -> Result<Backend, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::UnsupportedUrl(redact(url)))
        }
    }
}

/// The URL without a password, fit for error messages and logs.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

pub(crate) fn is_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

/// SQLite URLs get `mode=rwc` unless they say otherwise, so that the file is
/// created on first start.
pub(crate) fn sqlite_url(url: &str) -> String {
    if is_memory(url) || url.contains("mode=") {
        return url.to_owned();
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}mode=rwc")
}

/// Per-connection SQLite settings: wait for locks instead of failing at once,
/// and fsync the WAL on every commit so a committed rating survives a power
/// cut (`synchronous=NORMAL` would not promise that in WAL mode).
async fn sqlite_session(conn: &mut AnyConnection, busy_ms: u64) -> Result<(), sqlx::Error> {
    conn.execute(format!("PRAGMA busy_timeout = {busy_ms}").as_str())
        .await?;
    conn.execute("PRAGMA synchronous = FULL").await?;
    conn.execute("PRAGMA foreign_keys = ON").await?;
    // Commits never checkpoint; the store's checkpoint task does (checkpoint.rs).
    conn.execute("PRAGMA wal_autocheckpoint = 0").await?;
    Ok(())
}

/// Switches the database file to WAL (persistent, so once is enough), which
/// lets the API read while the call path writes. Done on a lone connection
/// before the pool opens, because the switch needs the file to itself.
async fn sqlite_enable_wal(url: &str, busy_ms: u64) -> Result<(), StoreError> {
    let mut conn = AnyConnection::connect(url).await?;
    sqlite_session(&mut conn, busy_ms).await?;
    let mode: String = sqlx::query("PRAGMA journal_mode = WAL")
        .fetch_one(&mut conn)
        .await?
        .try_get(0)?;
    if !mode.eq_ignore_ascii_case("wal") && !is_memory(url) {
        tracing::warn!(journal_mode = %mode, "SQLite did not switch to WAL");
    }
    conn.close().await?;
    Ok(())
}

/// Per-connection PostgreSQL settings: no statement may hold a connection
/// (and its locks) longer than the API or a call would wait for it.
async fn postgres_session(conn: &mut AnyConnection, timeout_ms: u64) -> Result<(), sqlx::Error> {
    conn.execute(format!("SET statement_timeout = {timeout_ms}").as_str())
        .await?;
    Ok(())
}

/// Opens a pool for `url` and brings the schema up to date.
pub(crate) async fn open(
    url: &str,
    opts: &ConnectOptions,
) -> Result<(AnyPool, Backend), StoreError> {
    sqlx::any::install_default_drivers();
    let backend = Backend::of(url)?;
    let timeout_ms = opts.timeout_ms();
    let pool = match backend {
        Backend::Sqlite => {
            let url = sqlite_url(url);
            let memory = is_memory(&url);
            if !memory {
                sqlite_enable_wal(&url, timeout_ms).await?;
            }
            // An in-memory database lives only as long as its one connection.
            let (max, idle) = if memory {
                (1, None)
            } else {
                (opts.pool_size.unwrap_or(4), Some(Duration::from_secs(600)))
            };
            let pool = AnyPoolOptions::new()
                .max_connections(max)
                .min_connections(if memory { 1 } else { 0 })
                .idle_timeout(idle)
                .max_lifetime(if memory {
                    None
                } else {
                    Some(Duration::from_secs(1800))
                })
                .acquire_timeout(ACQUIRE_TIMEOUT)
                // A local file has no link to test, and the ping sqlx would
                // send on every checkout is a round trip to the connection's
                // thread: a third of the commands of a rating's batch.
                .test_before_acquire(false)
                .after_connect(move |conn, _meta| Box::pin(sqlite_session(conn, timeout_ms)))
                .connect(&url)
                .await?;
            sqlx::migrate!("./migrations").run(&pool).await?;
            pool
        }
        Backend::Postgres => {
            // Migrations first, on a connection of their own without the
            // statement timeout (a migration over many rows may take longer).
            // sqlx holds an advisory lock meanwhile, so daemons starting
            // together apply each migration once.
            let mut conn = AnyConnection::connect(url).await?;
            sqlx::migrate!("./migrations").run(&mut conn).await?;
            conn.close().await?;
            AnyPoolOptions::new()
                .max_connections(opts.pool_size.unwrap_or(8))
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .after_connect(move |conn, _meta| Box::pin(postgres_session(conn, timeout_ms)))
                .connect(url)
                .await?
        }
    };
    Ok((pool, backend))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_from_url() {
        assert_eq!(
            Backend::of("sqlite://smileyd.db").ok(),
            Some(Backend::Sqlite)
        );
        assert_eq!(Backend::of("sqlite::memory:").ok(), Some(Backend::Sqlite));
        assert_eq!(
            Backend::of("postgres://u@h/db").ok(),
            Some(Backend::Postgres)
        );
        assert_eq!(
            Backend::of("postgresql://u@h/db").ok(),
            Some(Backend::Postgres)
        );
        assert!(Backend::of("mysql://u:secret@h/db").is_err());
    }

    #[test]
    fn sqlite_url_creates_file_unless_told_otherwise() {
        assert_eq!(sqlite_url("sqlite://a.db"), "sqlite://a.db?mode=rwc");
        assert_eq!(
            sqlite_url("sqlite://a.db?cache=shared"),
            "sqlite://a.db?cache=shared&mode=rwc"
        );
        assert_eq!(sqlite_url("sqlite://a.db?mode=ro"), "sqlite://a.db?mode=ro");
        assert_eq!(sqlite_url("sqlite::memory:"), "sqlite::memory:");
    }

    #[tokio::test]
    async fn sqlite_pool_size_and_busy_timeout_follow_the_options() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("o.db").display());
        let opts = ConnectOptions {
            pool_size: Some(2),
            statement_timeout: Some(Duration::from_millis(1234)),
        };
        let (pool, _) = open(&url, &opts).await.unwrap();
        let busy: i64 = sqlx::query("PRAGMA busy_timeout")
            .fetch_one(&pool)
            .await
            .unwrap()
            .try_get(0)
            .unwrap();
        assert_eq!(busy, 1234);
        assert_eq!(pool.options().get_max_connections(), 2);
        pool.close().await;
    }

    /// On PostgreSQL (when one answers on 127.0.0.1:5432 or `SMILEYD_TEST_PG`):
    /// a statement over the timeout is cancelled, and the migrations still ran.
    #[tokio::test]
    async fn postgres_statement_timeout_is_set_per_connection() {
        sqlx::any::install_default_drivers();
        let base = std::env::var("SMILEYD_TEST_PG")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
        let admin = tokio::time::timeout(
            Duration::from_secs(3),
            AnyConnection::connect(&format!("{base}/postgres")),
        )
        .await;
        let Ok(Ok(mut admin)) = admin else {
            eprintln!("note: PostgreSQL not reachable at {base}; skipped");
            return;
        };
        let db = format!("smileyd_test_{}", uuid::Uuid::now_v7().simple());
        admin
            .execute(format!("CREATE DATABASE {db}").as_str())
            .await
            .unwrap();
        let opts = ConnectOptions {
            pool_size: Some(3),
            statement_timeout: Some(Duration::from_millis(200)),
        };
        let result = async {
            let (pool, backend) = open(&format!("{base}/{db}"), &opts).await?;
            assert_eq!(backend, Backend::Postgres);
            assert_eq!(pool.options().get_max_connections(), 3);
            let shown: String = sqlx::query("SHOW statement_timeout")
                .fetch_one(&pool)
                .await?
                .try_get(0)?;
            let slow = sqlx::query("SELECT pg_sleep(1)").execute(&pool).await;
            let tables: i64 = sqlx::query(
                "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'measurements'",
            )
            .fetch_one(&pool)
            .await?
            .try_get(0)?;
            pool.close().await;
            Ok::<_, StoreError>((shown, slow.is_err(), tables))
        }
        .await;
        admin
            .execute(format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)").as_str())
            .await
            .unwrap();
        let (shown, cancelled, tables) = result.unwrap();
        assert_eq!(shown, "200ms");
        assert!(cancelled, "pg_sleep(1) should be cancelled after 200 ms");
        assert_eq!(tables, 1);
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("postgres://u:pw@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("mysql://u:p:w@h/db"), "mysql://u:***@h/db");
    }
}
