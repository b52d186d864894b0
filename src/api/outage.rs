//! What the API knows about the database being away. Once a store call
//! fails because the database cannot be reached, requests are answered 503
//! (with Retry-After) at once instead of each waiting out the connection
//! and statement timeouts, and one probe checks the database until it
//! answers again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::store::Store;

/// How often the probe asks while the database is away.
const PROBE_EVERY: Duration = Duration::from_millis(250);
/// How long one probe waits.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Shared by every clone of the API state.
#[derive(Debug, Default)]
pub struct Outage {
    down: AtomicBool,
}

impl Outage {
    /// Whether the database is known to be unreachable right now.
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    /// Records that the database could not be reached and, unless one runs
    /// already, starts the probe that clears the mark once it answers.
    pub fn mark_down(self: &Arc<Self>, store: &Store) {
        if self.down.swap(true, Ordering::AcqRel) {
            return;
        }
        tracing::warn!("database unreachable: reads answer 503 until it is back");
        let outage = Arc::clone(self);
        let store = store.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(PROBE_EVERY).await;
                if let Ok(Ok(())) = tokio::time::timeout(PROBE_TIMEOUT, store.ping()).await {
                    break;
                }
            }
            outage.down.store(false, Ordering::Release);
            tracing::info!("database reachable again");
        });
    }
}
