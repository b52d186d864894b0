//! RFC 3261 timer values (§17.1.1.1, Table 4). T1 is configurable because
//! tests and some networks want it shorter or longer; the rest derive from it.

use std::time::Duration;

/// RTT estimate, default 500 ms.
pub const DEFAULT_T1: Duration = Duration::from_millis(500);
/// Maximum retransmit interval for non-INVITE requests and INVITE responses.
pub const T2: Duration = Duration::from_secs(4);

#[derive(Clone, Copy, Debug)]
pub struct Timers {
    pub t1: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Timers { t1: DEFAULT_T1 }
    }
}

impl Timers {
    /// Timers B, F, H, J: 64·T1.
    pub fn timeout(&self) -> Duration {
        self.t1 * 64
    }

    /// The next retransmit interval: doubled, capped at T2 (§17.1.2.2, §13.3.1.4).
    pub fn backoff(&self, current: Duration) -> Duration {
        (current * 2).min(T2.max(self.t1))
    }
}
