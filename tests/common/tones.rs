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
