use super::*;
use hound::{SampleFormat, WavSpec, WavWriter};
use std::f64::consts::PI;
use std::path::PathBuf;

/// Writes a sine tone with the given layout; `sample(x)` converts a value in
/// [-1, 1] and writes it.
fn write_tone(path: &Path, spec: WavSpec, freq: f64, secs: f64) {
    let mut w = WavWriter::create(path, spec).expect("create wav");
    let frames = (spec.sample_rate as f64 * secs) as usize;
    for i in 0..frames {
        let x = 0.5 * (2.0 * PI * freq * i as f64 / spec.sample_rate as f64).sin();
        for _ in 0..spec.channels {
            match (spec.sample_format, spec.bits_per_sample) {
                (SampleFormat::Float, _) => w.write_sample(x as f32),
                (SampleFormat::Int, 8) => w.write_sample((x * 127.0) as i8),
                (SampleFormat::Int, 16) => w.write_sample((x * 32767.0) as i16),
                (SampleFormat::Int, bits) => {
                    w.write_sample((x * ((1i64 << (bits - 1)) - 1) as f64) as i32)
                }
            }
            .expect("write sample");
        }
    }
    w.finalize().expect("finalize");
}

fn spec(rate: u32, channels: u16, bits: u16, format: SampleFormat) -> WavSpec {
    WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: bits,
        sample_format: format,
    }
}

/// Sign changes in the middle 80%, away from filter edge effects.
fn zero_crossings(pcm: &[i16]) -> usize {
    let mid = &pcm[pcm.len() / 10..pcm.len() * 9 / 10];
    mid.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count()
}

/// Peak of the middle 80%: the abrupt start and end of a test tone ring.
fn peak(pcm: &[i16]) -> i16 {
    let mid = &pcm[pcm.len() / 10..pcm.len() * 9 / 10];
    mid.iter().map(|s| s.saturating_abs()).max().unwrap_or(0)
}

#[test]
fn cd_quality_stereo_becomes_8k_mono_1khz() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tone.wav");
    write_tone(&path, spec(44_100, 2, 16, SampleFormat::Int), 1_000.0, 1.0);
    let p = Prompt::from_wav_file("tone", &path).expect("loads");
    assert_eq!(p.pcm.len(), 8_000);
    assert_eq!(p.duration(), Duration::from_secs(1));
    // 1 kHz: two crossings per cycle, 800 cycles in the middle 0.8 s.
    let zc = zero_crossings(&p.pcm);
    assert!((1_590..=1_610).contains(&zc), "zero crossings {zc}");
    // Level survives: 0.5 full scale.
    let pk = peak(&p.pcm) as i32;
    assert!((16_000..=16_800).contains(&pk), "peak {pk}");
    assert_eq!(p.encoded(Codec::Pcmu).len(), 8_000);
    assert_eq!(p.encoded(Codec::Pcma).len(), 8_000);
    assert_eq!(p.encoded(Codec::Pcmu)[100], Codec::Pcmu.encode(p.pcm[100]));
    assert_eq!(p.encoded(Codec::Pcma)[100], Codec::Pcma.encode(p.pcm[100]));
}

#[test]
fn other_layouts_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layouts = [
        spec(48_000, 1, 24, SampleFormat::Int),
        spec(22_050, 2, 32, SampleFormat::Float),
        spec(8_000, 1, 8, SampleFormat::Int),
        spec(16_000, 6, 32, SampleFormat::Int),
        spec(8_000, 1, 16, SampleFormat::Int),
    ];
    for (i, s) in layouts.into_iter().enumerate() {
        let path = dir.path().join(format!("t{i}.wav"));
        write_tone(&path, s, 1_000.0, 0.5);
        let p = Prompt::from_wav_file("t", &path)
            .unwrap_or_else(|e| panic!("{s:?} fails to load: {e}"));
        assert_eq!(p.pcm.len(), 4_000, "{s:?}");
        let zc = zero_crossings(&p.pcm);
        assert!((795..=805).contains(&zc), "{s:?}: zero crossings {zc}");
        let pk = peak(&p.pcm) as i32;
        assert!((15_500..=16_800).contains(&pk), "{s:?}: peak {pk}");
    }
}

#[test]
fn pcm_prompt_metadata() {
    let p = Prompt::from_pcm("x", vec![0; 1_234]);
    assert_eq!(p.name, "x");
    assert_eq!(p.duration(), Duration::from_micros(1_234 * 125));
    assert!(p.encoded(Codec::Pcmu).iter().all(|&b| b == 0xFF));
    assert!(p.encoded(Codec::Pcma).iter().all(|&b| b == 0xD5));
}

#[test]
fn bad_files_are_errors_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("good.wav");
    write_tone(&good, spec(8_000, 1, 16, SampleFormat::Int), 440.0, 0.1);
    let bytes = std::fs::read(&good).expect("read");

    let not_wav = dir.path().join("notes.wav");
    std::fs::write(&not_wav, b"this is text, not audio").expect("write");
    let err = Prompt::from_wav_file("n", &not_wav).expect_err("not a wav");
    assert!(matches!(err, PromptError::NotWav { .. }), "{err}");
    assert!(err.to_string().contains("notes.wav"), "{err}");

    // Header intact, fmt chunk damaged.
    let mut broken = bytes.clone();
    broken[20..36].fill(0xAB);
    let corrupt = dir.path().join("corrupt.wav");
    std::fs::write(&corrupt, &broken).expect("write");
    let err = Prompt::from_wav_file("c", &corrupt).expect_err("corrupt");
    assert!(
        matches!(
            err,
            PromptError::Corrupt { .. } | PromptError::Unsupported { .. }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("corrupt.wav"), "{err}");

    // Truncated data chunk.
    let err =
        Prompt::from_wav_bytes("truncated", &bytes[..bytes.len() - 101]).expect_err("truncated");
    assert!(err.to_string().contains("truncated"), "{err}");

    // No samples.
    let empty = dir.path().join("empty.wav");
    WavWriter::create(&empty, spec(8_000, 1, 16, SampleFormat::Int))
        .expect("create")
        .finalize()
        .expect("finalize");
    let err = Prompt::from_wav_file("e", &empty).expect_err("empty");
    assert!(matches!(err, PromptError::Empty { .. }), "{err}");

    let missing = dir.path().join("absent.wav");
    let err = Prompt::from_wav_file("a", &missing).expect_err("missing");
    assert!(matches!(err, PromptError::Io { .. }), "{err}");
    assert!(err.to_string().contains("absent.wav"), "{err}");
}

#[test]
fn garbage_never_panics() {
    use rand::{Rng, SeedableRng};
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("good.wav");
    write_tone(&good, spec(11_025, 2, 16, SampleFormat::Int), 440.0, 0.05);
    let bytes = std::fs::read(&good).expect("read");
    let mut rng = rand::rngs::StdRng::seed_from_u64(3550);
    for _ in 0..2_000 {
        let mut b = bytes.clone();
        for _ in 0..rng.gen_range(1..6) {
            let i = rng.gen_range(12..b.len());
            b[i] = rng.gen();
        }
        b.truncate(rng.gen_range(0..=b.len()));
        let _ = Prompt::from_wav_bytes("fuzz", &b);
    }
}

fn write_set(root: &Path, lang: &str, names: &[&str]) {
    let dir = root.join(lang);
    std::fs::create_dir_all(&dir).expect("mkdir");
    for name in names {
        write_tone(
            &dir.join(format!("{name}.wav")),
            spec(8_000, 1, 16, SampleFormat::Int),
            440.0,
            0.1,
        );
    }
}

#[test]
fn prompt_set_loads_and_falls_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_set(dir.path(), "en", REQUIRED);
    write_set(dir.path(), "en", &["beep"]);
    write_set(dir.path(), "de", &["survey"]);
    std::fs::write(dir.path().join("make-prompts.sh"), "#!/bin/sh\n").expect("write");
    std::fs::write(dir.path().join("de").join("README"), "notes").expect("write");

    let set = PromptSet::load_dir(dir.path()).expect("loads");
    assert_eq!(set.languages(), vec!["de".to_string(), "en".to_string()]);
    let de = set.get("de", "survey").expect("de survey");
    let en = set.get("en", "survey").expect("en survey");
    assert!(!Arc::ptr_eq(&de, &en));
    assert!(Arc::ptr_eq(
        &set.get("DE-ch", "survey").expect("de-CH"),
        &de
    ));
    assert!(Arc::ptr_eq(
        &set.get("de", "thanks").expect("fallback"),
        &set.get("en", "thanks").expect("en")
    ));
    assert!(set.get("fr", "goodbye").is_some());
    assert!(set.get("en", "beep").is_some());
    assert!(set.get("en", "comment").is_none());
    // Shared, not copied per lookup.
    assert!(Arc::ptr_eq(
        &set.get("en", "thanks").expect("a"),
        &set.get("en", "thanks").expect("b")
    ));
}

#[test]
fn prompt_set_requires_english_prompts() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_set(dir.path(), "en", &["survey", "invalid", "goodbye"]);
    write_set(dir.path(), "de", &["thanks"]);
    let err = PromptSet::load_dir(dir.path()).expect_err("thanks missing");
    assert!(matches!(err, PromptError::Missing { .. }), "{err}");
    let expected: PathBuf = dir.path().join("en").join("thanks.wav");
    assert!(
        err.to_string().contains(&expected.display().to_string()),
        "{err}"
    );

    let err = PromptSet::load_dir(&dir.path().join("nope")).expect_err("no dir");
    assert!(matches!(err, PromptError::Dir { .. }), "{err}");
}

#[test]
fn prompt_set_reports_corrupt_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_set(dir.path(), "en", REQUIRED);
    std::fs::write(
        dir.path().join("en").join("thanks.wav"),
        b"RIFF\0\0\0\0WAVEjunk",
    )
    .expect("write");
    let err = PromptSet::load_dir(dir.path()).expect_err("corrupt");
    assert!(err.to_string().contains("thanks.wav"), "{err}");
}

#[test]
fn prompt_set_insert() {
    let mut set = PromptSet::new();
    set.insert("EN", Arc::new(Prompt::from_pcm("survey", vec![1, 2, 3])));
    assert_eq!(set.get("en", "survey").map(|p| p.pcm.len()), Some(3));
    assert_eq!(set.languages(), vec!["en".to_string()]);
}

#[test]
fn shipped_prompts_load() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts");
    let set = PromptSet::load_dir(&root).expect("prompts/ loads");
    for name in REQUIRED.iter().chain(OPTIONAL) {
        let p = set
            .get("en", name)
            .unwrap_or_else(|| panic!("en/{name}.wav"));
        assert!(p.duration() >= Duration::from_millis(300), "{name}");
        assert!(p.duration() <= Duration::from_secs(20), "{name}");
        assert!(peak(&p.pcm) > 8_000, "{name} is too quiet");
    }
}
