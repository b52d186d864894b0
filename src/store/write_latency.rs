//! Database write latency as a Prometheus histogram: fixed buckets and
//! atomics, filled by the store's insert paths and read by /metrics.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the buckets, in seconds.
pub const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

static COUNTS: [AtomicU64; 12] = [const { AtomicU64::new(0) }; 12];
static TOTAL: AtomicU64 = AtomicU64::new(0);
static SUM_MICROS: AtomicU64 = AtomicU64::new(0);

/// Records one committed (or failed) write transaction.
pub(crate) fn observe(elapsed: Duration) {
    let secs = elapsed.as_secs_f64();
    for (i, le) in BUCKETS.iter().enumerate() {
        if secs <= *le {
            COUNTS[i].fetch_add(1, Ordering::Relaxed);
        }
    }
    TOTAL.fetch_add(1, Ordering::Relaxed);
    SUM_MICROS.fetch_add(
        u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
        Ordering::Relaxed,
    );
}

/// Cumulative bucket counts (same order as `BUCKETS`), total count, sum in seconds.
pub fn snapshot() -> (Vec<u64>, u64, f64) {
    let counts = COUNTS.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    (
        counts,
        TOTAL.load(Ordering::Relaxed),
        SUM_MICROS.load(Ordering::Relaxed) as f64 / 1e6,
    )
}
