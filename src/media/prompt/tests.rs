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

/// Writes one 8 kHz tone prompt at `<root>/<rel>.wav`; the frequency tells
/// the prompts apart after loading.
fn write_at(root: &Path, rel: &str, freq: f64) {
    let path = root.join(format!("{rel}.wav"));
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    write_tone(&path, spec(8_000, 1, 16, SampleFormat::Int), freq, 0.1);
}

/// The frequency of a loaded tone prompt, from its zero crossings.
fn freq_of(p: &Prompt) -> f64 {
    let crossings = p
        .pcm
        .windows(2)
        .filter(|w| (w[0] < 0) != (w[1] < 0))
        .count();
    (crossings as f64 / 2.0 / (p.pcm.len() as f64 / 8_000.0) / 10.0).round() * 10.0
}

fn heard(set: &PromptSet, survey: &str, lang: &str, name: &str) -> Option<f64> {
    set.get_for(survey, lang, name).map(|p| freq_of(&p))
}

#[test]
fn lookup_order_survey_then_language_then_english() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write_set(root, "en", REQUIRED);
    write_at(root, "en/survey", 500.0);
    write_at(root, "en/csat/survey", 600.0);
    write_at(root, "sv/survey", 700.0);
    write_at(root, "sv/nps/survey", 800.0);
    write_at(root, "pt/thanks", 900.0);
    write_at(root, "pt-br/csat/survey", 1_000.0);
    let set = PromptSet::load_dir(root).expect("loads");

    // <lang>/<survey>/<name> first.
    assert_eq!(heard(&set, "nps", "sv", "survey"), Some(800.0));
    // Then <lang>/<name>: Swedish shared beats English survey-specific.
    assert_eq!(heard(&set, "csat", "sv", "survey"), Some(700.0));
    // The primary tag, survey-specific and then shared.
    assert_eq!(heard(&set, "nps", "sv-FI", "survey"), Some(800.0));
    assert_eq!(heard(&set, "smiley", "SV_fi", "survey"), Some(700.0));
    assert_eq!(heard(&set, "csat", "pt-br", "survey"), Some(1_000.0));
    assert_eq!(heard(&set, "csat", "pt-br", "thanks"), Some(900.0));
    // Then English: survey-specific before shared.
    assert_eq!(heard(&set, "csat", "fr", "survey"), Some(600.0));
    assert_eq!(heard(&set, "CSAT", "fr", "survey"), Some(600.0));
    assert_eq!(heard(&set, "nps", "fr", "survey"), Some(500.0));
    assert_eq!(heard(&set, "csat", "pt", "survey"), Some(600.0));
    // Unknown or malformed languages are English.
    assert_eq!(heard(&set, "smiley", "../../etc", "survey"), Some(500.0));
    assert_eq!(heard(&set, "smiley", "", "survey"), Some(500.0));
    // A name nobody has is missing, not a panic.
    assert_eq!(heard(&set, "smiley", "sv", "fanfare"), None);
    // The scale's folder comes after the survey's own, before the shared one.
    let p = set.get_for_scale("after-sales", "csat", "en", "survey");
    assert_eq!(p.map(|p| freq_of(&p)), Some(600.0));
    let p = set.get_for_scale("after-sales", "csat", "sv", "survey");
    assert_eq!(p.map(|p| freq_of(&p)), Some(700.0));
    // The plain lookup ignores survey folders.
    assert_eq!(set.get("sv", "survey").map(|p| freq_of(&p)), Some(700.0));
    assert_eq!(set.get("fr", "survey").map(|p| freq_of(&p)), Some(500.0));
}

#[test]
fn survey_folders_are_listed_with_their_layer() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_set(dir.path(), "en", REQUIRED);
    write_at(dir.path(), "en/nps/survey", 600.0);
    // Not prompts: a hidden upload left over, notes, a folder too deep.
    std::fs::write(dir.path().join("en").join(".survey.wav.tmp-1-0"), b"x").expect("write");
    std::fs::write(dir.path().join("en").join("nps").join("NOTES"), b"x").expect("write");
    write_at(dir.path(), "en/nps/deeper/survey", 700.0);
    let set = PromptSet::load_dir(dir.path()).expect("loads");
    let list = set.list();
    let keys: Vec<String> = list.iter().map(|i| i.key.to_string()).collect();
    assert_eq!(
        keys,
        vec![
            "en/goodbye",
            "en/invalid",
            "en/survey",
            "en/thanks",
            "en/nps/survey"
        ]
    );
    assert!(list.iter().all(|i| i.source == Source::Shipped));
    assert!(list
        .iter()
        .all(|i| i.duration == Duration::from_millis(100)));
}

#[test]
fn custom_layer_hides_shipped_and_falls_back_when_removed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shipped = dir.path().join("shipped");
    let custom = dir.path().join("custom");
    write_set(&shipped, "en", REQUIRED);
    write_at(&shipped, "en/survey", 500.0);
    write_at(&shipped, "sv/survey", 700.0);
    write_at(&custom, "sv/survey", 1_100.0);
    write_at(&custom, "da/nps/survey", 1_200.0);
    // An unreadable upload is skipped and reported, not fatal.
    std::fs::write(
        custom.join("sv").join("thanks.wav"),
        b"RIFF\0\0\0\0WAVEjunk",
    )
    .expect("write");

    let (lib, skipped) = PromptLibrary::open(&shipped, &custom).expect("opens");
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert!(
        skipped[0].to_string().contains("thanks.wav"),
        "{}",
        skipped[0]
    );
    let set = lib.snapshot();
    assert_eq!(heard(&set, "smiley", "sv", "survey"), Some(1_100.0));
    assert_eq!(heard(&set, "nps", "da", "survey"), Some(1_200.0));
    assert_eq!(heard(&set, "smiley", "da", "survey"), Some(500.0));
    let sv = PromptKey::parse("sv", None, "survey").expect("key");
    assert_eq!(set.exact(&sv).map(|(_, s)| s), Some(Source::Custom));

    // Removing the upload brings the shipped prompt back for new snapshots;
    // the old snapshot is untouched.
    assert!(lib.remove(&sv).expect("removes"));
    assert!(!custom.join("sv").join("survey.wav").exists());
    assert_eq!(
        heard(&lib.snapshot(), "smiley", "sv", "survey"),
        Some(700.0)
    );
    assert_eq!(heard(&set, "smiley", "sv", "survey"), Some(1_100.0));
    assert_eq!(
        lib.snapshot().exact(&sv).map(|(_, s)| s),
        Some(Source::Shipped)
    );
    assert!(!lib.remove(&sv).expect("nothing to remove"));
    // A custom prompt with no shipped one under it falls back further.
    let da = PromptKey::parse("da", Some("nps"), "survey").expect("key");
    assert!(lib.remove(&da).expect("removes"));
    assert_eq!(heard(&lib.snapshot(), "nps", "da", "survey"), Some(500.0));

    // A missing custom directory is an empty layer.
    let (lib, skipped) = PromptLibrary::open(&shipped, &dir.path().join("absent")).expect("opens");
    assert!(skipped.is_empty());
    assert!(lib
        .snapshot()
        .list()
        .iter()
        .all(|i| i.source == Source::Shipped));
}

/// A WAV image in memory, like an upload.
fn tone_bytes(spec: WavSpec, freq: f64, secs: f64) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("up.wav");
    write_tone(&path, spec, freq, secs);
    std::fs::read(&path).expect("read")
}

#[test]
fn install_converts_stores_atomically_and_swaps() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shipped = dir.path().join("shipped");
    let custom = dir.path().join("custom");
    write_set(&shipped, "en", REQUIRED);
    let (lib, _) = PromptLibrary::open(&shipped, &custom).expect("opens");
    let before = lib.snapshot();

    let upload = tone_bytes(spec(44_100, 2, 16, SampleFormat::Int), 1_000.0, 0.5);
    let key = PromptKey::parse("nl", Some("csat"), "survey").expect("key");
    let info = lib.install(&key, &upload).expect("installs");
    assert_eq!(info.source, Source::Custom);
    assert_eq!(info.duration, Duration::from_millis(500));

    // Stored as 8 kHz mono 16-bit, with the same samples the API decoder
    // produces, and no temporary file left beside it.
    let stored = custom.join("nl").join("csat").join("survey.wav");
    let r = hound::WavReader::open(&stored).expect("stored wav");
    assert_eq!(r.spec(), spec(8_000, 1, 16, SampleFormat::Int));
    let expected = Prompt::from_wav_bytes("x", &upload).expect("decodes");
    let samples: Vec<i16> = r.into_samples().collect::<Result<_, _>>().expect("samples");
    assert_eq!(samples, expected.pcm.to_vec());
    assert_eq!(
        std::fs::read_dir(stored.parent().expect("dir"))
            .expect("ls")
            .count(),
        1
    );
    let now = lib.snapshot();
    let got = now.get_for("csat", "nl-BE", "survey").expect("installed");
    assert_eq!(got.pcm, expected.pcm);
    assert_eq!(got.name, "survey");
    assert_eq!(got.to_wav(), std::fs::read(&stored).expect("read"));
    // The snapshot taken before is what a call in progress keeps.
    assert!(before.exact(&key).is_none());
    // A restart loads it from the custom directory.
    let (again, skipped) = PromptLibrary::open(&shipped, &custom).expect("reopens");
    assert!(skipped.is_empty());
    assert_eq!(
        again
            .snapshot()
            .exact(&key)
            .map(|(p, s)| (p.pcm.clone(), s)),
        Some((expected.pcm.clone(), Source::Custom))
    );
}

#[test]
fn install_rejects_bad_uploads_and_keeps_the_old_prompt() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shipped = dir.path().join("shipped");
    let custom = dir.path().join("custom");
    write_set(&shipped, "en", REQUIRED);
    let (lib, _) = PromptLibrary::open(&shipped, &custom).expect("opens");
    let key = PromptKey::parse("en", None, "survey").expect("key");
    let old = lib.snapshot().exact(&key).expect("shipped").0;

    let err = lib
        .install(&key, b"<html>not audio</html>")
        .expect_err("not wav");
    assert!(
        matches!(err, InstallError::Invalid(PromptError::NotWav { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("en/survey.wav"), "{err}");

    let good = tone_bytes(spec(16_000, 1, 16, SampleFormat::Int), 440.0, 0.2);
    let err = lib
        .install(&key, &good[..good.len() / 2])
        .expect_err("truncated");
    assert!(matches!(err, InstallError::Invalid(_)), "{err}");

    let too_long = tone_bytes(
        spec(8_000, 1, 8, SampleFormat::Int),
        440.0,
        MAX_UPLOAD_SECONDS as f64 + 1.0,
    );
    let err = lib.install(&key, &too_long).expect_err("too long");
    assert!(matches!(err, InstallError::TooLong(_)), "{err}");
    assert!(err.to_string().contains("at most 120 s"), "{err}");

    let huge = vec![0u8; MAX_UPLOAD_BYTES + 1];
    let err = lib.install(&key, &huge).expect_err("too large");
    assert!(matches!(err, InstallError::TooLarge { .. }), "{err}");

    let now = lib.snapshot().exact(&key).expect("still there");
    assert!(Arc::ptr_eq(&now.0, &old));
    assert_eq!(now.1, Source::Shipped);
    assert!(!custom.exists() || std::fs::read_dir(&custom).expect("ls").count() == 0);
}

#[test]
fn keys_refuse_paths_and_unknown_names() {
    assert!(PromptKey::parse("..", None, "survey").is_err());
    assert!(PromptKey::parse("en", Some(".."), "survey").is_err());
    assert!(PromptKey::parse("en", Some("a/b"), "survey").is_err());
    assert!(PromptKey::parse("en", None, "../survey").is_err());
    assert!(PromptKey::parse("e n", None, "survey").is_err());
    assert!(PromptKey::parse("-en", None, "survey").is_err());
    let err = PromptKey::parse("en", None, "thank").expect_err("unknown");
    assert!(err.to_string().contains("survey, invalid, thanks"), "{err}");
    let k = PromptKey::parse("PT_br", Some("After-Sales"), "survey").expect("ok");
    assert_eq!(k.to_string(), "pt-br/after-sales/survey");
    assert_eq!(
        k.relative_path(),
        PathBuf::from("pt-br")
            .join("after-sales")
            .join("survey.wav")
    );
}

#[test]
fn every_shipped_language_is_complete() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts");
    let set = PromptSet::load_dir(&root).expect("prompts/ loads");
    for lang in ["en", "sv", "da", "nl", "pl"] {
        for name in REQUIRED.iter().chain(OPTIONAL) {
            let key = PromptKey::parse(lang, None, name).expect("key");
            let (p, _) = set
                .exact(&key)
                .unwrap_or_else(|| panic!("{lang}/{name}.wav is not shipped"));
            assert!(peak(&p.pcm) > 8_000, "{lang}/{name} is too quiet");
        }
        for survey in ["csat", "nps"] {
            let key = PromptKey::parse(lang, Some(survey), "survey").expect("key");
            let (p, _) = set
                .exact(&key)
                .unwrap_or_else(|| panic!("{lang}/{survey}/survey.wav is not shipped"));
            assert!(p.duration() >= Duration::from_secs(2), "{key}");
            assert!(p.duration() <= Duration::from_secs(20), "{key}");
            // Not the smiley question in disguise.
            let shared = set.get(lang, "survey").expect("shared survey");
            assert_ne!(p.pcm, shared.pcm, "{key}");
        }
    }
}
