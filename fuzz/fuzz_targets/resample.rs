//! The prompt resampler (src/media/prompt/resample.rs) from every rate the
//! decoder accepts (4 kHz to 384 kHz) to 8 kHz, the one conversion the
//! daemon makes.
//!
//! Input: [from rate: 4 bytes LE][samples: f32 LE …].
//!
//! Invariants: the output has round(len × to / from) samples, every one
//! finite and within [-1, 1] (the decoder's range; ringing and short edge
//! sums are clamped).
#![no_main]

use libfuzzer_sys::fuzz_target;
use smileyd::media::prompt::resample;

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let (rate, samples) = data.split_at(4);
    let span = 384_000 - 4_000 + 1;
    let from = 4_000 + u32::from_le_bytes(rate.try_into().unwrap()) % span;
    // The decoder's samples: finite and clamped to [-1, 1].
    let input: Vec<f32> = samples
        .chunks_exact(4)
        .take(48_000)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .map(|x| {
            if x.is_finite() {
                x.clamp(-1.0, 1.0)
            } else {
                0.0
            }
        })
        .collect();
    for (from, to) in [(from, 8_000)] {
        let out = resample(&input, from, to);
        let expected = if from == to || input.is_empty() {
            input.len()
        } else {
            ((input.len() as u64 * u64::from(to) + u64::from(from) / 2) / u64::from(from)) as usize
        };
        assert_eq!(
            out.len(),
            expected,
            "{} samples {from} → {to} Hz",
            input.len()
        );
        for y in &out {
            assert!(y.is_finite() && y.abs() <= 1.0, "{y} from {from} → {to} Hz");
        }
    }
});
