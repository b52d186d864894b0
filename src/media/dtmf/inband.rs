//! In-band DTMF: key tones in the caller's decoded audio, for gateways and
//! old phones that send no RFC 4733 telephone-events.
//!
//! The audio is analysed in 20 ms Hann windows every 5 ms. In each window
//! the eight key frequencies (ITU-T Q.23) are measured with Goertzel
//! filters; for the strongest row and column, two more filters one bin to
//! each side give the true frequency and level (three-point interpolation
//! on the Hann kernel), so an off-frequency tone is judged by how far off it
//! is and not by how much of it a fixed filter happens to catch.
//!
//! Limits (ITU-T Q.24, using the AT&T column of its Table 1 where the
//! administrations differ, with the level floor extended to about −30 dBm0):
//! - frequency: within 1.5 % accepted, beyond 3.5 % rejected; the limit
//!   is set between them, at 2.5 % ([`MAX_DEVIATION`]);
//! - level: each tone from −3 dBm0 (the loudest pair G.711 carries without
//!   clipping) down to −30 dBm0 accepted; below −36 dBm0 rejected
//!   ([`MIN_LEVEL_DBM0`]);
//! - twist: the low-group tone up to 8 dB above the high-group tone, and
//!   the high group up to 4 dB above the low group, accepted; the limits
//!   are 1 dB wider for the measurement ([`MAX_LOW_OVER_HIGH_DB`],
//!   [`MAX_HIGH_OVER_LOW_DB`]);
//! - duration: a tone of 40 ms is always accepted, one of 23 ms or less
//!   never ([`ONSET_WINDOWS`]); a pause of 40 ms separates two presses of
//!   one key, a 10 ms interruption does not ([`PAUSE_WINDOWS`]).
//!
//! Talk-off (speech or music taken for a key) is kept out by what a keypad
//! does and a voice or an instrument does not: the two tones carry almost
//! all of the window's energy ([`MIN_TONE_SHARE`]); they have no
//! harmonics and no energy at their difference frequency, where two
//! harmonics of one voice find its fundamental ([`MAX_DISTORTION_DB`]);
//! and they hold their frequencies ([`MAX_DRIFT`]), all for the four
//! windows in a row a key needs. The tests run every shipped prompt in
//! every language, recorded speech, and synthetic voices, sung vowels,
//! chords and glides through it: no window of any of them passes.

use std::f32::consts::PI;
use std::sync::LazyLock;

/// G.711's sample rate.
const RATE: f32 = 8_000.0;
/// Analysis window: 20 ms.
const WINDOW: usize = 160;
/// A window every 5 ms.
const HOP: usize = 40;
/// Spacing of the probes beside each key frequency: one DFT bin.
const BIN_HZ: f32 = RATE / WINDOW as f32;

/// ITU-T Q.23: the low (row) and high (column) group frequencies.
const ROWS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
const COLS: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
/// ITU-T Q.23 Figure 1: the keys by row and column.
const KEYS: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];

/// Largest accepted frequency deviation, as a fraction of the nominal
/// frequency (Q.24: accept within 1.5 %, reject beyond 3.5 %).
pub const MAX_DEVIATION: f32 = 0.025;
/// Weakest accepted tone, per frequency, in dBm0.
pub const MIN_LEVEL_DBM0: f32 = -36.0;
/// Twist limits in dB (Q.24 AT&T: accept +4 dB and −8 dB, high minus low).
pub const MAX_HIGH_OVER_LOW_DB: f32 = 5.0;
pub const MAX_LOW_OVER_HIGH_DB: f32 = 9.0;
/// Share of the window's energy the two tones must carry. White noise
/// 15 dB below each tone leaves them about 0.98 (keys are still found
/// with it 10 dB below); a window only 70 % covered by a tone, as at the
/// edges of a too-short one, gets about 0.79.
pub const MIN_TONE_SHARE: f32 = 0.85;
/// Strongest distortion product (harmonic, or the difference of the two
/// tones) accepted, relative to its tone: ITU-T Q.23 has senders keep
/// distortion 20 dB below the tones.
pub const MAX_DISTORTION_DB: f32 = -20.0;
/// How far a key's measured frequencies may wander over the windows that
/// make it, as a fraction of the nominal frequency: a keypad's tones are
/// steady, a voice or a glide is not.
pub const MAX_DRIFT: f32 = 0.01;
/// Consecutive windows that must each hold the same key before it counts:
/// 4 windows span 35 ms of audio. A 40 ms tone always fills at least four
/// windows; a 23 ms one covers at most three by 75 % or more.
pub const ONSET_WINDOWS: u32 = 4;
/// Consecutive windows in which a held key's tones are 10 dB below their
/// level at the start before the key counts as released. A 40 ms pause
/// gives at least six such windows, a 10 ms interruption at most two.
pub const PAUSE_WINDOWS: u32 = 4;
/// The held key's tones this far below their starting power are a pause.
const RELEASE_RATIO: f32 = 0.1;

/// Amplitude of a 0 dBm0 sine in decoded 16-bit samples. G.711 (Table 5
/// and 6 notes): a full-scale sine is +3.17 dBm0 in μ-law (peak 32124) and
/// +3.14 dBm0 in A-law (peak 32256); both give about 22 400.
const DBM0_AMPLITUDE: f32 = 22_400.0;

/// When the caller's audio is searched for key tones (`dtmf.inband`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InbandMode {
    /// Only when the caller's offer has no telephone-event.
    #[default]
    Auto,
    /// Always; a key that comes both as events and as a tone counts once.
    On,
    /// Never.
    Off,
}

impl InbandMode {
    /// Whether to listen for tones on a call that negotiated telephone-events
    /// (`events`) or not.
    pub fn listens(self, events: bool) -> bool {
        match self {
            InbandMode::Auto => !events,
            InbandMode::On => true,
            InbandMode::Off => false,
        }
    }
}

/// A key found in the audio.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ToneKey {
    pub key: char,
    /// Where its tone began, as an index into the samples fed so far.
    pub onset: u64,
}

/// Filter coefficients and window, shared by every detector.
struct Tables {
    window: [f32; WINDOW],
    window_sum: f32,
    window_sq_sum: f32,
    /// 2·cos(ω) for the rows then the columns.
    coef: [f32; 8],
    below: [f32; 8],
    above: [f32; 8],
    nominal: [f32; 8],
    /// Window energy two tones at the minimum level would have.
    gate: f32,
    /// Amplitude of a tone at the minimum level.
    min_amplitude: f32,
    /// [`MAX_DISTORTION_DB`] as a power ratio.
    max_distortion: f32,
}

static TABLES: LazyLock<Tables> = LazyLock::new(|| {
    // Periodic Hann: its spectrum has the exact shape the interpolation in
    // `refine` assumes.
    let window: [f32; WINDOW] =
        std::array::from_fn(|n| 0.5 - 0.5 * (2.0 * PI * n as f32 / WINDOW as f32).cos());
    let window_sum = window.iter().sum();
    let window_sq_sum = window.iter().map(|w| w * w).sum();
    let nominal: [f32; 8] = std::array::from_fn(|i| if i < 4 { ROWS[i] } else { COLS[i - 4] });
    let coef_at = |hz: f32| 2.0 * (2.0 * PI * hz / RATE).cos();
    let min_amplitude = DBM0_AMPLITUDE * 10f32.powf(MIN_LEVEL_DBM0 / 20.0);
    Tables {
        window,
        window_sum,
        window_sq_sum,
        coef: nominal.map(coef_at),
        below: nominal.map(|f| coef_at(f - BIN_HZ)),
        above: nominal.map(|f| coef_at(f + BIN_HZ)),
        nominal,
        gate: min_amplitude * min_amplitude * window_sq_sum,
        min_amplitude,
        max_distortion: 10f32.powf(MAX_DISTORTION_DB / 10.0),
    }
});

/// What one window holds.
#[derive(Clone, Copy, Debug)]
struct Window {
    /// The key whose tones pass every check, if any.
    hit: Option<Hit>,
    /// Power at the eight key frequencies (zero for a quiet window).
    power: [f32; 8],
}

/// A window's key: row, column and the measured frequencies.
#[derive(Clone, Copy, Debug)]
struct Hit {
    row: usize,
    col: usize,
    low_hz: f32,
    high_hz: f32,
}

/// Windows in a row holding one key, not yet enough to count.
#[derive(Clone, Copy, Debug)]
struct Run {
    row: usize,
    col: usize,
    windows: u32,
    /// Lowest and highest measured frequency of each tone so far.
    low_hz: (f32, f32),
    high_hz: (f32, f32),
    /// First sample of the run's first window.
    start: u64,
    /// Summed power of the key's two frequencies, for the release level.
    power: f32,
}

#[derive(Clone, Copy, Debug)]
struct Held {
    row: usize,
    col: usize,
    /// Mean power of the two frequencies while the key went down.
    power: f32,
    quiet_windows: u32,
}

/// Finds DTMF keys in 8 kHz audio, one per press however long it is held.
#[derive(Debug)]
pub struct InbandDetector {
    /// The last `WINDOW` samples, oldest first from `head`.
    ring: [f32; WINDOW],
    head: usize,
    /// Samples fed since the last analysis.
    since_hop: usize,
    /// Samples fed in all.
    fed: u64,
    run: Option<Run>,
    held: Option<Held>,
}

impl Default for InbandDetector {
    fn default() -> Self {
        InbandDetector::new()
    }
}

impl InbandDetector {
    pub fn new() -> InbandDetector {
        InbandDetector {
            ring: [0.0; WINDOW],
            head: 0,
            since_hop: 0,
            fed: 0,
            run: None,
            held: None,
        }
    }

    /// Samples fed so far; [`ToneKey::onset`] counts in the same units.
    pub fn fed(&self) -> u64 {
        self.fed
    }

    /// The key whose tone is sounding now, once reported.
    pub fn held(&self) -> Option<char> {
        self.held.map(|h| KEYS[h.row][h.col])
    }

    /// Feeds decoded 8 kHz samples; `on_key` gets each key that goes down
    /// in them.
    pub fn feed(&mut self, samples: &[i16], mut on_key: impl FnMut(ToneKey)) {
        for &s in samples {
            self.ring[self.head] = f32::from(s);
            self.head = (self.head + 1) % WINDOW;
            self.fed += 1;
            self.since_hop += 1;
            if self.since_hop == HOP && self.fed >= WINDOW as u64 {
                self.since_hop = 0;
                let window = self.analyse();
                if let Some(key) = self.step(&window) {
                    on_key(key);
                }
            } else if self.since_hop == HOP {
                self.since_hop = 0;
            }
        }
    }

    /// Measures the window that ends with the newest sample.
    fn analyse(&self) -> Window {
        let t = &*TABLES;
        let mut x = [0f32; WINDOW];
        let (old, new) = self.ring.split_at(self.head);
        for ((out, s), w) in x.iter_mut().zip(new.iter().chain(old)).zip(&t.window) {
            *out = s * w;
        }
        let energy: f32 = x.iter().map(|v| v * v).sum();
        // Silence and quiet line noise, most of a caller's audio, cost only
        // this; a held key still needs its level measured to see it end.
        if energy < t.gate && self.held.is_none() {
            return Window {
                hit: None,
                power: [0.0; 8],
            };
        }
        let power = goertzel8(&x, &t.coef);
        let row = strongest(&power[..4]);
        let col = strongest(&power[4..]);
        let hit = if energy >= t.gate {
            measure_key(&x, energy, &power, row, col)
        } else {
            None
        };
        Window { hit, power }
    }

    /// Advances the press state by one window; returns a key that just
    /// went down.
    fn step(&mut self, w: &Window) -> Option<ToneKey> {
        let window_start = self.fed - WINDOW as u64;
        let same_as_held = |h: &Held| w.hit.is_some_and(|k| (k.row, k.col) == (h.row, h.col));
        if let Some(held) = self.held.as_mut() {
            let now = w.power[held.row] + w.power[4 + held.col];
            if same_as_held(held) || now >= held.power * RELEASE_RATIO {
                held.quiet_windows = 0;
            } else {
                held.quiet_windows += 1;
                if held.quiet_windows >= PAUSE_WINDOWS {
                    self.held = None;
                }
            }
        }
        let Some(hit) = w.hit else {
            self.run = None;
            return None;
        };
        if self.held.as_ref().is_some_and(same_as_held) {
            // Still the same press.
            self.run = None;
            return None;
        }
        let power = w.power[hit.row] + w.power[4 + hit.col];
        let fresh = Run {
            row: hit.row,
            col: hit.col,
            windows: 1,
            low_hz: (hit.low_hz, hit.low_hz),
            high_hz: (hit.high_hz, hit.high_hz),
            start: window_start,
            power,
        };
        let run = match self.run {
            Some(r) if (r.row, r.col) == (hit.row, hit.col) => {
                let widen = |(lo, hi): (f32, f32), hz: f32| (lo.min(hz), hi.max(hz));
                let low_hz = widen(r.low_hz, hit.low_hz);
                let high_hz = widen(r.high_hz, hit.high_hz);
                let steady = low_hz.1 - low_hz.0 <= MAX_DRIFT * ROWS[hit.row]
                    && high_hz.1 - high_hz.0 <= MAX_DRIFT * COLS[hit.col];
                if steady {
                    Run {
                        windows: r.windows + 1,
                        low_hz,
                        high_hz,
                        power: r.power + power,
                        ..r
                    }
                } else {
                    fresh
                }
            }
            _ => fresh,
        };
        if run.windows < ONSET_WINDOWS {
            self.run = Some(run);
            return None;
        }
        self.run = None;
        self.held = Some(Held {
            row: run.row,
            col: run.col,
            power: run.power / run.windows as f32,
            quiet_windows: 0,
        });
        Some(ToneKey {
            key: KEYS[run.row][run.col],
            onset: run.start,
        })
    }
}

/// Power (|X|²) at eight frequencies, in one pass over the samples.
fn goertzel8(x: &[f32; WINDOW], coef: &[f32; 8]) -> [f32; 8] {
    let mut s1 = [0f32; 8];
    let mut s2 = [0f32; 8];
    for &v in x {
        for i in 0..8 {
            let s = v + coef[i] * s1[i] - s2[i];
            s2[i] = s1[i];
            s1[i] = s;
        }
    }
    std::array::from_fn(|i| s1[i] * s1[i] + s2[i] * s2[i] - coef[i] * s1[i] * s2[i])
}

/// Power at one frequency.
fn goertzel(x: &[f32; WINDOW], coef: f32) -> f32 {
    let (mut s1, mut s2) = (0f32, 0f32);
    for &v in x {
        let s = v + coef * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    s1 * s1 + s2 * s2 - coef * s1 * s2
}

fn strongest(p: &[f32]) -> usize {
    let mut best = 0;
    for (i, v) in p.iter().enumerate() {
        if *v > p[best] {
            best = i;
        }
    }
    best
}

/// The key of the strongest row and column tones, if they are within the
/// frequency, level, twist and purity limits and carry the window's
/// energy.
fn measure_key(
    x: &[f32; WINDOW],
    energy: f32,
    power: &[f32; 8],
    row: usize,
    col: usize,
) -> Option<Hit> {
    let t = &*TABLES;
    let low = refine(x, power, row)?;
    let high = refine(x, power, 4 + col)?;
    if low.amplitude < t.min_amplitude || high.amplitude < t.min_amplitude {
        return None;
    }
    let twist_db = 20.0 * (high.amplitude / low.amplitude).log10();
    if twist_db > MAX_HIGH_OVER_LOW_DB || -twist_db > MAX_LOW_OVER_HIGH_DB {
        return None;
    }
    // A sine of amplitude A leaves A²/2·Σw² in the windowed energy.
    let tones = (low.amplitude.powi(2) + high.amplitude.powi(2)) / 2.0 * t.window_sq_sum;
    if tones < MIN_TONE_SHARE * energy {
        return None;
    }
    // Distortion products that fall in the band and clear of both tones:
    // the column tone's second harmonic (2418-3266 Hz), the row tone's
    // third (2091-2823 Hz) and, where the column tone is well away from
    // them, the row tone's second (1394-1882 Hz) and the difference of the
    // two (268-936 Hz). Two harmonics of one voice (say the 2nd and 3rd of
    // a sung G4, near 770 and 1209 Hz) always have the voice's other
    // harmonics there: the fundamental sits at their difference.
    let near_twice_low = (2.0 * low.hz - high.hz).abs() < 3.0 * BIN_HZ;
    let weaker = low.power.min(high.power);
    let strong = |hz: f32, reference: f32| power_at(x, hz) > reference * t.max_distortion;
    if strong(2.0 * high.hz, high.power)
        || strong(3.0 * low.hz, low.power)
        || (!near_twice_low
            && (strong(2.0 * low.hz, low.power) || strong(high.hz - low.hz, weaker)))
    {
        return None;
    }
    Some(Hit {
        row,
        col,
        low_hz: low.hz,
        high_hz: high.hz,
    })
}

/// One tone as measured.
struct Measured {
    hz: f32,
    amplitude: f32,
    /// |X|² at `hz`'s nominal key frequency.
    power: f32,
}

/// The tone near key frequency `i`, or `None` if it is further off than
/// [`MAX_DEVIATION`].
fn refine(x: &[f32; WINDOW], power: &[f32; 8], i: usize) -> Option<Measured> {
    let t = &*TABLES;
    let centre = power[i].sqrt();
    let below = goertzel(x, t.below[i]).sqrt();
    let above = goertzel(x, t.above[i]).sqrt();
    // Three-point interpolation on the Hann kernel: exact for one sine
    // within a bin of the centre; further off, it still grows with the
    // offset, which is all the rejection needs.
    let denom = below + 2.0 * centre + above;
    if denom <= 0.0 {
        return None;
    }
    let offset_bins = 2.0 * (above - below) / denom;
    if (offset_bins * BIN_HZ).abs() > MAX_DEVIATION * t.nominal[i] {
        return None;
    }
    // |X| = A/2 · Σw · W(offset), W the Hann kernel normalised to 1 at 0.
    let kernel = hann_kernel(offset_bins);
    Some(Measured {
        hz: t.nominal[i] + offset_bins * BIN_HZ,
        amplitude: 2.0 * centre / (t.window_sum * kernel),
        power: power[i] / (kernel * kernel),
    })
}

/// Power (|X|²) at any frequency.
fn power_at(x: &[f32; WINDOW], hz: f32) -> f32 {
    goertzel(x, 2.0 * (2.0 * PI * hz / RATE).cos())
}

/// The Hann window's spectrum magnitude `offset` bins from its peak,
/// relative to the peak: sinc(δ)/(1−δ²).
fn hann_kernel(offset: f32) -> f32 {
    let d = offset.abs();
    if d < 1e-4 {
        return 1.0;
    }
    if (d - 1.0).abs() < 1e-4 {
        return 0.5;
    }
    let sinc = (PI * d).sin() / (PI * d);
    (sinc / (1.0 - d * d)).abs()
}

#[cfg(test)]
mod talkoff;
#[cfg(test)]
mod tests;
