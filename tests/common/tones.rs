//! Short test prompts: each prompt is a pure tone at its own frequency, so
//! the RTP endpoint can tell which prompt the daemon is playing.

use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Prompt {
    Survey,
    Invalid,
    Thanks,
    Goodbye,
    Comment,
    Beep,
}

pub const ALL: [Prompt; 6] = [
    Prompt::Survey,
    Prompt::Invalid,
    Prompt::Thanks,
    Prompt::Goodbye,
    Prompt::Comment,
    Prompt::Beep,
];

impl Prompt {
    pub fn file(self) -> &'static str {
        match self {
            Prompt::Survey => "survey",
            Prompt::Invalid => "invalid",
            Prompt::Thanks => "thanks",
            Prompt::Goodbye => "goodbye",
            Prompt::Comment => "comment",
            Prompt::Beep => "beep",
        }
    }

    /// Tone frequency (Hz). 20 ms frames hold 8/12/16/20/24/28 periods.
    pub fn freq(self) -> f64 {
        match self {
            Prompt::Survey => 400.0,
            Prompt::Invalid => 600.0,
            Prompt::Thanks => 800.0,
            Prompt::Goodbye => 1000.0,
            Prompt::Comment => 1200.0,
            Prompt::Beep => 1400.0,
        }
    }
}

/// Lengths of the generated prompts, in milliseconds.
#[derive(Clone, Debug)]
pub struct PromptLengths {
    pub survey: u32,
    pub invalid: u32,
    pub thanks: u32,
    pub goodbye: u32,
    pub comment: u32,
    pub beep: u32,
}

impl Default for PromptLengths {
    fn default() -> Self {
        PromptLengths {
            survey: 400,
            invalid: 400,
            thanks: 400,
            goodbye: 400,
            comment: 400,
            beep: 200,
        }
    }
}

impl PromptLengths {
    pub fn get(&self, p: Prompt) -> u32 {
        match p {
            Prompt::Survey => self.survey,
            Prompt::Invalid => self.invalid,
            Prompt::Thanks => self.thanks,
            Prompt::Goodbye => self.goodbye,
            Prompt::Comment => self.comment,
            Prompt::Beep => self.beep,
        }
    }
}

/// Write `<dir>/en/<name>.wav` for every prompt: 8 kHz mono 16-bit tones.
pub fn write_prompts(dir: &Path, lens: &PromptLengths) {
    let en = dir.join("en");
    std::fs::create_dir_all(&en).unwrap();
    for p in ALL {
        write_tone(&en.join(format!("{}.wav", p.file())), p.freq(), lens.get(p));
    }
}

pub fn write_tone(path: &Path, freq: f64, ms: u32) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    let n = 8 * ms as usize;
    for i in 0..n {
        let t = i as f64 / 8000.0;
        let s = (2.0 * std::f64::consts::PI * freq * t).sin() * 8000.0;
        w.write_sample(s as i16).unwrap();
    }
    w.finalize().unwrap();
}

/// Duration of a WAV file in milliseconds (any rate/channels).
pub fn wav_duration_ms(path: &Path) -> Option<u64> {
    let r = hound::WavReader::open(path).ok()?;
    let spec = r.spec();
    let frames = r.duration() as u64; // samples per channel
    Some(frames * 1000 / spec.sample_rate as u64)
}

/// What one 20 ms frame sounds like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sound {
    Silence,
    Prompt(Prompt),
    /// Audible but not one of our tones (speech, noise, a shipped prompt).
    Other,
}

pub fn rms(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples.iter().map(|s| (*s as f64) * (*s as f64)).sum();
    (sum / samples.len() as f64).sqrt()
}

/// Classify decoded samples: energy, then frequency from zero crossings.
pub fn classify(samples: &[i16]) -> Sound {
    if samples.len() < 80 || rms(samples) < 300.0 {
        return Sound::Silence;
    }
    let mut zc = 0usize;
    for w in samples.windows(2) {
        if (w[0] >= 0) != (w[1] >= 0) {
            zc += 1;
        }
    }
    let secs = samples.len() as f64 / 8000.0;
    let freq = zc as f64 / (2.0 * secs);
    for p in ALL {
        if (freq - p.freq()).abs() <= 70.0 {
            return Sound::Prompt(p);
        }
    }
    Sound::Other
}

/// Amplitude of a 0 dBm0 sine in 16-bit linear PCM: G.711's largest μ-law
/// code decodes to 32124 and a full-scale sine is +3.17 dBm0.
pub const DBM0: f64 = 32124.0 / 1.4401;

/// ITU-T Q.23: a key's low (row) and high (column) frequency in Hz.
pub fn key_freqs(key: char) -> (f64, f64) {
    const ROWS: [f64; 4] = [697.0, 770.0, 852.0, 941.0];
    const COLS: [f64; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
    const PAD: [&str; 4] = ["123A", "456B", "789C", "*0#D"];
    for (r, row) in PAD.iter().enumerate() {
        if let Some(c) = row.find(key) {
            return (ROWS[r], COLS[c]);
        }
    }
    panic!("{key:?} is not a DTMF key");
}

/// A key tone as a phone or gateway would put it in the audio, with the
/// faults a line adds. Levels are per tone.
#[derive(Clone, Copy, Debug)]
pub struct KeyTone {
    pub key: char,
    pub ms: u32,
    pub low_dbm0: f64,
    pub high_dbm0: f64,
    /// Frequency errors as fractions, e.g. 0.015 for 1.5 % high.
    pub low_dev: f64,
    pub high_dev: f64,
    /// White noise over the tone at this level (dBm0 over the band).
    pub noise_dbm0: Option<f64>,
}

impl KeyTone {
    /// 100 ms at −10 dBm0 per tone, on frequency, no noise.
    pub fn new(key: char) -> KeyTone {
        KeyTone {
            key,
            ms: 100,
            low_dbm0: -10.0,
            high_dbm0: -10.0,
            low_dev: 0.0,
            high_dev: 0.0,
            noise_dbm0: None,
        }
    }

    pub fn ms(self, ms: u32) -> KeyTone {
        KeyTone { ms, ..self }
    }

    pub fn levels(self, low_dbm0: f64, high_dbm0: f64) -> KeyTone {
        KeyTone {
            low_dbm0,
            high_dbm0,
            ..self
        }
    }

    pub fn off(self, low_dev: f64, high_dev: f64) -> KeyTone {
        KeyTone {
            low_dev,
            high_dev,
            ..self
        }
    }

    pub fn noise(self, dbm0: f64) -> KeyTone {
        KeyTone {
            noise_dbm0: Some(dbm0),
            ..self
        }
    }

    /// 8 kHz samples.
    pub fn samples(&self) -> Vec<i16> {
        let (lo, hi) = key_freqs(self.key);
        let (lo, hi) = (lo * (1.0 + self.low_dev), hi * (1.0 + self.high_dev));
        let amp = |dbm0: f64| DBM0 * 10f64.powf(dbm0 / 20.0);
        let (a_lo, a_hi) = (amp(self.low_dbm0), amp(self.high_dbm0));
        let sigma = self.noise_dbm0.map_or(0.0, |n| amp(n) / 2f64.sqrt());
        let w = 2.0 * std::f64::consts::PI / 8000.0;
        (0..8 * self.ms as usize)
            .map(|i| {
                let t = i as f64;
                let mut s = a_lo * (w * lo * t).sin() + a_hi * (w * hi * t).sin();
                if sigma > 0.0 {
                    // Box-Muller: a Gaussian sample from two uniform ones.
                    let (u1, u2): (f64, f64) = (rand::random::<f64>().max(1e-12), rand::random());
                    s += sigma * (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
                }
                s.round().clamp(-32768.0, 32767.0) as i16
            })
            .collect()
    }
}

/// `ms` of digital silence at 8 kHz.
pub fn quiet(ms: u32) -> Vec<i16> {
    vec![0; 8 * ms as usize]
}

/// A shipped prompt's samples (the files are 8 kHz mono 16-bit).
pub fn wav_samples(path: &Path) -> Vec<i16> {
    let mut r = hound::WavReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let spec = r.spec();
    assert_eq!(
        (spec.sample_rate, spec.channels, spec.bits_per_sample),
        (8000, 1, 16),
        "{}",
        path.display()
    );
    r.samples::<i16>().map(|s| s.unwrap()).collect()
}
