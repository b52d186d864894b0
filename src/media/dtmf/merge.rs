//! One count per key press when a sender puts it both in RFC 4733 events
//! and in the audio as tones (RFC 4733 §2.5.1.1 asks senders to mute the
//! tone while sending events; not all do).
//!
//! The two paths decide at different moments: the tone detector as soon
//! as a tone has lasted long enough, the event path when the end packet
//! arrives, seconds later for a long press. So each path's activity is
//! kept as spans in time, and a key one path decides is dropped when the
//! other path was busy with the same key at the same time:
//! - a tone while events of its key are (or were just) arriving: the
//!   events carry the press and count it when it ends;
//! - events whose press overlaps a tone that was already counted: the
//!   tone counted it, and one tone absorbs one press only.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Which path saw a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyPath {
    /// RFC 4733 telephone-events.
    Events,
    /// Tones in the caller's audio.
    Tones,
}

/// Activity of one key on one path closer together than this is one span.
const JOIN: Duration = Duration::from_millis(300);
/// How far apart the two paths' views of one press may be: events and
/// tone leave the sender together, but the tone is only recognised 35 ms
/// or more after it starts and packets wander.
const SLACK: Duration = Duration::from_millis(200);
/// Spans older than this are forgotten.
const MEMORY: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, Debug)]
struct Span {
    path: KeyPath,
    key: char,
    first: Instant,
    last: Instant,
    /// Its path decided a key went down (counted or not).
    decided: bool,
    /// A digit was reported for this span.
    counted: bool,
    /// This counted tone already stood in for one event press.
    absorbed: bool,
}

impl Span {
    fn overlaps(&self, first: Instant, last: Instant) -> bool {
        self.first <= last + SLACK && first <= self.last + SLACK
    }
}

/// Decides, for each key a path reports, whether it is a new press.
#[derive(Debug, Default)]
pub struct KeyMerge {
    spans: VecDeque<Span>,
}

impl KeyMerge {
    pub fn new() -> KeyMerge {
        KeyMerge::default()
    }

    /// `path` is hearing `key` at `now` (an event packet, a tone still held).
    pub fn activity(&mut self, path: KeyPath, key: char, now: Instant) {
        self.span_mut(path, key, now, now, true);
    }

    /// `path` decided that `key` went down, its press seen from `first` on;
    /// returns whether it counts as a new press.
    pub fn admit(&mut self, path: KeyPath, key: char, first: Instant, now: Instant) -> bool {
        self.prune(now);
        // A decided press is new: it does not join one already decided.
        let i = self.span_mut(path, key, first, now, false);
        let (own_first, own_last) = (self.spans[i].first, self.spans[i].last);
        let other = self.spans.iter().position(|s| {
            s.path != path
                && s.key == key
                && s.overlaps(own_first, own_last)
                && match path {
                    KeyPath::Tones => true,
                    KeyPath::Events => s.counted && !s.absorbed,
                }
        });
        self.spans[i].decided = true;
        if let Some(j) = other {
            if path == KeyPath::Events {
                self.spans[j].absorbed = true;
            }
            return false;
        }
        self.spans[i].counted = true;
        true
    }

    /// The index of the span of `path` and `key` that `first..=now` joins
    /// (a decided one only if `into_decided`), made if there is none.
    fn span_mut(
        &mut self,
        path: KeyPath,
        key: char,
        first: Instant,
        now: Instant,
        into_decided: bool,
    ) -> usize {
        let joined = self.spans.iter().rposition(|s| {
            s.path == path && s.key == key && first <= s.last + JOIN && (into_decided || !s.decided)
        });
        match joined {
            Some(i) => {
                let s = &mut self.spans[i];
                s.first = s.first.min(first);
                s.last = s.last.max(now);
                i
            }
            None => {
                self.spans.push_back(Span {
                    path,
                    key,
                    first,
                    last: now,
                    decided: false,
                    counted: false,
                    absorbed: false,
                });
                self.spans.len() - 1
            }
        }
    }

    fn prune(&mut self, now: Instant) {
        while self
            .spans
            .front()
            .is_some_and(|s| now.saturating_duration_since(s.last) > MEMORY)
        {
            self.spans.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Clock {
        t0: Instant,
        merge: KeyMerge,
        counted: String,
    }

    impl Clock {
        fn new() -> Clock {
            Clock {
                t0: Instant::now(),
                merge: KeyMerge::new(),
                counted: String::new(),
            }
        }
        fn at(&self, ms: u64) -> Instant {
            self.t0 + Duration::from_millis(ms)
        }
        /// Event packets of `key` every 20 ms over `from..to` ms, the digit
        /// decided at the end.
        fn events(&mut self, key: char, from: u64, to: u64) {
            let mut ms = from;
            while ms <= to {
                self.merge.activity(KeyPath::Events, key, self.at(ms));
                ms += 20;
            }
            if self
                .merge
                .admit(KeyPath::Events, key, self.at(from), self.at(to))
            {
                self.counted.push(key);
            }
        }
        /// A tone of `key` over `from..to` ms, decided 40 ms in.
        fn tone(&mut self, key: char, from: u64, to: u64) {
            if self
                .merge
                .admit(KeyPath::Tones, key, self.at(from), self.at(from + 40))
            {
                self.counted.push(key);
            }
            let mut ms = from + 40;
            while ms <= to {
                self.merge.activity(KeyPath::Tones, key, self.at(ms));
                ms += 20;
            }
        }
    }

    #[test]
    fn either_path_alone_counts_every_press() {
        let mut c = Clock::new();
        c.events('1', 0, 200);
        c.events('1', 300, 500);
        c.events('2', 600, 800);
        assert_eq!(c.counted, "112");
        let mut c = Clock::new();
        c.tone('1', 0, 200);
        c.tone('1', 300, 500);
        c.tone('2', 600, 800);
        assert_eq!(c.counted, "112");
    }

    #[test]
    fn events_first_then_tone_counts_once() {
        // The first event packet arrives before the tone is recognised;
        // the tone is dropped and the events count at the end of the press.
        let mut c = Clock::new();
        c.merge.activity(KeyPath::Events, '5', c.at(0));
        c.merge.activity(KeyPath::Events, '5', c.at(20));
        c.tone('5', 10, 400);
        c.events('5', 0, 400);
        assert_eq!(c.counted, "5");
    }

    #[test]
    fn tone_first_then_events_counts_once() {
        // Events delayed (or starting late): the tone counts, the events'
        // press is absorbed by it.
        let mut c = Clock::new();
        c.tone('#', 0, 300);
        c.events('#', 60, 300);
        assert_eq!(c.counted, "#");
    }

    #[test]
    fn two_presses_on_both_paths_count_twice() {
        let mut c = Clock::new();
        c.tone('1', 0, 100);
        c.events('1', 30, 100);
        c.tone('1', 400, 500);
        c.events('1', 430, 500);
        assert_eq!(c.counted, "11");
        // Events first this time, quick presses 60 ms apart.
        let mut c = Clock::new();
        for start in [0u64, 160] {
            c.merge.activity(KeyPath::Events, '7', c.at(start));
            c.tone('7', start + 5, start + 100);
            c.events('7', start, start + 100);
        }
        assert_eq!(c.counted, "77");
    }

    #[test]
    fn different_keys_are_separate() {
        let mut c = Clock::new();
        c.tone('1', 0, 100);
        c.events('2', 0, 100);
        assert_eq!(c.counted, "12");
    }

    #[test]
    fn long_press_counts_once() {
        let mut c = Clock::new();
        c.tone('9', 0, 3_000);
        c.events('9', 20, 3_000);
        assert_eq!(c.counted, "9");
    }
}
