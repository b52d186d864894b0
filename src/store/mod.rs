//! Persistent storage of ratings and call outcomes.
//!
//! SQLite by default, PostgreSQL through the very same queries: everything
//! goes through sqlx's `Any` driver with types both share (TEXT ids that are
//! UUIDv7 strings, BIGINT UTC milliseconds, `$n` placeholders), and one
//! `migrations/` directory valid on both.

mod backup;
mod batch;
mod bulk;
mod call;
mod checkpoint;
mod comment;
mod connect;
mod counts;
mod cursor;
mod error;
mod events;
mod filter;
mod follow_up;
mod measurement;
mod retention;
mod rollup;
mod sql;
mod time;
pub mod token;
mod webhook;

#[cfg(test)]
pub(crate) mod tests;

use std::sync::{Arc, OnceLock};

use sqlx::AnyPool;
use tokio::sync::watch;

use crate::metrics::Latency;

pub use backup::backup_sqlite;
pub use batch::Grouped;
pub use call::CallRecord;
pub use comment::{Comment, NewComment};
pub use connect::{Backend, ConnectOptions};
pub use counts::{scores, Counts, Responses, MAX_SCORE};
pub use cursor::{Cursor, InvalidCursor};
pub use error::StoreError;
pub use events::{Event, EventKind};
pub use filter::Filter;
pub use follow_up::{Actor, FollowUp, Marked};
pub use measurement::{smiley_score, Measurement, NewMeasurement};
pub use retention::{audio_path, erase_comment, spawn_retention_sweeper, sweep_retention};
pub use token::{token_hash, Scope, TokenInfo};
pub use webhook::{Attempt, Delivery, DeliveryStatus, DueDelivery, Webhook};

/// Handle to the database; cheap to clone (a shared connection pool).
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Bumped after every commit that wrote events, to wake listeners.
    events: Arc<watch::Sender<u64>>,
    /// Bumped when a commit queued webhook deliveries.
    deliveries: Arc<watch::Sender<u64>>,
    /// The group-commit writer (see `batch`), started on first use.
    group: batch::GroupQueue,
    /// Held by every clone: the WAL checkpoint task stops with the last one.
    _alive: Arc<()>,
    /// Where write transactions' times go, for /metrics; shared by every
    /// clone, set once by the daemon.
    db_write: Arc<OnceLock<Latency>>,
}

impl Store {
    /// Opens `url` (`sqlite://path` or `postgres://…`), creating a missing
    /// SQLite file, and applies pending migrations.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Store::connect_with(url, &ConnectOptions::default()).await
    }

    /// [`Store::connect`] with the pool size and statement timeout of the
    /// `[database]` configuration.
    pub async fn connect_with(url: &str, opts: &ConnectOptions) -> Result<Store, StoreError> {
        let (pool, backend) = connect::open(url, opts).await?;
        let alive = Arc::new(());
        if backend == Backend::Sqlite {
            checkpoint::spawn(pool.clone(), &alive);
        }
        Ok(Store {
            pool,
            backend,
            events: Arc::new(watch::Sender::new(0)),
            deliveries: Arc::new(watch::Sender::new(0)),
            group: Default::default(),
            _alive: alive,
            db_write: Arc::default(),
        })
    }

    /// Times write transactions, of this store and every clone of it, into
    /// `db_write` (the daemon's histogram). Only the first call counts.
    pub fn record_metrics(&self, db_write: Latency) {
        let _ = self.db_write.set(db_write);
    }

    fn observe_write(&self, took: std::time::Duration) {
        if let Some(h) = self.db_write.get() {
            h.observe(took);
        }
    }

    /// Which database this store talks to.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Cheap liveness check for health endpoints.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// The pool itself, for tests that need to hold connections.
    #[cfg(test)]
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Closes every connection, waiting for running queries; for shutdown.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
