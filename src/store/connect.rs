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

/// How long a writer waits for SQLite's lock before giving up.
const SQLITE_BUSY_TIMEOUT_MS: u64 = 5_000;

/// How long a caller waits for a pooled connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

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

fn is_memory(url: &str) -> bool {
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
async fn sqlite_session(conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
    conn.execute(format!("PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}").as_str())
        .await?;
    conn.execute("PRAGMA synchronous = FULL").await?;
    conn.execute("PRAGMA foreign_keys = ON").await?;
    Ok(())
}

/// Switches the database file to WAL (persistent, so once is enough), which
/// lets the API read while the call path writes. Done on a lone connection
/// before the pool opens, because the switch needs the file to itself.
async fn sqlite_enable_wal(url: &str) -> Result<(), StoreError> {
    let mut conn = AnyConnection::connect(url).await?;
    sqlite_session(&mut conn).await?;
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

/// Opens a pool for `url` and brings the schema up to date.
pub(crate) async fn open(url: &str) -> Result<(AnyPool, Backend), StoreError> {
    sqlx::any::install_default_drivers();
    let backend = Backend::of(url)?;
    let pool = match backend {
        Backend::Sqlite => {
            let url = sqlite_url(url);
            let memory = is_memory(&url);
            if !memory {
                sqlite_enable_wal(&url).await?;
            }
            // An in-memory database lives only as long as its one connection.
            let (max, idle) = if memory {
                (1, None)
            } else {
                (4, Some(Duration::from_secs(600)))
            };
            AnyPoolOptions::new()
                .max_connections(max)
                .min_connections(if memory { 1 } else { 0 })
                .idle_timeout(idle)
                .max_lifetime(if memory {
                    None
                } else {
                    Some(Duration::from_secs(1800))
                })
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .after_connect(|conn, _meta| Box::pin(sqlite_session(conn)))
                .connect(&url)
                .await?
        }
        Backend::Postgres => {
            AnyPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect(url)
                .await?
        }
    };
    sqlx::migrate!("./migrations").run(&pool).await?;
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

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("postgres://u:pw@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("mysql://u:p:w@h/db"), "mysql://u:***@h/db");
    }
}
