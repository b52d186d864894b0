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
    pub(crate) fn corrupt(id: impl Into<String>, detail: impl Into<String>) -> Self {
        StoreError::Corrupt {
            id: id.into(),
            detail: detail.into(),
        }
    }
}
