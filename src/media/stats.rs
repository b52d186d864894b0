//! Packet counters of one call, shown per call by the media task's owner;
//! each also adds to the daemon-wide counters it was given.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::metrics::MediaMetrics;

/// Counters of one call; the daemon-wide ones in `all` are updated alongside.
#[derive(Debug, Default)]
pub struct MediaStats {
    pub packets_in: AtomicU64,
    pub packets_out: AtomicU64,
    pub packets_ignored: AtomicU64,
    pub(crate) all: MediaMetrics,
}

impl MediaStats {
    pub fn new(all: MediaMetrics) -> MediaStats {
        MediaStats {
            all,
            ..MediaStats::default()
        }
    }

    pub(crate) fn count_in(&self) {
        self.packets_in.fetch_add(1, Ordering::Relaxed);
        self.all.rtp_in.inc();
    }

    pub(crate) fn count_out(&self) {
        self.packets_out.fetch_add(1, Ordering::Relaxed);
        self.all.rtp_out.inc();
    }

    pub(crate) fn count_ignored(&self) {
        self.packets_ignored.fetch_add(1, Ordering::Relaxed);
        self.all.rtp_ignored.inc();
    }

    /// An SRTP or SRTCP packet dropped, never heard or recorded.
    pub(crate) fn count_srtp_dropped(&self, why: super::srtp::Dropped) {
        self.packets_ignored.fetch_add(1, Ordering::Relaxed);
        match why {
            super::srtp::Dropped::Auth => self.all.srtp_auth_dropped.inc(),
            super::srtp::Dropped::Replay => self.all.srtp_replay_dropped.inc(),
        };
    }

    pub fn packets_in(&self) -> u64 {
        self.packets_in.load(Ordering::Relaxed)
    }

    pub fn packets_out(&self) -> u64 {
        self.packets_out.load(Ordering::Relaxed)
    }

    pub fn packets_ignored(&self) -> u64 {
        self.packets_ignored.load(Ordering::Relaxed)
    }
}
