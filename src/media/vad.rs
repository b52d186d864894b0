//! Is the caller speaking? A frame-energy detector for ending a comment
//! after the caller falls silent, and for not storing a comment nobody
//! spoke.
//!
//! Energy, not a speech model: telephone audio through G.711 is clean
//! enough that a level threshold separates talk from line noise, and a
//! threshold the admin can read in dBFS is easy to tune for quiet callers.

use std::time::Duration;

/// Analysis frame: 20 ms at 8 kHz.
pub const FRAME: usize = 160;

/// Loud frames needed before the caller counts as having spoken, so a
/// click or a single pop on the line does not make an empty comment.
const MIN_SPEECH_FRAMES: u32 = 3;

/// Samples per millisecond at 8 kHz.
const PER_MS: u64 = 8;

/// Voice activity over a stream of 8 kHz samples.
#[derive(Debug, Clone)]
pub struct Vad {
    /// Mean square at the threshold, in (16-bit full scale)² units.
    threshold_power: f64,
    /// Quiet samples after speech that end the comment.
    silence_limit: u64,
    /// Partial frame being summed.
    acc: f64,
    acc_len: usize,
    loud_frames: u32,
    /// Quiet samples since the last loud frame.
    quiet_run: u64,
}

impl Vad {
    /// `threshold_dbfs` is an RMS level relative to a full-scale square
    /// wave (0 dBFS = RMS 32768); a full-scale sine is about −3 dBFS.
    pub fn new(threshold_dbfs: f64, silence: Duration) -> Vad {
        let rms = 32768.0 * 10f64.powf(threshold_dbfs / 20.0);
        Vad {
            threshold_power: rms * rms,
            silence_limit: (silence.as_millis() as u64).saturating_mul(PER_MS),
            acc: 0.0,
            acc_len: 0,
            loud_frames: 0,
            quiet_run: 0,
        }
    }

    /// Whether the caller has spoken at all.
    pub fn heard_speech(&self) -> bool {
        self.loud_frames >= MIN_SPEECH_FRAMES
    }

    /// Whether the caller spoke and has been quiet for the silence limit.
    pub fn silence_reached(&self) -> bool {
        self.heard_speech() && self.quiet_run >= self.silence_limit
    }

    /// Quiet samples still allowed before [`silence_reached`](Self::silence_reached);
    /// `None` while no speech has been heard (silence does not end a
    /// comment that has not started).
    pub fn silence_left(&self) -> Option<u64> {
        self.heard_speech()
            .then(|| self.silence_limit.saturating_sub(self.quiet_run))
    }

    /// Quiet samples since the last loud frame.
    pub fn quiet_samples(&self) -> u64 {
        self.quiet_run
    }

    /// Feeds audio.
    pub fn push(&mut self, samples: &[i16]) {
        let mut rest = samples;
        while !rest.is_empty() {
            let take = (FRAME - self.acc_len).min(rest.len());
            for &s in &rest[..take] {
                let v = f64::from(s);
                self.acc += v * v;
            }
            self.acc_len += take;
            rest = &rest[take..];
            if self.acc_len == FRAME {
                let loud = self.acc / FRAME as f64 > self.threshold_power;
                self.frame(loud, FRAME as u64);
                self.acc = 0.0;
                self.acc_len = 0;
            }
        }
    }

    /// Feeds `n` samples of digital silence (lost or suppressed packets)
    /// without materialising them.
    pub fn push_silence(&mut self, n: u64) {
        // Complete a partial frame first, then count whole quiet frames.
        let mut n = n;
        if self.acc_len > 0 {
            let take = ((FRAME - self.acc_len) as u64).min(n);
            self.acc_len += take as usize;
            n -= take;
            if self.acc_len == FRAME {
                let loud = self.acc / FRAME as f64 > self.threshold_power;
                self.frame(loud, FRAME as u64);
                self.acc = 0.0;
                self.acc_len = 0;
            }
        }
        let whole = n / FRAME as u64 * FRAME as u64;
        if whole > 0 {
            self.frame(false, whole);
        }
        let tail = (n - whole) as usize;
        self.acc_len += tail;
    }

    fn frame(&mut self, loud: bool, samples: u64) {
        if loud {
            self.loud_frames = self.loud_frames.saturating_add(1);
            self.quiet_run = 0;
        } else {
            self.quiet_run = self.quiet_run.saturating_add(samples);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tone at `dbfs` RMS (relative to a full-scale square wave).
    fn tone(dbfs: f64, samples: usize) -> Vec<i16> {
        let peak = 32768.0 * 10f64.powf(dbfs / 20.0) * std::f64::consts::SQRT_2;
        (0..samples)
            .map(|i| (peak * (i as f64 * 2.0 * std::f64::consts::PI * 440.0 / 8000.0).sin()) as i16)
            .collect()
    }

    #[test]
    fn quiet_speech_counts_as_speech() {
        let mut v = Vad::new(-45.0, Duration::from_secs(3));
        v.push(&tone(-30.0, 800));
        assert!(v.heard_speech());
        assert!(!v.silence_reached());
        // Still speech at -40 dBFS, a very quiet speaker.
        let mut v = Vad::new(-45.0, Duration::from_secs(3));
        v.push(&tone(-40.0, 800));
        assert!(v.heard_speech());
    }

    #[test]
    fn line_noise_is_not_speech() {
        let mut v = Vad::new(-45.0, Duration::from_secs(3));
        v.push(&tone(-55.0, 80_000));
        v.push_silence(80_000);
        assert!(!v.heard_speech());
        assert!(!v.silence_reached());
        assert_eq!(v.silence_left(), None);
    }

    #[test]
    fn a_click_is_not_speech() {
        let mut v = Vad::new(-45.0, Duration::from_secs(3));
        v.push(&tone(-10.0, 2 * FRAME));
        v.push(&vec![0; 8_000]);
        assert!(!v.heard_speech());
    }

    #[test]
    fn silence_after_speech_ends_after_the_limit() {
        let mut v = Vad::new(-45.0, Duration::from_millis(3000));
        v.push(&tone(-30.0, 1600));
        // 2.98 s of quiet: not yet.
        v.push(&vec![0; 23_840]);
        assert!(!v.silence_reached());
        assert_eq!(v.silence_left(), Some(160));
        v.push(&vec![0; FRAME]);
        assert!(v.silence_reached());
    }

    #[test]
    fn pauses_between_words_do_not_end_it() {
        let mut v = Vad::new(-45.0, Duration::from_millis(3000));
        for _ in 0..10 {
            v.push(&tone(-30.0, 2400));
            v.push(&vec![0; 12_000]); // 1.5 s pause
            assert!(!v.silence_reached());
        }
    }

    #[test]
    fn gap_silence_counts_without_samples() {
        let mut v = Vad::new(-45.0, Duration::from_millis(1000));
        v.push(&tone(-30.0, 1000)); // ends mid-frame
        v.push_silence(7_000);
        assert!(!v.silence_reached());
        v.push_silence(1_200);
        assert!(v.silence_reached());
    }
}
