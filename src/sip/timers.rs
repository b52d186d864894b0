//! RFC 3261 timer values (§17.1.1.1, Table 4) and the retransmission
//! schedules built from them. T1 is configurable because tests and some
//! networks want it shorter or longer; everything else derives from it or is
//! a fixed constant of the RFC.

use std::time::Duration;

/// T1, the round-trip estimate: 500 ms unless configured.
pub const DEFAULT_T1: Duration = Duration::from_millis(500);
/// T2: the longest interval between retransmissions of non-INVITE
/// requests and INVITE responses.
pub const T2: Duration = Duration::from_secs(4);
/// T4: how long a message may stay in the network.
pub const T4: Duration = Duration::from_secs(5);
/// Timers B, F, H, J and L (RFC 6026) are this many T1.
const TIMEOUT_IN_T1: u32 = 64;

#[derive(Clone, Copy, Debug)]
pub struct Timers {
    pub t1: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Timers { t1: DEFAULT_T1 }
    }
}

/// When a message is sent again: first after `first`, each interval
/// doubling up to `cap` (no cap: doubling without end), until `give_up`
/// after the first send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    pub first: Duration,
    pub cap: Option<Duration>,
    pub give_up: Duration,
    /// Sent again over reliable flows too (TCP, TLS): only the reliable
    /// provisional response, whose PRACK is end to end (RFC 3262 §3).
    pub on_reliable_flows: bool,
}

impl Schedule {
    pub fn next(&self, interval: Duration) -> Duration {
        let doubled = interval * 2;
        match self.cap {
            Some(cap) => doubled.min(cap.max(self.first)),
            None => doubled,
        }
    }
}

impl Timers {
    /// 64·T1: Timers B, F, H, J (unreliable) and L.
    pub fn timeout(&self) -> Duration {
        self.t1 * TIMEOUT_IN_T1
    }

    /// §17.2.1: a non-2xx final to INVITE goes again on Timer G (T1
    /// doubling to T2) until the ACK, giving up at Timer H (64·T1).
    pub fn timer_g(&self) -> Schedule {
        self.doubling_to_t2()
    }

    /// §17.1.2.2: our non-INVITE request goes again on Timer E (T1 doubling
    /// to T2) until a final response, giving up at Timer F (64·T1).
    pub fn timer_e(&self) -> Schedule {
        self.doubling_to_t2()
    }

    /// §13.3.1.4: the UAS core sends a 2xx to INVITE again, T1 doubling to
    /// T2, until the ACK; after 64·T1 the session should end.
    pub fn retransmit_2xx(&self) -> Schedule {
        self.doubling_to_t2()
    }

    /// RFC 3262 §3: a reliable provisional response is sent again at T1,
    /// doubling without a cap, until its PRACK; after 64·T1 the INVITE is
    /// refused.
    pub fn reliable_provisional(&self) -> Schedule {
        Schedule {
            first: self.t1,
            cap: None,
            give_up: self.timeout(),
            // §3: "retransmitted ... for all transports", unlike §17's.
            on_reliable_flows: true,
        }
    }

    /// §17.2.1: Timer I, how long a confirmed INVITE transaction absorbs
    /// further ACKs: T4 over UDP, nothing over a reliable transport.
    pub fn timer_i(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            T4
        }
    }

    /// §17.2.2: Timer J, how long a completed non-INVITE transaction answers
    /// retransmitted requests: 64·T1 over UDP, nothing over a reliable
    /// transport.
    pub fn timer_j(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.timeout()
        }
    }

    /// RFC 6026 §7.1: Timer L, how long an accepted INVITE transaction
    /// absorbs retransmitted INVITEs after its 2xx.
    pub fn timer_l(&self) -> Duration {
        self.timeout()
    }

    /// How long a transaction that has sent no final response is kept:
    /// past every timer above, so only a lost task leaves one behind.
    pub fn unanswered_limit(&self) -> Duration {
        self.timeout() * 2
    }

    fn doubling_to_t2(&self) -> Schedule {
        Schedule {
            first: self.t1,
            cap: Some(T2),
            give_up: self.timeout(),
            on_reliable_flows: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_double_up_to_t2() {
        let s = Timers::default().timer_g();
        let mut i = s.first;
        let mut seen = vec![i];
        for _ in 0..5 {
            i = s.next(i);
            seen.push(i);
        }
        let ms: Vec<u128> = seen.iter().map(|d| d.as_millis()).collect();
        assert_eq!(ms, [500, 1000, 2000, 4000, 4000, 4000]);
        assert_eq!(s.give_up, Duration::from_secs(32));
    }

    #[test]
    fn a_t1_above_t2_is_not_shortened() {
        let s = Timers {
            t1: Duration::from_secs(6),
        }
        .timer_e();
        assert_eq!(s.next(s.first), Duration::from_secs(6));
    }
}
