//! Band-limited sample-rate conversion for prompts.
//!
//! Prompts are recorded at studio rates (44.1/48 kHz) and played at 8 kHz.
//! Dropping or linearly interpolating samples would fold everything above
//! 4 kHz back into the telephone band as audible distortion, so the input is
//! low-pass filtered with a windowed sinc while being interpolated. This runs
//! once at start-up; clarity matters more than speed.

/// Zero crossings of the sinc on each side of the centre: the filter length.
const ZERO_CROSSINGS: usize = 32;
/// Kernel table resolution per zero crossing.
const TABLE_RESOLUTION: usize = 512;
/// Passband edge as a fraction of the lower Nyquist frequency, leaving room
/// for the transition band below it (3.6 kHz at 8 kHz output).
const ROLLOFF: f64 = 0.9;

/// Converts `input` sampled at `from` Hz to `to` Hz.
pub fn resample(input: &[f32], from: u32, to: u32) -> Vec<f32> {
    if from == to || from == 0 || to == 0 || input.is_empty() {
        return input.to_vec();
    }
    let kernel = Kernel::new();
    // Input samples per output sample.
    let step = from as f64 / to as f64;
    // Cut-off in cycles per input sample: below the Nyquist frequency of
    // whichever rate is lower.
    let cutoff = 0.5 * (to as f64 / from as f64).min(1.0) * ROLLOFF;
    // Sinc zero crossings per input sample.
    let scale = 2.0 * cutoff;
    let half_width = ZERO_CROSSINGS as f64 / scale;
    let out_len = ((input.len() as u128 * to as u128 + from as u128 / 2) / from as u128) as usize;
    let last = input.len() - 1;

    let mut out = Vec::with_capacity(out_len);
    for n in 0..out_len {
        let t = n as f64 * step;
        let lo = (t - half_width).ceil().max(0.0) as usize;
        let hi = ((t + half_width).floor() as usize).min(last);
        let mut acc = 0.0f64;
        let mut weight = 0.0f64;
        for (k, &x) in input.iter().enumerate().take(hi + 1).skip(lo) {
            let w = kernel.at((k as f64 - t).abs() * scale);
            acc += x as f64 * w;
            weight += w;
        }
        // Normalising by the summed weights keeps unity gain at DC, also at
        // the edges where the filter is cut short. Clamped to the decoder's
        // [-1, 1]: a full-scale input can ring past it (the kernel's L1 norm
        // is about 2.8) and a short edge sum can amplify; G.711 would clip
        // there anyway.
        let y = if weight.abs() > 1e-12 {
            acc / weight
        } else {
            0.0
        };
        out.push(y.clamp(-1.0, 1.0) as f32);
    }
    out
}

/// Blackman-windowed sinc, tabulated over [0, ZERO_CROSSINGS].
struct Kernel {
    table: Vec<f64>,
}

impl Kernel {
    fn new() -> Kernel {
        let n = ZERO_CROSSINGS * TABLE_RESOLUTION;
        let table = (0..=n + 1)
            .map(|i| {
                let u = i as f64 / TABLE_RESOLUTION as f64;
                if u >= ZERO_CROSSINGS as f64 {
                    return 0.0;
                }
                let sinc = if u == 0.0 {
                    1.0
                } else {
                    let x = std::f64::consts::PI * u;
                    x.sin() / x
                };
                // Blackman window over [-Z, Z], evaluated at u.
                let p = std::f64::consts::PI * (u / ZERO_CROSSINGS as f64 + 1.0);
                let window = 0.42 - 0.5 * p.cos() + 0.08 * (2.0 * p).cos();
                sinc * window
            })
            .collect();
        Kernel { table }
    }

    /// Kernel value at `u` zero crossings from the centre (linear
    /// interpolation between table entries).
    fn at(&self, u: f64) -> f64 {
        let pos = u * TABLE_RESOLUTION as f64;
        let i = pos as usize;
        if i + 1 >= self.table.len() {
            return 0.0;
        }
        let frac = pos - i as f64;
        self.table[i] * (1.0 - frac) + self.table[i + 1] * frac
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f64, rate: u32, secs: f64) -> Vec<f32> {
        let n = (rate as f64 * secs) as usize;
        (0..n)
            .map(|i| {
                (0.5 * (2.0 * std::f64::consts::PI * freq * i as f64 / rate as f64).sin()) as f32
            })
            .collect()
    }

    fn rms(x: &[f32]) -> f64 {
        // Skip the edges, where the filter has only half its support.
        let mid = &x[x.len() / 10..x.len() * 9 / 10];
        (mid.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / mid.len() as f64).sqrt()
    }

    #[test]
    fn passband_tone_keeps_level() {
        for from in [44_100, 48_000, 16_000, 11_025, 22_050] {
            let out = resample(&tone(1_000.0, from, 1.0), from, 8_000);
            assert_eq!(out.len(), 8_000, "from {from}");
            let level = rms(&out) / (0.5 / 2f64.sqrt());
            assert!((level - 1.0).abs() < 0.02, "from {from}: level {level}");
        }
    }

    #[test]
    fn stopband_tone_is_removed() {
        // 5 kHz would alias to 3 kHz at 8 kHz without the low-pass filter.
        let out = resample(&tone(5_000.0, 44_100, 1.0), 44_100, 8_000);
        let level = rms(&out) / (0.5 / 2f64.sqrt());
        assert!(level < 0.001, "alias level {level}");
        // Just above the output Nyquist frequency.
        let out = resample(&tone(4_200.0, 48_000, 1.0), 48_000, 8_000);
        let level = rms(&out) / (0.5 / 2f64.sqrt());
        assert!(level < 0.01, "alias level {level}");
    }

    #[test]
    fn upsampling_works() {
        let out = resample(&tone(1_000.0, 6_000, 1.0), 6_000, 8_000);
        assert_eq!(out.len(), 8_000);
        let level = rms(&out) / (0.5 / 2f64.sqrt());
        assert!((level - 1.0).abs() < 0.02, "level {level}");
    }

    /// Found by the resample fuzz target: 57 full-scale samples at
    /// 4,164 Hz rang out to -2.09 at 8 kHz; what leaves the resampler
    /// stays in [-1, 1].
    #[test]
    fn full_scale_input_stays_in_range() {
        let mut x = vec![1.0f32; 3];
        x.extend([-1.0; 16]);
        x.extend([1.0; 25]);
        x.extend([
            0.0, 0.0, -1.0, 0.0, 1.0, 0.0, 1.0, 0.941_189, 0.0, 0.0, 0.0, 1.0, -1.0,
        ]);
        assert_eq!(x.len(), 57);
        let y = resample(&x, 4_164, 8_000);
        let peak = y.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(peak <= 1.0, "peak {peak}");
    }

    #[test]
    fn same_rate_is_identity() {
        let x = tone(440.0, 8_000, 0.1);
        assert_eq!(resample(&x, 8_000, 8_000), x);
        assert!(resample(&[], 44_100, 8_000).is_empty());
        assert_eq!(resample(&[0.25], 44_100, 8_000).len(), 0);
        assert_eq!(resample(&[0.25; 6], 44_100, 8_000), vec![0.25]);
    }
}
