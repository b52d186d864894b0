//! WAL checkpoints off the commit path. By default SQLite checkpoints
//! inside the commit that grows the WAL past 1000 pages: that caller then
//! copies every page into the database file and fsyncs it, and a rating
//! waiting in the same group commit waits with it (hundreds of ms on a busy
//! disk). Here commits never checkpoint (`wal_autocheckpoint = 0` on every
//! connection) and a background task does it in PASSIVE mode, which runs
//! beside writers instead of in front of them.

use std::sync::{Arc, Weak};
use std::time::Duration;

use sqlx::AnyPool;

/// How often the WAL is copied back into the database file. Short enough
/// that the WAL stays small (a few MB at hundreds of ratings a second).
pub(crate) const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// Runs checkpoints while any clone of the store lives (`alive`).
pub(crate) fn spawn(pool: AnyPool, alive: &Arc<()>) {
    let alive: Weak<()> = Arc::downgrade(alive);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if alive.strong_count() == 0 || pool.is_closed() {
                break;
            }
            // PASSIVE: copies what no reader still needs and never waits for
            // the write lock; a busy or failing database is retried next tick.
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&pool)
                .await
            {
                tracing::debug!(error = %e, "WAL checkpoint skipped");
            }
        }
    });
}
