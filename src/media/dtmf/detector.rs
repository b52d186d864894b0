//! Turns a stream of RFC 4733 event packets into one digit per key press.
//!
//! Real senders differ from the RFC in ways that break naive detectors:
//! end packets repeat with the same sequence number, the marker bit may be
//! missing, the timestamp may move on every packet of one press, and a long
//! press may pause before its end packet. A press is therefore identified by
//! (SSRC, event timestamp), with tolerance for moving timestamps, and the
//! marker bit and sequence numbers are not used at all.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::event::{event_char, TelephoneEvent};

/// If no packet of an unfinished press arrives for this long, its end
/// packets are assumed lost and the digit is reported anyway.
pub const EVENT_TIMEOUT: Duration = Duration::from_millis(200);

/// How far (in 8 kHz timestamp units, 250 ms) a timestamp may move within one
/// press beyond what the growth of its duration explains.
const TIMESTAMP_SLACK: u32 = 2_000;

/// Finished presses are remembered this long to swallow late retransmissions.
const HISTORY_TTL: Duration = Duration::from_secs(5);

/// How many finished presses are remembered.
const HISTORY_LEN: usize = 8;

/// A duration this close to the 16-bit limit means a long event that may
/// continue in a new segment.
const LONG_EVENT_DURATION: u16 = 0xFFFF - TIMESTAMP_SLACK as u16;

#[derive(Debug, Clone)]
struct Press {
    ssrc: u32,
    event: u8,
    key: char,
    /// Event timestamp of the first packet seen.
    first_ts: u32,
    /// Event timestamp of the latest packet (differs only for senders that
    /// move it).
    last_ts: u32,
    last_duration: u16,
    last_seen: Instant,
    reported: bool,
}

impl Press {
    fn new(ssrc: u32, ts: u32, ev: &TelephoneEvent, key: char, now: Instant) -> Press {
        Press {
            ssrc,
            event: ev.event,
            key,
            first_ts: ts,
            last_ts: ts,
            last_duration: ev.duration,
            last_seen: now,
            reported: false,
        }
    }

    /// Whether a packet belongs to this (unfinished) press.
    fn continues(&self, ssrc: u32, ts: u32, ev: &TelephoneEvent, now: Instant) -> bool {
        if self.ssrc != ssrc || self.event != ev.event {
            return false;
        }
        // RFC 4733 §2.5.1.2: every packet of one event carries the event's
        // start timestamp.
        if ts == self.first_ts || ts == self.last_ts {
            return true;
        }
        let step = ts.wrapping_sub(self.last_ts) as i32;
        if ev.duration >= self.last_duration {
            // Packets keep coming while the key is held: an intermediary
            // rewrote the timestamp, or the sender moves it on every packet.
            if now.saturating_duration_since(self.last_seen) <= EVENT_TIMEOUT {
                return true;
            }
            // After a pause (lost packets, or a long press stalling before
            // its end packet), a moving timestamp must match the duration.
            let grown = u32::from(ev.duration - self.last_duration);
            if step.unsigned_abs() <= grown + TIMESTAMP_SLACK {
                return true;
            }
        }
        // RFC 4733 §2.5.1.3: an event longer than the duration field can hold
        // continues in a new segment that starts where the previous ended.
        if self.last_duration >= LONG_EVENT_DURATION {
            let since_segment = ts.wrapping_sub(self.last_ts);
            let expected = u32::from(self.last_duration);
            return since_segment.abs_diff(expected) <= TIMESTAMP_SLACK;
        }
        false
    }

    fn update(&mut self, ts: u32, ev: &TelephoneEvent, now: Instant) {
        if ts == self.last_ts {
            self.last_duration = self.last_duration.max(ev.duration);
        } else {
            self.last_ts = ts;
            self.last_duration = ev.duration;
        }
        self.last_seen = now;
    }
}

/// A press whose end was seen or which was superseded by another press.
#[derive(Debug, Clone)]
struct Finished {
    ssrc: u32,
    event: u8,
    first_ts: u32,
    last_ts: u32,
    last_duration: u16,
    at: Instant,
}

impl Finished {
    fn from_press(p: &Press, at: Instant) -> Finished {
        Finished {
            ssrc: p.ssrc,
            event: p.event,
            first_ts: p.first_ts,
            last_ts: p.last_ts,
            last_duration: p.last_duration,
            at,
        }
    }

    /// Whether a packet is a late copy of this press.
    fn matches(&self, ssrc: u32, ts: u32, ev: &TelephoneEvent, now: Instant) -> bool {
        if self.ssrc != ssrc || self.event != ev.event {
            return false;
        }
        if ts == self.first_ts || ts == self.last_ts {
            return true;
        }
        // RFC 4733 §2.5.1.4: the final packet is sent three times; senders
        // that move the timestamp may move it on those copies too.
        if ev.end && now.saturating_duration_since(self.at) <= Duration::from_secs(1) {
            let step = ts.wrapping_sub(self.last_ts) as i32;
            let grown = u32::from(ev.duration.abs_diff(self.last_duration));
            return step.unsigned_abs() <= grown + TIMESTAMP_SLACK;
        }
        false
    }
}

/// Reports each key press exactly once.
///
/// Feed every telephone-event packet to [`on_packet`](Self::on_packet) and
/// call [`poll`](Self::poll) at [`deadline`](Self::deadline), which catches
/// presses whose end packets were lost.
#[derive(Debug, Default)]
pub struct DtmfDetector {
    current: Option<Press>,
    history: VecDeque<Finished>,
    /// Digits decided but not yet handed out, with the time they were ready.
    pending: VecDeque<(char, Instant)>,
}

impl DtmfDetector {
    pub fn new() -> DtmfDetector {
        DtmfDetector::default()
    }

    /// Handles one event packet; returns a digit when a press completes.
    ///
    /// `timestamp` is the RTP header timestamp. Events other than the 16 DTMF
    /// keys (flash, tones) are ignored.
    pub fn on_packet(
        &mut self,
        ssrc: u32,
        timestamp: u32,
        ev: &TelephoneEvent,
        now: Instant,
    ) -> Option<char> {
        let key = event_char(ev.event)?;
        self.prune(now);

        if let Some(press) = self.current.as_mut() {
            if press.continues(ssrc, timestamp, ev, now) {
                press.update(timestamp, ev, now);
                if !ev.end {
                    return None;
                }
                // The first end packet is final.
                let first_report = !press.reported;
                self.finish_current(now);
                return if first_report {
                    Some(key)
                } else {
                    self.pending_digit()
                };
            }
        }

        if self
            .history
            .iter()
            .any(|f| f.matches(ssrc, timestamp, ev, now))
        {
            return self.pending_digit();
        }

        // A new press. One still open is over: its end packets were lost.
        if let Some(earlier) = self.finish_current(now) {
            self.pending.push_back((earlier, now));
        }
        let press = Press::new(ssrc, timestamp, ev, key, now);
        if ev.end {
            // Only the end of this press arrived; that is enough.
            self.history.push_back(Finished::from_press(&press, now));
            self.pending.push_back((key, now));
        } else {
            self.current = Some(press);
        }
        self.pending_digit()
    }

    /// Reports a press whose end packets never came. Call at
    /// [`deadline`](Self::deadline); calling more often is harmless.
    pub fn poll(&mut self, now: Instant) -> Option<char> {
        if let Some(d) = self.pending_digit() {
            return Some(d);
        }
        let press = self.current.as_mut()?;
        if !press.reported && now >= press.last_seen + EVENT_TIMEOUT {
            // Keep the press open: a late end packet, or the rest of a long
            // press after a pause, must not count again.
            press.reported = true;
            return Some(press.key);
        }
        None
    }

    /// When [`poll`](Self::poll) next has something to do, if ever.
    pub fn deadline(&self) -> Option<Instant> {
        if let Some((_, at)) = self.pending.front() {
            return Some(*at);
        }
        match &self.current {
            Some(p) if !p.reported => Some(p.last_seen + EVENT_TIMEOUT),
            _ => None,
        }
    }

    /// Closes the open press; returns its key if it was never reported.
    fn finish_current(&mut self, now: Instant) -> Option<char> {
        let press = self.current.take()?;
        self.history.push_back(Finished::from_press(&press, now));
        while self.history.len() > HISTORY_LEN {
            self.history.pop_front();
        }
        (!press.reported).then_some(press.key)
    }

    fn pending_digit(&mut self) -> Option<char> {
        self.pending.pop_front().map(|(c, _)| c)
    }

    fn prune(&mut self, now: Instant) {
        self.history
            .retain(|f| now.saturating_duration_since(f.at) < HISTORY_TTL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds packets and collects digits, with a clock under test control.
    struct Harness {
        det: DtmfDetector,
        t0: Instant,
        now: Instant,
        digits: String,
    }

    impl Harness {
        fn new() -> Harness {
            let t0 = Instant::now();
            Harness {
                det: DtmfDetector::new(),
                t0,
                now: t0,
                digits: String::new(),
            }
        }

        /// Advances the clock to `ms` after start, polling on the way as a
        /// media loop would.
        fn at(&mut self, ms: u64) -> &mut Self {
            let target = self.t0 + Duration::from_millis(ms);
            while let Some(d) = self.det.deadline() {
                if d > target {
                    break;
                }
                self.now = self.now.max(d);
                if let Some(c) = self.det.poll(self.now) {
                    self.digits.push(c);
                }
            }
            self.now = self.now.max(target);
            self
        }

        fn pkt(&mut self, ssrc: u32, ts: u32, event: u8, end: bool, duration: u16) -> &mut Self {
            let ev = TelephoneEvent {
                event,
                end,
                volume: 10,
                duration,
            };
            if let Some(c) = self.det.on_packet(ssrc, ts, &ev, self.now) {
                self.digits.push(c);
            }
            self
        }

        /// A sender's key press: updates every 20 ms from `start_ms`, then
        /// three end packets 20 ms apart. `moving_ts` imitates senders that
        /// put the current time in every packet.
        fn press(
            &mut self,
            ssrc: u32,
            ts: u32,
            event: u8,
            start_ms: u64,
            updates: u16,
            moving_ts: bool,
        ) -> &mut Self {
            for i in 0..updates {
                let pts = if moving_ts {
                    ts.wrapping_add(160 * i as u32)
                } else {
                    ts
                };
                self.at(start_ms + 20 * i as u64)
                    .pkt(ssrc, pts, event, false, 160 * i);
            }
            for r in 0..3u16 {
                let pts = if moving_ts {
                    ts.wrapping_add(160 * (updates + r) as u32)
                } else {
                    ts
                };
                self.at(start_ms + 20 * (updates + r) as u64).pkt(
                    ssrc,
                    pts,
                    event,
                    true,
                    160 * updates,
                );
            }
            self
        }
    }

    #[test]
    fn baresip_shape() {
        // Marker on the first packet (not visible here: the detector never
        // needs it), nine updates, three end packets with one timestamp.
        let mut h = Harness::new();
        h.press(0xBA5E, 48_000, 1, 0, 9, false);
        assert_eq!(h.digits, "1");
        h.at(2_000);
        assert_eq!(h.digits, "1");
    }

    #[test]
    fn digit_reported_on_first_end_packet() {
        let mut h = Harness::new();
        h.at(0).pkt(1, 800, 2, false, 0);
        h.at(20).pkt(1, 800, 2, false, 160);
        assert_eq!(h.digits, "");
        h.at(40).pkt(1, 800, 2, true, 320);
        assert_eq!(h.digits, "2");
        h.at(60).pkt(1, 800, 2, true, 320);
        h.at(80).pkt(1, 800, 2, true, 320);
        assert_eq!(h.digits, "2");
        assert_eq!(h.det.deadline(), None);
    }

    #[test]
    fn linphone_shape_same_sequence_end_packets() {
        // The detector does not see sequence numbers at all; three identical
        // end packets arriving back to back are one press.
        let mut h = Harness::new();
        for i in 0..5u16 {
            h.at(20 * i as u64).pkt(7, 0, 2, false, 400 + 160 * i);
        }
        for _ in 0..3 {
            h.at(100).pkt(7, 0, 2, true, 1200);
        }
        h.at(1_000);
        assert_eq!(h.digits, "2");
    }

    #[test]
    fn no_marker_bit_needed() {
        // First packet arrives mid-press (start lost, or no marker sent).
        let mut h = Harness::new();
        h.at(0).pkt(3, 1_000, 9, false, 640);
        h.at(20).pkt(3, 1_000, 9, false, 800);
        h.at(40).pkt(3, 1_000, 9, true, 960);
        h.at(500);
        assert_eq!(h.digits, "9");
    }

    #[test]
    fn lost_end_packets_use_timeout() {
        let mut h = Harness::new();
        for i in 0..5u16 {
            h.at(20 * i as u64).pkt(3, 5_000, 11, false, 160 * i);
        }
        h.at(80 + 199);
        assert_eq!(h.digits, "");
        h.at(80 + 200);
        assert_eq!(h.digits, "#");
        // Nothing more to do.
        assert_eq!(h.det.deadline(), None);
        h.at(3_000);
        assert_eq!(h.digits, "#");
    }

    #[test]
    fn late_end_after_timeout_is_not_a_second_digit() {
        let mut h = Harness::new();
        h.at(0).pkt(3, 5_000, 4, false, 0);
        h.at(20).pkt(3, 5_000, 4, false, 160);
        h.at(500);
        assert_eq!(h.digits, "4");
        h.at(520).pkt(3, 5_000, 4, true, 4000);
        h.at(540).pkt(3, 5_000, 4, true, 4000);
        h.at(1_000);
        assert_eq!(h.digits, "4");
    }

    #[test]
    fn two_presses_of_the_same_key() {
        let mut h = Harness::new();
        h.press(9, 10_000, 1, 0, 6, false);
        h.press(9, 10_000 + 4_000, 1, 500, 6, false);
        h.at(2_000);
        assert_eq!(h.digits, "11");
    }

    #[test]
    fn two_presses_same_key_first_end_lost() {
        let mut h = Harness::new();
        for i in 0..6u16 {
            h.at(20 * i as u64).pkt(9, 10_000, 1, false, 160 * i);
        }
        // The new press starts before the timeout fired for the first one.
        h.at(150).pkt(9, 11_200, 1, false, 0);
        assert_eq!(h.digits, "1");
        h.at(170).pkt(9, 11_200, 1, true, 160);
        h.at(190).pkt(9, 11_200, 1, true, 160);
        h.at(1_000);
        assert_eq!(h.digits, "11");
    }

    #[test]
    fn different_keys_in_quick_succession() {
        let mut h = Harness::new();
        h.press(9, 100, 1, 0, 4, false);
        h.press(9, 1_500, 2, 140, 4, false);
        // Interleaved last end packet of the first key arriving late.
        h.at(300).pkt(9, 100, 1, true, 640);
        h.at(1_000);
        assert_eq!(h.digits, "12");
    }

    #[test]
    fn timestamp_incrementing_sender() {
        let mut h = Harness::new();
        h.press(5, 20_000, 2, 0, 10, true);
        h.at(1_000);
        assert_eq!(h.digits, "2");
        // And a second press of the same key from that sender.
        h.press(5, 20_000 + 160 * 13 + 2_400, 2, 1_300, 10, true);
        h.at(3_000);
        assert_eq!(h.digits, "22");
    }

    #[test]
    fn long_press_with_gap_before_end() {
        let mut h = Harness::new();
        for i in 0..10u16 {
            h.at(20 * i as u64).pkt(8, 77, 5, false, 160 * i);
        }
        // 1.5 s of nothing: reported by timeout meanwhile.
        h.at(1_700);
        assert_eq!(h.digits, "5");
        h.at(1_700).pkt(8, 77, 5, false, 13_600);
        h.at(1_720).pkt(8, 77, 5, true, 13_760);
        h.at(1_740).pkt(8, 77, 5, true, 13_760);
        h.at(3_000);
        assert_eq!(h.digits, "5");
    }

    #[test]
    fn long_press_with_gap_and_moving_timestamp() {
        let mut h = Harness::new();
        for i in 0..10u16 {
            h.at(20 * i as u64)
                .pkt(8, 1_000 + 160 * i as u32, 5, false, 160 * i);
        }
        h.at(1_000);
        assert_eq!(h.digits, "5");
        // Resumes 820 ms later: timestamp and duration both moved ~6560.
        h.at(1_000).pkt(8, 1_000 + 160 * 50, 5, false, 160 * 50);
        h.at(1_020).pkt(8, 1_000 + 160 * 51, 5, true, 160 * 51);
        h.at(1_040).pkt(8, 1_000 + 160 * 52, 5, true, 160 * 51);
        h.at(3_000);
        assert_eq!(h.digits, "5");
    }

    #[test]
    fn timestamp_rewritten_mid_press() {
        let mut h = Harness::new();
        for i in 0..5u16 {
            h.at(20 * i as u64).pkt(8, 4_000, 3, false, 160 * i);
        }
        for i in 5..8u16 {
            h.at(20 * i as u64).pkt(8, 900_000, 3, false, 160 * i);
        }
        for _ in 0..3 {
            h.at(160).pkt(8, 900_000, 3, true, 1280);
        }
        h.at(1_000);
        assert_eq!(h.digits, "3");
    }

    #[test]
    fn long_event_segments_are_one_press() {
        let mut h = Harness::new();
        h.at(0).pkt(2, 0, 0, false, 60_000);
        h.at(20).pkt(2, 0, 0, false, 0xFFFF);
        // RFC 4733 §2.5.1.3 continuation segment.
        h.at(40).pkt(2, 0xFFFF, 0, false, 160);
        h.at(60).pkt(2, 0xFFFF, 0, true, 320);
        h.at(1_000);
        assert_eq!(h.digits, "0");
    }

    #[test]
    fn only_end_packets_arrive() {
        let mut h = Harness::new();
        for _ in 0..3 {
            h.at(0).pkt(4, 1_234, 6, true, 800);
        }
        h.at(1_000);
        assert_eq!(h.digits, "6");
    }

    #[test]
    fn ssrcs_are_separate_presses() {
        let mut h = Harness::new();
        h.press(1, 100, 7, 0, 3, false);
        h.press(2, 100, 7, 200, 3, false);
        h.at(1_000);
        assert_eq!(h.digits, "77");
    }

    #[test]
    fn non_dtmf_events_ignored() {
        let mut h = Harness::new();
        h.press(1, 100, 16, 0, 3, false);
        h.at(1_000);
        assert_eq!(h.digits, "");
        assert_eq!(h.det.deadline(), None);
    }

    #[test]
    fn timestamp_wraparound() {
        let mut h = Harness::new();
        h.press(1, u32::MAX - 100, 3, 0, 3, true);
        h.at(1_000);
        assert_eq!(h.digits, "3");
    }
}
