//! The one error type the store returns, so callers can tell "the database is
//! unreachable" apart from "a row we wrote cannot be read back".

/// Anything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names a backend we do not support.
    #[error("unsupported database URL (expected sqlite:… or postgres://…): {0}")]
    UnsupportedUrl(String),
    /// The database refused or failed a statement, or could not be reached.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying the schema migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A file the store manages (comment audio) could not be handled.
    #[error("file error: {0}")]
    Io(String),
    /// A value the store refuses to write (e.g. a score off its scale).
    #[error("invalid value: {0}")]
    Invalid(String),
    /// A stored row holds a value the code cannot interpret.
    #[error("corrupt row {id}: {detail}")]
    Corrupt { id: String, detail: String },
}

impl StoreError {
    /// Whether the database could not be reached at all (no connection, a
    /// dropped one, the server shutting down), as opposed to a statement
    /// that failed or was slow.
    pub fn is_unreachable(&self) -> bool {
        let StoreError::Database(e) = self else {
            return false;
        };
        match e {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => true,
            // PostgreSQL class 08 (connection exception) and 57P01-57P03
            // (the server is shutting down or starting up).
            sqlx::Error::Database(db) => db
                .code()
                .is_some_and(|c| c.starts_with("08") || matches!(&*c, "57P01" | "57P02" | "57P03")),
            _ => false,
        }
    }

    pub(crate) fn corrupt(id: impl Into<String>, detail: impl Into<String>) -> Self {
        StoreError::Corrupt {
            id: id.into(),
            detail: detail.into(),
        }
    }
}
