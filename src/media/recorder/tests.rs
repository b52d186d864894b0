//! The recorder against real files in a temporary directory.

use std::io::{self, Cursor, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::atomic::AtomicUsize;
use std::sync::mpsc;
use std::time::Duration;

use super::writer::{encode, Msg, SendError, WriterHandle};
use super::*;

/// A speech-like test signal: a syllable-shaped envelope over a changing
/// tone, at about `dbfs` RMS.
fn speech(samples: usize, dbfs: f64, seed: usize) -> Vec<i16> {
    let peak = 32768.0 * 10f64.powf(dbfs / 20.0) * 2.0;
    (0..samples)
        .map(|i| {
            let t = (i + seed * 997) as f64 / 8000.0;
            // 4 syllables a second, each rising and falling.
            let env = (std::f64::consts::PI * (t * 4.0).fract()).sin();
            let f = 180.0 + 60.0 * (t * 1.3).sin();
            let v = (2.0 * std::f64::consts::PI * f * t).sin()
                + 0.5 * (2.0 * std::f64::consts::PI * 2.7 * f * t).sin();
            (peak * env * v / 1.5) as i16
        })
        .collect()
}

fn request(
    dir: &Path,
    name: &str,
    settings: RecordSettings,
) -> (RecordRequest, oneshot::Receiver<RecordingResult>) {
    let (done, rx) = oneshot::channel();
    (
        RecordRequest {
            tmp: dir.join(format!("{name}.part")),
            path: dir.join(name),
            settings,
            done,
        },
        rx,
    )
}

/// Feeds `pcm` as 20 ms packets of one stream, returning the status if a
/// limit ended the recording first. Paced a little, so the writer keeps up
/// as it does with a real caller (it has 4 s of audio of slack, not 60).
fn feed(rec: &mut Recording, pcm: &[i16], seq0: u16, ts0: u32) -> Option<CommentStatus> {
    let t0 = Instant::now();
    for (k, frame) in pcm.chunks(160).enumerate() {
        let at = t0 + Duration::from_millis(20 * k as u64);
        if let Some(s) = rec.audio(
            0xABCD,
            seq0.wrapping_add(k as u16),
            ts0.wrapping_add(160 * k as u32),
            frame.to_vec(),
            at,
        ) {
            return Some(s);
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    None
}

async fn result(rx: oneshot::Receiver<RecordingResult>) -> RecordingResult {
    tokio::time::timeout(Duration::from_secs(5), rx)
        .await
        .expect("result within 5 s")
        .expect("writer reports")
}

fn read_wav(path: &Path) -> (hound::WavSpec, Vec<i16>) {
    let mut r = hound::WavReader::open(path).expect("a valid WAV");
    let spec = r.spec();
    let s = r.samples::<i16>().map(|s| s.expect("sample")).collect();
    (spec, s)
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".part"))
        .collect()
}

#[tokio::test]
async fn hangup_keeps_every_sample_under_the_final_name_only() {
    let dir = tempfile::tempdir().unwrap();
    let (req, rx) = request(dir.path(), "a.wav", RecordSettings::default());
    let mut rec = Recording::start(req, Instant::now());
    let pcm = speech(8000 * 2, -20.0, 1);
    assert_eq!(feed(&mut rec, &pcm, 65_500, u32::MAX - 5000), None);
    rec.finish(CommentStatus::Hangup, None);
    let r = result(rx).await;
    assert_eq!(r.status, CommentStatus::Hangup);
    let RecordingOutcome::Saved {
        duration_ms,
        size_bytes,
    } = r.outcome
    else {
        panic!("{r:?}")
    };
    assert_eq!(duration_ms, 2000);
    let path = dir.path().join("a.wav");
    assert_eq!(size_bytes as u64, std::fs::metadata(&path).unwrap().len());
    let (spec, samples) = read_wav(&path);
    assert_eq!(spec, SPEC);
    assert_eq!(samples, pcm);
    assert!(leftovers(dir.path()).is_empty());
}

#[tokio::test]
async fn quiet_speaker_is_not_cut_off_and_silence_ends_it() {
    let dir = tempfile::tempdir().unwrap();
    let settings = RecordSettings {
        silence: Duration::from_millis(1500),
        ..RecordSettings::default()
    };
    let (req, rx) = request(dir.path(), "q.wav", settings);
    let mut rec = Recording::start(req, Instant::now());
    // -30 dBFS speech with 1 s pauses between phrases, then 3 s of quiet.
    let mut pcm = Vec::new();
    for i in 0..4 {
        pcm.extend(speech(8000, -30.0, i));
        pcm.extend(vec![0i16; 8000]);
    }
    pcm.extend(vec![0i16; 24_000]);
    let ended = feed(&mut rec, &pcm, 0, 0);
    assert_eq!(ended, Some(CommentStatus::Silence));
    rec.finish(CommentStatus::Silence, None);
    let r = result(rx).await;
    assert_eq!(r.status, CommentStatus::Silence);
    let (_, samples) = read_wav(&dir.path().join("q.wav"));
    // All four phrases, and exactly the silence limit after the last one
    // (the speech envelope fades out before its end).
    let last_loud = 7 * 8000;
    assert!(
        samples.len() >= last_loud - 400 + 12_000,
        "{}",
        samples.len()
    );
    assert!(samples.len() <= 8 * 8000 + 12_000);
    assert_eq!(&samples[..last_loud], &pcm[..last_loud]);
}

#[tokio::test]
async fn no_speech_keeps_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let settings = RecordSettings {
        no_speech: Duration::from_secs(2),
        ..RecordSettings::default()
    };
    let (req, rx) = request(dir.path(), "n.wav", settings);
    let mut rec = Recording::start(req, Instant::now());
    // Faint line noise only.
    let noise: Vec<i16> = (0..8000 * 4)
        .map(|i| ((i * 7919) % 41) as i16 - 20)
        .collect();
    assert_eq!(feed(&mut rec, &noise, 0, 0), Some(CommentStatus::Silence));
    rec.finish(CommentStatus::Silence, None);
    let r = result(rx).await;
    assert_eq!(r.outcome, RecordingOutcome::NoSpeech);
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
}

#[tokio::test]
async fn max_length_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let settings = RecordSettings {
        max: Duration::from_secs(2),
        ..RecordSettings::default()
    };
    let (req, rx) = request(dir.path(), "m.wav", settings);
    let mut rec = Recording::start(req, Instant::now());
    let pcm = speech(8000 * 3, -20.0, 2);
    assert_eq!(feed(&mut rec, &pcm, 9, 9), Some(CommentStatus::MaxLength));
    rec.finish(CommentStatus::MaxLength, None);
    let r = result(rx).await;
    assert_eq!(r.status, CommentStatus::MaxLength);
    let (_, samples) = read_wav(&dir.path().join("m.wav"));
    assert_eq!(samples, &pcm[..16_000]);
}

#[tokio::test]
async fn pound_cuts_at_the_start_of_the_key_press() {
    let dir = tempfile::tempdir().unwrap();
    let (req, rx) = request(dir.path(), "d.wav", RecordSettings::default());
    let mut rec = Recording::start(req, Instant::now());
    let pcm = speech(8000 * 2, -20.0, 3);
    feed(&mut rec, &pcm, 100, 50_000);
    // The key went down 1.9 s in; the last 100 ms (its tone, in band)
    // arrived before the event did.
    rec.finish(CommentStatus::Dtmf, Some((0xABCD, 50_000 + 15_200)));
    let r = result(rx).await;
    assert_eq!(r.status, CommentStatus::Dtmf);
    let (_, samples) = read_wav(&dir.path().join("d.wav"));
    assert_eq!(samples, &pcm[..15_200]);
}

#[tokio::test]
async fn missing_or_unusable_directory_reports_an_error_at_once() {
    let dir = tempfile::tempdir().unwrap();
    // A directory that is a file: fails even for root.
    let not_a_dir = dir.path().join("file");
    std::fs::write(&not_a_dir, b"x").unwrap();
    for base in [dir.path().join("missing"), not_a_dir] {
        let (req, rx) = request(&base, "e.wav", RecordSettings::default());
        let mut rec = Recording::start(req, Instant::now());
        let r = result(rx).await;
        assert_eq!(r.status, CommentStatus::Error);
        let RecordingOutcome::Failed(why) = &r.outcome else {
            panic!("{r:?}")
        };
        assert!(why.contains("e.wav.part"), "{why}");
        // The media side notices and stops feeding.
        let pcm = speech(8000, -20.0, 4);
        assert_eq!(feed(&mut rec, &pcm, 0, 0), Some(CommentStatus::Error));
        rec.finish(CommentStatus::Hangup, None);
    }
}

#[tokio::test]
async fn read_only_directory_reports_an_error() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    if std::fs::write(ro.join("probe"), b"").is_ok() {
        // Running as root: permissions do not apply; the test above covers
        // a directory that cannot be written for anyone.
        return;
    }
    let (req, rx) = request(&ro, "r.wav", RecordSettings::default());
    let rec = Recording::start(req, Instant::now());
    let r = result(rx).await;
    assert_eq!(r.status, CommentStatus::Error);
    rec.finish(CommentStatus::Hangup, None);
}

/// A disk that fills up after `room` bytes.
struct FillingDisk {
    inner: Cursor<Vec<u8>>,
    room: usize,
}

impl Write for FillingDisk {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let pos = self.inner.position() as usize;
        if pos + buf.len() > self.room {
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "No space left on device",
            ));
        }
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for FillingDisk {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

#[test]
fn full_disk_ends_with_error_and_keeps_what_was_written() {
    let (tx, rx) = mpsc::channel();
    let queued = AtomicUsize::new(0);
    for _ in 0..100 {
        tx.send(Msg::Audio(vec![1000; 160])).unwrap();
    }
    tx.send(Msg::Finish {
        status: CommentStatus::Dtmf,
        keep: true,
    })
    .unwrap();
    let mut disk = FillingDisk {
        inner: Cursor::new(Vec::new()),
        room: 44 + 2 * 1600,
    };
    let enc = encode(&mut disk, &rx, &queued);
    assert_eq!(enc.status, CommentStatus::Error);
    assert!(
        enc.error.as_deref().unwrap_or("").contains("space"),
        "{enc:?}"
    );
    assert!(enc.keep);
    assert_eq!(enc.samples, 1600);
    // The header was completed: a player reads exactly what was written.
    let bytes = disk.inner.into_inner();
    let r = hound::WavReader::new(Cursor::new(bytes)).unwrap();
    assert_eq!(r.len(), 1600);

    // Full before the header: nothing to keep.
    let (tx, rx) = mpsc::channel();
    drop(tx);
    let mut disk = FillingDisk {
        inner: Cursor::new(Vec::new()),
        room: 10,
    };
    let enc = encode(&mut disk, &rx, &queued);
    assert_eq!(enc.status, CommentStatus::Error);
    assert!(!enc.keep);
}

#[test]
fn recovers_a_crashed_recording_and_removes_temporaries() {
    let dir = tempfile::tempdir().unwrap();
    let id = uuid::Uuid::now_v7();
    // What a crash leaves: hound's header with zero lengths, then audio.
    let pcm = speech(4000, -20.0, 5);
    let mut buf = Cursor::new(Vec::new());
    {
        let mut w = hound::WavWriter::new(&mut buf, SPEC).unwrap();
        for s in &pcm {
            w.write_sample(*s).unwrap();
        }
        std::mem::forget(w);
    }
    let mut bytes = buf.into_inner();
    bytes.push(0x12); // half a sample
    std::fs::write(dir.path().join(format!("{id}.wav.part")), &bytes).unwrap();
    // Nothing but a header, a stray recovery file, one not ours.
    let empty = uuid::Uuid::now_v7();
    std::fs::write(dir.path().join(format!("{empty}.wav.part")), &bytes[..44]).unwrap();
    std::fs::write(dir.path().join(format!("{empty}.wav.recovering")), b"junk").unwrap();
    std::fs::write(dir.path().join("notes.txt.part"), b"junk").unwrap();
    std::fs::write(dir.path().join("keep.txt"), b"mine").unwrap();

    let found = recover_partial(dir.path()).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].measurement_id, id);
    assert_eq!(found[0].file_name, format!("{id}.wav"));
    assert_eq!(found[0].duration_ms, 500);
    let (spec, samples) = read_wav(&dir.path().join(format!("{id}.wav")));
    assert_eq!(spec, SPEC);
    assert_eq!(samples, pcm);
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, vec![format!("{id}.wav"), "keep.txt".to_string()]);

    // A missing directory is created.
    let fresh = dir.path().join("new/recordings");
    assert!(recover_partial(&fresh).unwrap().is_empty());
    assert!(fresh.is_dir());
}

#[test]
fn recovery_leaves_a_recording_locked_by_another_daemon_alone() {
    // Two daemons share the directory: one starts while the other records.
    let dir = tempfile::tempdir().unwrap();
    let id = uuid::Uuid::now_v7();
    let part = dir.path().join(format!("{id}.wav.part"));
    let mut buf = Cursor::new(Vec::new());
    {
        let mut w = hound::WavWriter::new(&mut buf, SPEC).unwrap();
        for s in speech(800, -20.0, 5) {
            w.write_sample(s).unwrap();
        }
        std::mem::forget(w);
    }
    std::fs::write(&part, buf.into_inner()).unwrap();
    let writing = std::fs::OpenOptions::new()
        .append(true)
        .open(&part)
        .unwrap();
    writing.lock().unwrap();
    assert!(recover_partial(dir.path()).unwrap().is_empty());
    assert!(part.exists(), "a recording in progress was taken away");
    // Its writer died without renaming it: the next start-up recovers it.
    drop(writing);
    let found = recover_partial(dir.path()).unwrap();
    assert_eq!(found.len(), 1);
    assert!(!part.exists());
}

#[test]
fn a_stalled_disk_is_noticed_at_64_kib() {
    let (w, rx) = WriterHandle::detached();
    // 204 frames of 20 ms (63.75 KiB) wait for a disk that does not write.
    for _ in 0..204 {
        assert_eq!(w.send(Piece::Audio(vec![1; 160])), Ok(()));
    }
    assert_eq!(w.send(Piece::Audio(vec![1; 160])), Err(SendError::Full));
    // Silence is cheap, but not free.
    assert_eq!(w.send(Piece::Silence(80_000)), Ok(()));
    // A writer that gave up (and reported) closes the channel.
    drop(rx);
    assert_eq!(w.send(Piece::Silence(1)), Err(SendError::Closed));
}
