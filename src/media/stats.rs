//! Packet counters for the metrics endpoint.

use std::sync::atomic::{AtomicU64, Ordering};

/// RTP packets received from callers, all calls.
pub static RTP_PACKETS_IN: AtomicU64 = AtomicU64::new(0);
/// RTP packets sent to callers, all calls.
pub static RTP_PACKETS_OUT: AtomicU64 = AtomicU64::new(0);
/// Datagrams dropped: not RTP, unexpected payload type, or wrong source.
pub static RTP_PACKETS_IGNORED: AtomicU64 = AtomicU64::new(0);
/// RFC 4733 digits detected, all calls.
pub static DTMF_DIGITS: AtomicU64 = AtomicU64::new(0);
/// Key tones detected in callers' audio, all calls.
pub static DTMF_INBAND: AtomicU64 = AtomicU64::new(0);
/// Calls on which the caller's RTP never arrived or stopped.
pub static MEDIA_TIMEOUTS: AtomicU64 = AtomicU64::new(0);
/// Recorded comments stored with their rating.
pub static COMMENTS_STORED: AtomicU64 = AtomicU64::new(0);
/// Comments a caller spoke that could not be kept (directory, disk, store).
pub static COMMENTS_DROPPED: AtomicU64 = AtomicU64::new(0);

/// Counters of one call; the global ones are updated alongside.
#[derive(Debug, Default)]
pub struct MediaStats {
    pub packets_in: AtomicU64,
    pub packets_out: AtomicU64,
    pub packets_ignored: AtomicU64,
}

impl MediaStats {
    pub(crate) fn count_in(&self) {
        self.packets_in.fetch_add(1, Ordering::Relaxed);
        RTP_PACKETS_IN.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_out(&self) {
        self.packets_out.fetch_add(1, Ordering::Relaxed);
        RTP_PACKETS_OUT.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_ignored(&self) {
        self.packets_ignored.fetch_add(1, Ordering::Relaxed);
        RTP_PACKETS_IGNORED.fetch_add(1, Ordering::Relaxed);
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
