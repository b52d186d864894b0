//! Talk-off: no key from speech or music. Every shipped prompt in every
//! language, real speech where the machine has some, and synthetic voices
//! and instruments go through both G.711 laws; any key found fails.

use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::media::g711::Codec;
use crate::media::prompt::Prompt;

const TAU: f64 = std::f64::consts::TAU;
const FS: f64 = 8_000.0;

/// What the detector made of some audio.
#[derive(Default)]
struct Scan {
    /// Keys found, with where.
    keys: Vec<(char, f64)>,
    /// Longest run of consecutive windows that passed as one key: a key
    /// needs `ONSET_WINDOWS`; this shows how far any audio came.
    longest_run: u32,
    seconds: f64,
}

impl Scan {
    fn add(&mut self, other: Scan) {
        self.keys.extend(other.keys);
        self.longest_run = self.longest_run.max(other.longest_run);
        self.seconds += other.seconds;
    }
}

fn scan(samples: &[i16]) -> Scan {
    let mut det = InbandDetector::new();
    let mut out = Scan {
        seconds: samples.len() as f64 / FS,
        ..Scan::default()
    };
    for chunk in samples.chunks(HOP) {
        let mut found = Vec::new();
        det.feed(chunk, |k| found.push(k));
        for k in found {
            out.keys.push((k.key, k.onset as f64 / FS));
            out.longest_run = out.longest_run.max(ONSET_WINDOWS);
        }
        if let Some(run) = det.run {
            out.longest_run = out.longest_run.max(run.windows);
        }
    }
    out
}

/// Scans `pcm` through both laws; returns what was found, named.
fn scan_line(name: &str, pcm: &[i16], report: &mut Vec<String>) -> Scan {
    let mut total = Scan::default();
    for codec in [Codec::Pcmu, Codec::Pcma] {
        let line: Vec<i16> = pcm.iter().map(|&s| codec.decode(codec.encode(s))).collect();
        let s = scan(&line);
        for (key, at) in &s.keys {
            report.push(format!("{name} ({codec:?}): '{key}' at {at:.2} s"));
        }
        total.add(s);
    }
    total
}

fn wav_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            wav_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "wav") {
            out.push(p);
        }
    }
}

#[test]
fn no_key_in_any_shipped_prompt() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts");
    let mut files = Vec::new();
    wav_files(&root, &mut files);
    let mut report = Vec::new();
    let mut total = Scan::default();
    let mut languages = std::collections::BTreeSet::new();
    for f in &files {
        let rel = f.strip_prefix(&root).expect("under prompts/");
        languages.insert(
            rel.iter()
                .next()
                .expect("language")
                .to_string_lossy()
                .to_string(),
        );
        let prompt = Prompt::from_wav_file(rel.display().to_string(), f).expect("shipped prompt");
        total.add(scan_line(
            &rel.display().to_string(),
            &prompt.pcm,
            &mut report,
        ));
    }
    // Every language and both scale questions are in the corpus.
    assert_eq!(
        languages.into_iter().collect::<Vec<_>>(),
        ["da", "en", "nl", "pl", "sv"]
    );
    for scale in ["csat", "nps"] {
        assert_eq!(
            files
                .iter()
                .filter(|f| f.parent().is_some_and(|p| p.ends_with(scale)))
                .count(),
            5,
            "{scale} questions"
        );
    }
    println!(
        "{} prompts, {:.0} s of speech per law; longest run {} of {ONSET_WINDOWS} windows",
        files.len(),
        total.seconds / 2.0,
        total.longest_run
    );
    assert!(
        report.is_empty(),
        "keys found in prompts:\n{}",
        report.join("\n")
    );
}

/// Real recorded speech: the A-law capture Debian's sip-tester ships (the
/// speech the comment interop check plays), read from its RTP packets.
#[test]
fn no_key_in_recorded_speech() {
    let path = Path::new("/usr/share/sip-tester/g711a.pcap");
    let Ok(bytes) = std::fs::read(path) else {
        println!(
            "{} not installed (apt-get install sip-tester); skipped",
            path.display()
        );
        return;
    };
    let pcm = pcap_g711(&bytes);
    assert!(
        pcm.len() > 5 * 8_000,
        "only {} samples in {}",
        pcm.len(),
        path.display()
    );
    let mut report = Vec::new();
    let s = scan_line("g711a.pcap", &pcm, &mut report);
    println!(
        "{:.1} s of recorded speech; longest run {} of {ONSET_WINDOWS} windows",
        s.seconds / 2.0,
        s.longest_run
    );
    assert!(
        report.is_empty(),
        "keys found in speech:\n{}",
        report.join("\n")
    );
}

/// The G.711 payloads of a classic pcap of RTP over UDP/IPv4/Ethernet,
/// decoded by their payload type.
fn pcap_g711(b: &[u8]) -> Vec<i16> {
    let u32le = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes")) as usize;
    assert_eq!(u32le(0), 0xA1B2_C3D4, "little-endian microsecond pcap");
    let mut pcm = Vec::new();
    let mut at = 24;
    while at + 16 <= b.len() {
        let len = u32le(at + 8);
        let frame = &b[at + 16..(at + 16 + len).min(b.len())];
        at += 16 + len;
        // Ethernet (14) + IPv4 (IHL) + UDP (8) + RTP (12, no CSRC or extension assumed).
        let Some(ip) = frame.get(14..) else { continue };
        let ihl = usize::from(ip.first().copied().unwrap_or(0) & 0x0F) * 4;
        let Some(rtp) = ip.get(ihl + 8..) else {
            continue;
        };
        if rtp.len() < 12 || rtp[0] >> 6 != 2 {
            continue;
        }
        let codec = Codec::from_payload_type(rtp[1] & 0x7F);
        if let Some(codec) = codec {
            pcm.extend(rtp[12..].iter().map(|&x| codec.decode(x)));
        }
    }
    pcm
}

/// Scales to a peak of `dbfs` (0 = full scale) and rounds.
fn to_pcm(x: &[f64], peak_dbfs: f64) -> Vec<i16> {
    let peak = x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let gain = if peak > 0.0 {
        32767.0 * 10f64.powf(peak_dbfs / 20.0) / peak
    } else {
        0.0
    };
    x.iter()
        .map(|v| (v * gain).round().clamp(-32768.0, 32767.0) as i16)
        .collect()
}

/// A two-pole resonator (one formant).
#[derive(Clone, Copy, Default)]
struct Resonator {
    y1: f64,
    y2: f64,
}

impl Resonator {
    fn run(&mut self, x: f64, hz: f64, bandwidth: f64) -> f64 {
        let r = (-std::f64::consts::PI * bandwidth / FS).exp();
        let a1 = 2.0 * r * (TAU * hz / FS).cos();
        let a2 = -r * r;
        let y = (1.0 - r) * x + a1 * self.y1 + a2 * self.y2;
        self.y2 = self.y1;
        self.y1 = y;
        y
    }
}

/// Formant frequencies (F1-F4, Hz) of vowels from Peterson and Barney's
/// measurements, rounded; a voice scales them.
const VOWELS: [[f64; 4]; 10] = [
    [270.0, 2290.0, 3010.0, 3500.0], // i
    [390.0, 1990.0, 2550.0, 3500.0], // ɪ
    [530.0, 1840.0, 2480.0, 3500.0], // ɛ
    [660.0, 1720.0, 2410.0, 3500.0], // æ
    [730.0, 1090.0, 2440.0, 3500.0], // ɑ
    [570.0, 840.0, 2410.0, 3500.0],  // ɔ
    [440.0, 1020.0, 2240.0, 3500.0], // ʊ
    [300.0, 870.0, 2240.0, 3500.0],  // u
    [640.0, 1190.0, 2390.0, 3500.0], // ʌ
    [490.0, 1350.0, 1690.0, 3500.0], // ɝ
];

/// A source-filter voice: a glottal pulse train with jitter and a falling
/// spectrum, through four formant resonators that glide between vowels,
/// with noise for the consonants.
struct Voice {
    rng: StdRng,
    f0: f64,
    /// Formant scale (about 1.0 for men, 1.15 women, 1.3 children).
    formant_scale: f64,
    phase: f64,
    tilt: [f64; 2],
    formants: [Resonator; 4],
    last: f64,
    out: Vec<f64>,
}

impl Voice {
    fn new(seed: u64, f0: f64, formant_scale: f64) -> Voice {
        Voice {
            rng: StdRng::seed_from_u64(seed),
            f0,
            formant_scale,
            phase: 0.0,
            tilt: [0.0; 2],
            formants: [Resonator::default(); 4],
            last: 0.0,
            out: Vec::new(),
        }
    }

    /// `ms` of voiced sound gliding from formants `from` to `to` while the
    /// pitch goes from `f0a` to `f0b` (×`self.f0`), with vibrato.
    fn voiced(&mut self, ms: f64, from: [f64; 4], to: [f64; 4], f0a: f64, f0b: f64, vibrato: f64) {
        let n = (ms * 8.0) as usize;
        for i in 0..n {
            let t = i as f64 / n as f64;
            let f0 = self.f0
                * (f0a + (f0b - f0a) * t)
                * (1.0 + vibrato * (TAU * 5.5 * i as f64 / FS).sin())
                * (1.0 + 0.005 * self.rng.gen_range(-1.0..1.0));
            self.phase += f0 / FS;
            let pulse = if self.phase >= 1.0 {
                self.phase -= 1.0;
                1.0
            } else {
                0.0
            };
            // Glottal spectrum falls about 12 dB per octave.
            self.tilt[0] = 0.96 * self.tilt[0] + pulse;
            self.tilt[1] = 0.96 * self.tilt[1] + self.tilt[0];
            let aspiration = 0.02 * self.rng.gen_range(-1.0..1.0);
            let mut x = self.tilt[1] + aspiration;
            for k in 0..4 {
                let hz = (from[k] + (to[k] - from[k]) * t) * self.formant_scale;
                let bw = 60.0 + 0.06 * hz;
                x = self.formants[k].run(x, hz.min(3_800.0), bw) * 4.0;
            }
            // Radiation at the lips: a first difference.
            let y = x - self.last;
            self.last = x;
            self.out.push(y);
        }
    }

    /// A fricative: noise through one broad resonance.
    fn fricative(&mut self, ms: f64, hz: f64, level: f64) {
        let mut r = Resonator::default();
        for _ in 0..(ms * 8.0) as usize {
            let x = self.rng.gen_range(-1.0..1.0);
            self.out.push(level * r.run(x, hz, 1_200.0));
        }
    }

    fn pause(&mut self, ms: f64) {
        self.out
            .extend(std::iter::repeat_n(0.0, (ms * 8.0) as usize));
    }

    /// Running speech: syllables of a consonant and a vowel, formants
    /// gliding between vowels, pitch rising and falling over phrases.
    fn speak(&mut self, seconds: f64) {
        let mut vowel = VOWELS[0];
        let mut pitch = 1.0;
        while (self.out.len() as f64) < seconds * FS {
            match self.rng.gen_range(0..4) {
                0 => {
                    let (ms, hz) = (
                        self.rng.gen_range(40.0..120.0),
                        self.rng.gen_range(2_000.0..3_600.0),
                    );
                    self.fricative(ms, hz, 0.3)
                }
                1 => {
                    let ms = self.rng.gen_range(20.0..80.0);
                    self.pause(ms)
                }
                _ => {}
            }
            let next = VOWELS[self.rng.gen_range(0..VOWELS.len())];
            let target = self.rng.gen_range(0.8..1.3);
            let ms = self.rng.gen_range(80.0..300.0);
            self.voiced(ms, vowel, next, pitch, target, 0.0);
            vowel = next;
            pitch = target;
        }
    }
}

/// Voices from a deep male to a child, as base pitch and formant scale.
const VOICES: [(f64, f64); 7] = [
    (85.0, 1.0),
    (110.0, 1.0),
    (140.0, 1.05),
    (190.0, 1.15),
    (230.0, 1.18),
    (280.0, 1.25),
    (340.0, 1.3),
];

#[test]
fn no_key_in_synthetic_speech() {
    let mut report = Vec::new();
    let mut total = Scan::default();
    for (i, (f0, scale)) in VOICES.iter().enumerate() {
        let mut v = Voice::new(i as u64, *f0, *scale);
        v.speak(20.0);
        for peak in [-1.0, -12.0, -24.0] {
            let name = format!("speech at {f0} Hz, peak {peak} dBFS");
            total.add(scan_line(&name, &to_pcm(&v.out, peak), &mut report));
        }
    }
    println!(
        "{:.0} s of synthetic speech per law; longest run {} of {ONSET_WINDOWS} windows",
        total.seconds / 2.0,
        total.longest_run
    );
    assert!(
        report.is_empty(),
        "keys found in speech:\n{}",
        report.join("\n")
    );
}

/// Sung vowels: every vowel held on every semitone from 87 to 523 Hz, with
/// and without vibrato. A steady voice is the hardest case for a detector
/// that wants steady tones.
#[test]
fn no_key_in_sung_vowels() {
    let mut report = Vec::new();
    let mut total = Scan::default();
    for (i, vowel) in VOWELS.iter().enumerate() {
        for vibrato in [0.0, 0.015] {
            let mut v = Voice::new(100 + i as u64, 1.0, 1.1);
            for semitone in -29..=0 {
                let f0 = 523.25 * 2f64.powf(semitone as f64 / 12.0);
                v.f0 = f0;
                v.voiced(400.0, *vowel, *vowel, 1.0, 1.0, vibrato);
                v.pause(40.0);
            }
            let name = format!("vowel {i}, vibrato {vibrato}");
            total.add(scan_line(&name, &to_pcm(&v.out, -1.0), &mut report));
        }
    }
    println!(
        "{:.0} s of sung vowels per law; longest run {} of {ONSET_WINDOWS} windows",
        total.seconds / 2.0,
        total.longest_run
    );
    assert!(
        report.is_empty(),
        "keys found in sung vowels:\n{}",
        report.join("\n")
    );
}

/// Instrument timbres as relative harmonic amplitudes.
const TIMBRES: [(&str, &[f64]); 6] = [
    (
        "sawtooth",
        &[1.0, 0.5, 0.333, 0.25, 0.2, 0.167, 0.143, 0.125, 0.111, 0.1],
    ),
    (
        "square",
        &[1.0, 0.0, 0.333, 0.0, 0.2, 0.0, 0.143, 0.0, 0.111],
    ),
    ("organ", &[1.0, 0.5, 0.35, 0.25, 0.2]),
    ("clarinet", &[1.0, 0.05, 0.4, 0.05, 0.25, 0.03, 0.12]),
    ("brass", &[1.0, 0.8, 0.6, 0.5, 0.4, 0.3, 0.2]),
    // Soft and nearly pure: the second harmonic 12 dB down.
    ("flute", &[1.0, 0.25, 0.1]),
];

/// A note's samples added into `out` from `start`.
fn note(
    out: &mut Vec<f64>,
    start: usize,
    ms: f64,
    f0: impl Fn(f64) -> f64,
    timbre: &[f64],
    gain: f64,
) {
    let n = (ms * 8.0) as usize;
    if out.len() < start + n {
        out.resize(start + n, 0.0);
    }
    let mut phase = 0.0;
    for i in 0..n {
        let t = i as f64 / FS;
        phase += f0(t) / FS;
        // 5 ms attack and release, so the edges do not click.
        let env = (i.min(n - 1 - i) as f64 / 40.0).min(1.0);
        let mut v = 0.0;
        for (k, a) in timbre.iter().enumerate() {
            let h = (k + 1) as f64;
            if h * f0(t) < 3_900.0 {
                v += a * (TAU * h * phase).sin();
            }
        }
        out[start + i] += gain * env * v;
    }
}

fn equal_tempered(semitones_from_a4: i32) -> f64 {
    440.0 * 2f64.powf(semitones_from_a4 as f64 / 12.0)
}

/// Two-note chords whose fundamentals sit near a row and a column
/// frequency (E5-B5 with D6-G#6), triads under them, and harmonic-rich
/// glides, in every timbre.
#[test]
fn no_key_in_music() {
    let mut report = Vec::new();
    let mut total = Scan::default();
    for (name, timbre) in TIMBRES {
        let mut chords = Vec::new();
        let mut at = 0;
        for low in 7..=14 {
            for high in 17..=23 {
                let (a, b) = (equal_tempered(low), equal_tempered(high));
                note(&mut chords, at, 200.0, |_| a, timbre, 1.0);
                note(&mut chords, at, 200.0, |_| b, timbre, 0.8);
                at += 8 * 250;
            }
        }
        // Triads from C3 to C5: major, minor and seventh chords.
        for root in -21..=3 {
            for shape in [[0, 4, 7, 12], [0, 3, 7, 15], [0, 4, 10, 16]] {
                for s in shape {
                    let f = equal_tempered(root + s);
                    note(&mut chords, at, 300.0, |_| f, timbre, 0.7);
                }
                at += 8 * 320;
            }
        }
        total.add(scan_line(
            &format!("{name} chords"),
            &to_pcm(&chords, -1.0),
            &mut report,
        ));

        // Glides: one note, then two a fifth, a sixth and an octave apart,
        // up from 150 Hz to 1.8 kHz and back.
        let mut glides = Vec::new();
        let mut at = 0;
        for ratio in [None, Some(1.5), Some(1.68), Some(2.0)] {
            for (from, to) in [(150.0f64, 1_800.0f64), (1_800.0, 150.0)] {
                let f = move |t: f64| from * (to / from).powf(t / 3.0);
                note(&mut glides, at, 3_000.0, f, timbre, 1.0);
                if let Some(r) = ratio {
                    note(&mut glides, at, 3_000.0, move |t| r * f(t), timbre, 0.8);
                }
                at += 8 * 3_100;
            }
        }
        total.add(scan_line(
            &format!("{name} glides"),
            &to_pcm(&glides, -1.0),
            &mut report,
        ));
    }
    println!(
        "{:.0} s of music per law; longest run {} of {ONSET_WINDOWS} windows",
        total.seconds / 2.0,
        total.longest_run
    );
    assert!(
        report.is_empty(),
        "keys found in music:\n{}",
        report.join("\n")
    );
}

/// Whistling and humming: one pure tone at a time, sliding and with
/// vibrato, over the whole key range.
#[test]
fn no_key_in_a_whistled_melody() {
    let mut out = Vec::new();
    let mut at = 0;
    for semitone in -12..=26 {
        let f = equal_tempered(semitone);
        note(
            &mut out,
            at,
            250.0,
            move |t| f * (1.0 + 0.01 * (TAU * 5.0 * t).sin()),
            &[1.0],
            1.0,
        );
        at += 8 * 260;
    }
    let mut report = Vec::new();
    let s = scan_line("whistle", &to_pcm(&out, -1.0), &mut report);
    println!(
        "{:.0} s of whistling per law; longest run {} of {ONSET_WINDOWS} windows",
        s.seconds / 2.0,
        s.longest_run
    );
    assert!(
        report.is_empty(),
        "keys found in whistling:\n{}",
        report.join("\n")
    );
}

/// The corpus is not blind: the same scan finds a key tone mixed into
/// speech, so the zero counts above mean something.
#[test]
fn a_key_over_speech_is_still_found() {
    let mut v = Voice::new(7, 120.0, 1.0);
    v.speak(3.0);
    let mut pcm = to_pcm(&v.out, -12.0);
    // '#' (941 + 1477 Hz) at −10 dBm0 each, 100 ms, at 1.5 s.
    let start = 12_000;
    for i in 0..800 {
        let t = i as f64 / FS;
        let a = DBM0_AMPLITUDE as f64 * 10f64.powf(-10.0 / 20.0);
        let tone = a * ((TAU * 941.0 * t).sin() + (TAU * 1477.0 * t).sin());
        pcm[start + i] = (pcm[start + i] as f64 + tone).clamp(-32768.0, 32767.0) as i16;
    }
    let s = scan(&pcm);
    assert_eq!(s.keys.iter().map(|k| k.0).collect::<String>(), "#");
}
