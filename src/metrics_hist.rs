//! Latency histograms in atomics, fine enough below 20 ms to read a p99
//! from, rendered in the Prometheus text format by /metrics.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the buckets, in seconds.
pub const BUCKETS: [f64; 24] = [
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.0125, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05,
    0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0,
];

/// A histogram over [`BUCKETS`]; usable as a `static`.
pub struct Histogram {
    /// Non-cumulative counts; the last slot is above the largest bound.
    counts: [AtomicU64; 25],
    sum_micros: AtomicU64,
}

impl Histogram {
    pub const fn new() -> Histogram {
        Histogram {
            counts: [const { AtomicU64::new(0) }; 25],
            sum_micros: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = BUCKETS
            .iter()
            .position(|le| secs <= *le)
            .unwrap_or(BUCKETS.len());
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(
            u64::try_from(d.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Writes `# HELP`, `# TYPE` and the cumulative series for `name`.
    pub fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} histogram");
        let mut total = 0u64;
        for (le, c) in BUCKETS.iter().zip(&self.counts) {
            total += c.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {total}");
        }
        total += self.counts[BUCKETS.len()].load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {total}");
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {total}");
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

/// From the call task receiving the caller's key to the rating being
/// committed (database or journal), per rated call.
pub static KEYPRESS_COMMIT: Histogram = Histogram::new();

/// Database write transactions (ratings, comments, call records), commit
/// included, whether they succeeded or not.
pub static DB_WRITE: Histogram = Histogram::new();

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cumulative_buckets() {
        let h = Histogram::new();
        h.observe(Duration::from_micros(400));
        h.observe(Duration::from_millis(4));
        h.observe(Duration::from_secs(9));
        let mut s = String::new();
        h.render(&mut s, "x_seconds", "test");
        assert!(s.contains("x_seconds_bucket{le=\"0.0005\"} 1\n"));
        assert!(s.contains("x_seconds_bucket{le=\"0.005\"} 2\n"));
        assert!(s.contains("x_seconds_bucket{le=\"5\"} 2\n"));
        assert!(s.contains("x_seconds_bucket{le=\"+Inf\"} 3\n"));
        assert!(s.contains("x_seconds_count 3\n"));
    }
}
