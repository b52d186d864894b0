//! Putting the caller's RTP back in order for a recording: duplicates
//! dropped, reordering within a small window undone, lost packets replaced by
//! silence of the right length, so a recording is as long as what was said.
//!
//! Order comes from the sequence number (RFC 3550 §5.1), time from the
//! timestamp. A new SSRC, a sequence number jump (RFC 3550 §A.1) or a
//! timestamp jump that the arrival times do not explain starts a new
//! timeline that continues right after what was already written, rather than
//! filling minutes of silence or writing garbage.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Packets held back to wait for late ones: 10 × 20 ms.
pub const DEFAULT_WINDOW: usize = 10;

/// After a switch to a new SSRC, stragglers of the old one arriving within
/// this time are late copies, not a switch back.
const RETIRED_FOR: Duration = Duration::from_millis(500);

/// RFC 3550 §A.1: a sequence number this far ahead is a restart, not loss.
const MAX_DROPOUT: i64 = 3000;
/// RFC 3550 §A.1: this far behind is a restart, not a late packet.
const MAX_MISORDER: i64 = 100;

/// A timestamp gap is filled when it is at most this much longer than the
/// time between the packets' arrivals (network jitter, the sender's own
/// buffering). Longer gaps are a jump in the sender's clock.
const GAP_SLACK: Duration = Duration::from_millis(300);

/// What comes out: audio in order, and the silence standing in for what was
/// lost or not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Audio(Vec<i16>),
    /// This many samples of silence.
    Silence(u64),
}

impl Piece {
    pub fn samples(&self) -> u64 {
        match self {
            Piece::Audio(a) => a.len() as u64,
            Piece::Silence(n) => *n,
        }
    }
}

/// Counters for the log line at the end of a recording.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct JitterStats {
    pub duplicates: u64,
    /// Arrived after a later packet had already been written.
    pub late: u64,
    /// Reordered packets put right.
    pub reordered: u64,
    /// Silence samples inserted for lost or suppressed packets.
    pub filled: u64,
    /// New SSRC, sequence restart or timestamp jump.
    pub restarts: u64,
}

#[derive(Debug)]
struct Frame {
    ts: u32,
    samples: Vec<i16>,
    arrival: Instant,
}

#[derive(Debug)]
struct Stream {
    ssrc: u32,
    /// Highest extended sequence number received (RFC 3550 §A.1 cycles).
    max_ext: i64,
    /// Extended sequence number of the last frame released.
    released: Option<i64>,
    /// Timestamp where the next released sample belongs, and when the frame
    /// that ended there arrived.
    next: Option<(u32, Instant)>,
}

/// The reorder buffer of one recording.
#[derive(Debug)]
pub struct JitterBuffer {
    window: usize,
    stream: Option<Stream>,
    pending: BTreeMap<i64, Frame>,
    /// The SSRC replaced last, and when.
    retired: Option<(u32, Instant)>,
    stats: JitterStats,
}

impl JitterBuffer {
    pub fn new(window: usize) -> JitterBuffer {
        JitterBuffer {
            window: window.max(1),
            stream: None,
            pending: BTreeMap::new(),
            retired: None,
            stats: JitterStats::default(),
        }
    }

    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// Takes one audio packet (already decoded); appends what is ready to
    /// `out`.
    pub fn push(
        &mut self,
        ssrc: u32,
        seq: u16,
        ts: u32,
        samples: Vec<i16>,
        arrival: Instant,
        out: &mut Vec<Piece>,
    ) {
        let ext = match self.stream.as_ref() {
            Some(s) if s.ssrc == ssrc => {
                let max16 = s.max_ext as u16;
                let delta = i64::from(seq.wrapping_sub(max16) as i16);
                if !(-MAX_MISORDER..=MAX_DROPOUT).contains(&delta) {
                    None
                } else {
                    Some(s.max_ext + delta)
                }
            }
            _ => None,
        };
        let ext = match ext {
            Some(e) => e,
            None => {
                let straggler = self.retired.is_some_and(|(old, at)| {
                    old == ssrc && arrival.saturating_duration_since(at) < RETIRED_FOR
                });
                if straggler {
                    self.stats.late += 1;
                    return;
                }
                // A new source or a restarted one: write out the old one,
                // then start a fresh timeline.
                if let Some(old) = self.stream.as_ref() {
                    if old.ssrc != ssrc {
                        self.retired = Some((old.ssrc, arrival));
                    }
                    self.stats.restarts += 1;
                    self.drain(None, out);
                }
                // Far from zero so earlier sequence numbers stay positive.
                let ext = (1 << 20) + i64::from(seq);
                self.stream = Some(Stream {
                    ssrc,
                    max_ext: ext,
                    released: None,
                    next: None,
                });
                ext
            }
        };
        let Some(stream) = self.stream.as_mut() else {
            return;
        };
        if stream.released.is_some_and(|r| ext <= r) {
            // Already written past it: a copy of a written packet, or too
            // late to be put in its place.
            if self.pending.is_empty() && stream.released == Some(ext) {
                self.stats.duplicates += 1;
            } else {
                self.stats.late += 1;
            }
            return;
        }
        if self.pending.contains_key(&ext) {
            self.stats.duplicates += 1;
            return;
        }
        if ext < stream.max_ext {
            self.stats.reordered += 1;
        }
        stream.max_ext = stream.max_ext.max(ext);
        self.pending.insert(
            ext,
            Frame {
                ts,
                samples,
                arrival,
            },
        );
        while self.pending.len() > self.window {
            self.release_first(out);
        }
    }

    /// Writes out everything held back, in order. With `cut = (ssrc, ts)`,
    /// nothing from that timestamp on (of that SSRC) is written: the start
    /// of a '#' key press (RFC 4733 §2.5.1.1: the event's timestamp is when
    /// the key went down).
    pub fn drain(&mut self, cut: Option<(u32, u32)>, out: &mut Vec<Piece>) {
        let same_stream =
            |s: &Option<Stream>, ssrc: u32| s.as_ref().is_some_and(|s| s.ssrc == ssrc);
        while let Some((&ext, _)) = self.pending.iter().next() {
            let Some(mut frame) = self.pending.remove(&ext) else {
                break;
            };
            if let Some((ssrc, cut_ts)) = cut {
                if same_stream(&self.stream, ssrc) {
                    // RFC 3550 §5.1: timestamps compare modulo 2^32.
                    let before = cut_ts.wrapping_sub(frame.ts) as i32;
                    if before <= 0 {
                        self.pending.clear();
                        break;
                    }
                    let keep = before as usize;
                    if keep < frame.samples.len() {
                        frame.samples.truncate(keep);
                        self.release(ext, frame, out);
                        self.pending.clear();
                        break;
                    }
                }
            }
            self.release(ext, frame, out);
        }
    }

    fn release_first(&mut self, out: &mut Vec<Piece>) {
        if let Some((&ext, _)) = self.pending.iter().next() {
            if let Some(frame) = self.pending.remove(&ext) {
                self.release(ext, frame, out);
            }
        }
    }

    fn release(&mut self, ext: i64, frame: Frame, out: &mut Vec<Piece>) {
        let Some(stream) = self.stream.as_mut() else {
            return;
        };
        if let Some((next_ts, last_arrival)) = stream.next {
            let gap = frame.ts.wrapping_sub(next_ts) as i32;
            if gap > 0 {
                let gap = gap as u64;
                let arrived_after = frame.arrival.saturating_duration_since(last_arrival);
                let gap_time = Duration::from_micros(gap * 125);
                if gap_time <= arrived_after + GAP_SLACK {
                    // Lost packets, or silence the sender did not send
                    // (RFC 3551 §4.1): the time passed, so it is kept.
                    self.stats.filled += gap;
                    push_silence(out, gap);
                } else {
                    self.stats.restarts += 1;
                }
            } else if gap < 0 {
                // The clock went back, or overlaps what was written: a new
                // timeline, written on without a gap.
                self.stats.restarts += 1;
            }
        }
        let len = frame.samples.len() as u32;
        stream.next = Some((frame.ts.wrapping_add(len), frame.arrival));
        stream.released = Some(ext);
        if !frame.samples.is_empty() {
            out.push(Piece::Audio(frame.samples));
        }
    }
}

fn push_silence(out: &mut Vec<Piece>, n: u64) {
    if let Some(Piece::Silence(m)) = out.last_mut() {
        *m += n;
    } else {
        out.push(Piece::Silence(n));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SSRC: u32 = 0x1234_5678;

    /// Frame `k` of a stream: 160 samples all equal to k (so order is
    /// visible), sequence `seq0 + k`, timestamp `ts0 + 160·k`, arriving at
    /// `t0 + 20·k` ms.
    struct Src {
        ssrc: u32,
        seq0: u16,
        ts0: u32,
        t0: Instant,
    }

    impl Src {
        fn new(ssrc: u32, seq0: u16, ts0: u32) -> Src {
            Src {
                ssrc,
                seq0,
                ts0,
                t0: Instant::now(),
            }
        }

        fn push(&self, jb: &mut JitterBuffer, k: u32, out: &mut Vec<Piece>) {
            jb.push(
                self.ssrc,
                self.seq0.wrapping_add(k as u16),
                self.ts0.wrapping_add(160 * k),
                vec![k as i16; 160],
                self.t0 + Duration::from_millis(20 * u64::from(k)),
                out,
            );
        }
    }

    /// The output as a list: frame values for audio, -(samples) for silence.
    fn shape(out: &[Piece]) -> Vec<i64> {
        out.iter()
            .map(|p| match p {
                Piece::Audio(a) => {
                    assert_eq!(a.len(), 160, "whole frames");
                    assert!(a.iter().all(|&s| s == a[0]));
                    i64::from(a[0])
                }
                Piece::Silence(n) => -(*n as i64),
            })
            .collect()
    }

    fn total(out: &[Piece]) -> u64 {
        out.iter().map(Piece::samples).sum()
    }

    #[test]
    fn in_order_passes_through_after_the_window() {
        let mut jb = JitterBuffer::new(4);
        let src = Src::new(SSRC, 65_530, u32::MAX - 800);
        let mut out = Vec::new();
        for k in 0..10 {
            src.push(&mut jb, k, &mut out);
        }
        assert_eq!(shape(&out), (0..6).collect::<Vec<_>>());
        jb.drain(None, &mut out);
        assert_eq!(shape(&out), (0..10).collect::<Vec<_>>());
        assert_eq!(jb.stats(), JitterStats::default());
    }

    #[test]
    fn duplicates_are_dropped() {
        let mut jb = JitterBuffer::new(4);
        let src = Src::new(SSRC, 10, 0);
        let mut out = Vec::new();
        for k in [0, 0, 1, 2, 1, 3, 4, 5, 6, 6, 7, 0, 2] {
            src.push(&mut jb, k, &mut out);
        }
        jb.drain(None, &mut out);
        assert_eq!(shape(&out), (0..8).collect::<Vec<_>>());
        assert_eq!(jb.stats().duplicates + jb.stats().late, 5);
    }

    #[test]
    fn reordering_within_the_window_is_put_right() {
        let mut jb = JitterBuffer::new(4);
        let src = Src::new(SSRC, 65_534, 1000);
        let mut out = Vec::new();
        for k in [1, 0, 2, 5, 3, 4, 8, 6, 7, 9] {
            src.push(&mut jb, k, &mut out);
        }
        jb.drain(None, &mut out);
        assert_eq!(shape(&out), (0..10).collect::<Vec<_>>());
        assert_eq!(jb.stats().filled, 0);
        assert!(jb.stats().reordered >= 4);
    }

    #[test]
    fn too_late_is_dropped_not_misplaced() {
        let mut jb = JitterBuffer::new(2);
        let src = Src::new(SSRC, 0, 0);
        let mut out = Vec::new();
        for k in [0, 2, 3, 4, 5, 1, 6] {
            src.push(&mut jb, k, &mut out);
        }
        jb.drain(None, &mut out);
        // Frame 1 came after 2 had been written: its time is silence.
        assert_eq!(shape(&out), vec![0, -160, 2, 3, 4, 5, 6]);
        assert_eq!(jb.stats().late, 1);
        assert_eq!(total(&out), 7 * 160);
    }

    #[test]
    fn lost_packets_become_silence_of_the_same_length() {
        let mut jb = JitterBuffer::new(4);
        let src = Src::new(SSRC, 100, 5000);
        let mut out = Vec::new();
        for k in (0..50).filter(|k| !(10..15).contains(k) && *k != 30) {
            src.push(&mut jb, k, &mut out);
        }
        jb.drain(None, &mut out);
        assert_eq!(total(&out), 50 * 160);
        let s = shape(&out);
        assert_eq!(&s[9..12], &[9, -800, 15]);
        assert!(s.contains(&-160));
        assert_eq!(jb.stats().filled, 6 * 160);
    }

    #[test]
    fn suppressed_silence_is_filled_by_timestamp() {
        // RFC 3551 §4.1: the sequence number continues, the timestamp jumps
        // by the silence the sender did not send, and time really passed.
        let mut jb = JitterBuffer::new(4);
        let t0 = Instant::now();
        let mut out = Vec::new();
        for k in 0..5u16 {
            let at = t0 + Duration::from_millis(20 * u64::from(k));
            jb.push(SSRC, k, 160 * u32::from(k), vec![1; 160], at, &mut out);
        }
        for k in 5..10u16 {
            let at = t0 + Duration::from_millis(2000 + 20 * u64::from(k));
            let ts = 16_000 + 160 * u32::from(k);
            jb.push(SSRC, k, ts, vec![2; 160], at, &mut out);
        }
        jb.drain(None, &mut out);
        assert_eq!(total(&out), 10 * 160 + 16_000);
    }

    #[test]
    fn timestamp_jump_continues_without_a_gap() {
        let mut jb = JitterBuffer::new(4);
        let src = Src::new(SSRC, 0, 0);
        let mut out = Vec::new();
        for k in 0..5 {
            src.push(&mut jb, k, &mut out);
        }
        // Same SSRC and sequence, the clock jumps by ten minutes while
        // packets keep arriving every 20 ms.
        for k in 5..10 {
            jb.push(
                SSRC,
                k as u16,
                4_800_000 + 160 * k,
                vec![k as i16; 160],
                src.t0 + Duration::from_millis(20 * u64::from(k)),
                &mut out,
            );
        }
        // And back again.
        for k in 10..15 {
            src.push(&mut jb, k, &mut out);
        }
        jb.drain(None, &mut out);
        assert_eq!(shape(&out), (0..15).collect::<Vec<_>>());
        assert_eq!(jb.stats().restarts, 2);
    }

    #[test]
    fn new_ssrc_flushes_and_starts_a_new_timeline() {
        let mut jb = JitterBuffer::new(4);
        let a = Src::new(SSRC, 500, 9_000);
        let b = Src::new(0xBEEF, 7, 123_456_789);
        let mut out = Vec::new();
        for k in 0..6 {
            a.push(&mut jb, k, &mut out);
        }
        for k in 6..12 {
            b.push(&mut jb, k, &mut out);
        }
        // A straggler of the old stream after the switch is not written
        // into the new one.
        a.push(&mut jb, 5, &mut out);
        jb.drain(None, &mut out);
        assert_eq!(shape(&out), (0..12).collect::<Vec<_>>());
        assert_eq!(jb.stats().restarts, 1);
        assert_eq!(jb.stats().late, 1);
    }

    #[test]
    fn sequence_restart_is_a_new_timeline() {
        let mut jb = JitterBuffer::new(4);
        let mut out = Vec::new();
        let src = Src::new(SSRC, 1000, 0);
        for k in 0..5 {
            src.push(&mut jb, k, &mut out);
        }
        let restarted = Src::new(SSRC, 40_000, 0);
        for k in 5..10 {
            restarted.push(&mut jb, k, &mut out);
        }
        jb.drain(None, &mut out);
        assert_eq!(shape(&out), (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn cut_drops_everything_from_the_key_press_on() {
        let mut jb = JitterBuffer::new(10);
        let src = Src::new(SSRC, 0, 10_000);
        let mut out = Vec::new();
        for k in 0..20 {
            src.push(&mut jb, k, &mut out);
        }
        // The key went down 40 samples into frame 15.
        jb.drain(Some((SSRC, 10_000 + 15 * 160 + 40)), &mut out);
        assert_eq!(total(&out), 15 * 160 + 40);
        match out.last() {
            Some(Piece::Audio(a)) => assert_eq!(a, &vec![15i16; 40]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn cut_on_a_frame_boundary_and_from_another_ssrc() {
        let mut jb = JitterBuffer::new(10);
        let src = Src::new(SSRC, 0, 0);
        let mut out = Vec::new();
        for k in 0..8 {
            src.push(&mut jb, k, &mut out);
        }
        jb.drain(Some((SSRC, 5 * 160)), &mut out);
        assert_eq!(shape(&out), vec![0, 1, 2, 3, 4]);

        // Events from an unrelated SSRC say nothing about this timeline:
        // everything held is written.
        let mut jb = JitterBuffer::new(10);
        let mut out = Vec::new();
        for k in 0..8 {
            src.push(&mut jb, k, &mut out);
        }
        jb.drain(Some((0x999, 0)), &mut out);
        assert_eq!(shape(&out), (0..8).collect::<Vec<_>>());
    }
}
