//! Learning where the caller's RTP really comes from (symmetric RTP).
//!
//! Behind NAT the address in the caller's SDP is often private or wrong;
//! the address its packets arrive from is the one that works (RFC 4961).
//! That address is learned only at the start of the call and then fixed, so
//! a third party cannot take over a call's media later by sending to our
//! port.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Learning lasts for at least this many packets...
pub const LATCH_PACKETS: u32 = 5;
/// ...and at least this long after the first one.
pub const LATCH_WINDOW: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Default)]
pub struct SourceLatch {
    source: Option<SocketAddr>,
    first_at: Option<Instant>,
    packets: u32,
}

impl SourceLatch {
    pub fn new() -> SourceLatch {
        SourceLatch::default()
    }

    /// Starts learning afresh, e.g. after the peer moved its media by
    /// re-INVITE.
    pub fn reset(&mut self) {
        *self = SourceLatch::default();
    }

    /// Whether the source may still change.
    pub fn learning(&self, now: Instant) -> bool {
        match self.first_at {
            None => true,
            Some(first) => self.packets < LATCH_PACKETS || now < first + LATCH_WINDOW,
        }
    }

    /// Whether a packet from `from` is to be processed at all.
    pub fn allows(&self, from: SocketAddr, now: Instant) -> bool {
        self.learning(now) || self.source == Some(from)
    }

    /// Records a valid media packet; while learning, its source becomes the
    /// caller's address (the latest wins).
    pub fn learn(&mut self, from: SocketAddr, now: Instant) {
        if self.learning(now) {
            self.source = Some(from);
        }
        self.first_at.get_or_insert(now);
        self.packets = self.packets.saturating_add(1);
    }

    /// The learned source, if any packet has arrived.
    pub fn source(&self) -> Option<SocketAddr> {
        self.source
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([192, 0, 2, 1], port))
    }

    #[test]
    fn learns_early_then_locks() {
        let t0 = Instant::now();
        let mut l = SourceLatch::new();
        assert!(l.allows(addr(1), t0));
        assert_eq!(l.source(), None);
        l.learn(addr(1), t0);
        assert_eq!(l.source(), Some(addr(1)));
        // A different source early on takes over (e.g. the SDP address was
        // a relay's first hop).
        l.learn(addr(2), t0 + Duration::from_millis(20));
        assert_eq!(l.source(), Some(addr(2)));
        for i in 0..10 {
            l.learn(addr(2), t0 + Duration::from_millis(40 + 20 * i));
        }
        // Still within the window.
        assert!(l.allows(addr(3), t0 + Duration::from_millis(1_900)));
        let later = t0 + Duration::from_millis(2_001);
        assert!(!l.learning(later));
        assert!(!l.allows(addr(3), later));
        assert!(l.allows(addr(2), later));
        l.learn(addr(3), later);
        assert_eq!(l.source(), Some(addr(2)));
    }

    #[test]
    fn window_extends_until_enough_packets() {
        let t0 = Instant::now();
        let mut l = SourceLatch::new();
        l.learn(addr(1), t0);
        // Only one packet after 10 s: still learning.
        let later = t0 + Duration::from_secs(10);
        assert!(l.learning(later));
        for _ in 0..4 {
            l.learn(addr(4), later);
        }
        assert!(!l.learning(later));
        assert_eq!(l.source(), Some(addr(4)));
    }

    #[test]
    fn reset_starts_over() {
        let t0 = Instant::now();
        let mut l = SourceLatch::new();
        for _ in 0..5 {
            l.learn(addr(1), t0);
        }
        let later = t0 + Duration::from_secs(3);
        assert!(!l.allows(addr(2), later));
        l.reset();
        assert!(l.allows(addr(2), later));
        assert_eq!(l.source(), None);
    }
}
