//! Reading WAV files of any common layout into 8 kHz mono 16-bit PCM, and
//! writing that PCM back out as the one layout every tool plays.

use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};

use hound::{SampleFormat, WavReader};

use super::error::PromptError;
use super::resample::resample;
use super::SAMPLE_RATE;

/// Longest prompt read from disk; anything longer is a mistake, not a prompt.
pub(super) const MAX_SECONDS: u64 = 600;

/// Decodes a WAV image of at most `max_seconds`; `file` names it in errors.
pub(super) fn decode(file: &str, bytes: &[u8], max_seconds: u64) -> Result<Vec<i16>, PromptError> {
    // RIFF header: "RIFF" <size> "WAVE".
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        if bytes.len() >= 4 && (&bytes[0..4] == b"RF64" || &bytes[0..4] == b"RIFX") {
            return Err(PromptError::Unsupported {
                file: file.to_string(),
                detail: "RF64 and big-endian RIFX WAV files are not supported".into(),
            });
        }
        return Err(PromptError::NotWav {
            file: file.to_string(),
        });
    }
    // The decoder is a dependency; a malformed file must be an error, never a
    // crash of the daemon.
    let (rate, mono) = catch_unwind(AssertUnwindSafe(|| read_mono(file, bytes, max_seconds)))
        .unwrap_or_else(|_| {
            Err(PromptError::Corrupt {
                file: file.to_string(),
                detail: "malformed WAV structure".into(),
            })
        })?;
    if mono.is_empty() {
        return Err(PromptError::Empty {
            file: file.to_string(),
        });
    }
    let pcm = resample(&mono, rate, SAMPLE_RATE)
        .into_iter()
        .map(to_i16)
        .collect::<Vec<_>>();
    if pcm.is_empty() {
        return Err(PromptError::Empty {
            file: file.to_string(),
        });
    }
    Ok(pcm)
}

/// Reads all samples as floats in [-1, 1], averaging channels.
/// The length is checked from the header before any sample is read, so an
/// over-long upload is turned away cheaply.
fn read_mono(file: &str, bytes: &[u8], max_seconds: u64) -> Result<(u32, Vec<f32>), PromptError> {
    let corrupt = |e: hound::Error| match e {
        hound::Error::Unsupported | hound::Error::TooWide => PromptError::Unsupported {
            file: file.to_string(),
            detail: e.to_string(),
        },
        other => PromptError::Corrupt {
            file: file.to_string(),
            detail: other.to_string(),
        },
    };
    let mut reader = WavReader::new(Cursor::new(bytes)).map_err(corrupt)?;
    let spec = reader.spec();
    let unsupported = |detail: String| PromptError::Unsupported {
        file: file.to_string(),
        detail,
    };
    if spec.sample_rate < 4_000 || spec.sample_rate > 384_000 {
        return Err(unsupported(format!("sample rate {} Hz", spec.sample_rate)));
    }
    if u64::from(reader.duration()) > max_seconds * u64::from(spec.sample_rate) {
        return Err(PromptError::TooLong {
            file: file.to_string(),
            seconds: u64::from(reader.duration()) / u64::from(spec.sample_rate),
            max_seconds,
        });
    }
    let channels = spec.channels as usize;
    if channels == 0 {
        return Err(unsupported("zero channels".into()));
    }
    let interleaved: Vec<f32> = match (spec.sample_format, spec.bits_per_sample) {
        (SampleFormat::Int, bits @ (8 | 16 | 24 | 32)) => {
            let scale = 1.0 / (1u64 << (bits - 1)) as f64;
            reader
                .samples::<i32>()
                .map(|s| s.map(|v| (v as f64 * scale) as f32))
                .collect::<Result<_, _>>()
                .map_err(corrupt)?
        }
        (SampleFormat::Float, 32) => reader
            .samples::<f32>()
            .map(|s| {
                s.map(|v| {
                    if v.is_finite() {
                        v.clamp(-1.0, 1.0)
                    } else {
                        0.0
                    }
                })
            })
            .collect::<Result<_, _>>()
            .map_err(corrupt)?,
        (format, bits) => {
            return Err(unsupported(format!("{bits}-bit {format:?} samples")));
        }
    };
    let mono = interleaved
        .chunks_exact(channels)
        .map(|frame| frame.iter().sum::<f32>() / channels as f32)
        .collect();
    Ok((spec.sample_rate, mono))
}

fn to_i16(x: f32) -> i16 {
    (x as f64 * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

/// 8 kHz mono 16-bit PCM as a WAV image: what uploads are stored as and
/// what the API hands back, so a download is exactly what callers hear.
pub(super) fn encode(pcm: &[i16]) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: SampleFormat::Int,
    };
    let mut out = Cursor::new(Vec::with_capacity(44 + 2 * pcm.len()));
    // Writing to memory cannot fail short of the 4 GiB RIFF limit, far
    // above any prompt the decoder accepts; an error leaves a short image
    // that the reader would reject rather than a crash.
    if let Ok(mut w) = hound::WavWriter::new(&mut out, spec) {
        let mut ok = true;
        for &s in pcm {
            if w.write_sample(s).is_err() {
                ok = false;
                break;
            }
        }
        if ok {
            let _ = w.finalize();
        }
    }
    out.into_inner()
}
