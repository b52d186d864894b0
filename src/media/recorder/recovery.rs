//! Start-up: recordings a crash left behind. A `<id>.wav.part` holds the
//! audio up to the crash behind a header whose lengths were never filled
//! in; it is rewritten as a proper WAV under its final name (so the
//! caller's words are not lost) or, when nothing is in it, removed. Either
//! way no `.part` file is left to be mistaken for a recording.

use std::fs;
use std::io;
use std::path::Path;
use std::time::SystemTime;

use uuid::Uuid;

use super::writer::{sync_dir, SPEC};

/// Suffix of a recording being written.
pub const PART: &str = ".part";
/// Suffix of a recovered recording being written.
const RECOVERING: &str = ".recovering";
/// hound's header for 16-bit mono PCM: RIFF, fmt (16 bytes), data header.
const HEADER_LEN: usize = 44;
/// A leftover larger than this is not one of ours (an hour at 8 kHz is
/// 57.6 MB).
const MAX_PART_BYTES: u64 = 64 * 1024 * 1024;

/// A recording recovered from a leftover `.part` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    pub measurement_id: Uuid,
    /// Relative to the recordings directory.
    pub file_name: String,
    pub duration_ms: i64,
    pub size_bytes: i64,
    /// When the crashed recording last wrote.
    pub modified: SystemTime,
}

/// Creates `dir` if missing, recovers or removes every leftover `.part`
/// (and half-done recovery) file in it, and returns what was recovered.
/// Blocking; run before calls are taken. A file another process holds
/// locked is a recording (or recovery) in progress by another daemon that
/// shares the directory: it is left alone.
pub fn recover_partial(dir: &Path) -> io::Result<Vec<Recovered>> {
    fs::create_dir_all(dir)?;
    let mut found = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let path = entry.path();
        if !name.ends_with(RECOVERING) && !name.ends_with(PART) {
            continue;
        }
        if in_use(&path) {
            tracing::info!(file = %path.display(), "left alone: another process is writing it");
            continue;
        }
        if name.ends_with(RECOVERING) {
            remove(&path);
            continue;
        }
        let Some(final_name) = name.strip_suffix(PART) else {
            continue;
        };
        match recover_one(dir, &path, final_name) {
            Ok(Some(r)) => {
                tracing::warn!(file = %r.file_name, duration_ms = r.duration_ms, "recovered a comment cut off by a crash");
                found.push(r);
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "cannot recover a leftover recording; removing it")
            }
        }
        remove(&path);
    }
    Ok(found)
}

/// Whether another open file holds the lock on `path` (see the writer).
fn in_use(path: &Path) -> bool {
    match fs::File::open(path) {
        Ok(f) => matches!(f.try_lock(), Err(fs::TryLockError::WouldBlock)),
        Err(_) => false,
    }
}

fn remove(path: &Path) {
    match fs::remove_file(path) {
        Ok(()) => tracing::info!(file = %path.display(), "removed a leftover temporary recording"),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "cannot remove a leftover temporary recording")
        }
    }
}

/// Rewrites one leftover as `<dir>/<final_name>`; `None` when there is
/// nothing to keep or the final file already exists.
fn recover_one(dir: &Path, part: &Path, final_name: &str) -> io::Result<Option<Recovered>> {
    let Some(id) = final_name
        .strip_suffix(".wav")
        .and_then(|s| Uuid::try_parse(s).ok())
    else {
        return Ok(None);
    };
    let target = dir.join(final_name);
    if target.exists() {
        return Ok(None);
    }
    let meta = fs::metadata(part)?;
    if meta.len() > MAX_PART_BYTES {
        return Ok(None);
    }
    let modified = meta.modified().unwrap_or_else(|_| SystemTime::now());
    let bytes = fs::read(part)?;
    let Some(data) = pcm_data(&bytes) else {
        return Ok(None);
    };
    let samples: Vec<i16> = data
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    if samples.is_empty() {
        return Ok(None);
    }
    let tmp = dir.join(format!("{final_name}{RECOVERING}"));
    let size = (|| -> io::Result<u64> {
        let file = fs::File::create(&tmp)?;
        let _ = file.try_lock();
        let mut out = io::BufWriter::new(file);
        let mut wav = hound::WavWriter::new(&mut out, SPEC).map_err(io::Error::other)?;
        for s in &samples {
            wav.write_sample(*s).map_err(io::Error::other)?;
        }
        wav.finalize().map_err(io::Error::other)?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        let size = file.metadata()?.len();
        fs::rename(&tmp, &target)?;
        drop(file);
        sync_dir(&target);
        Ok(size)
    })();
    let size = match size {
        Ok(s) => s,
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
    };
    Ok(Some(Recovered {
        measurement_id: id,
        file_name: final_name.to_string(),
        duration_ms: (samples.len() / 8) as i64,
        size_bytes: size as i64,
        modified,
    }))
}

/// The audio bytes of a header written by our writer, whatever its length
/// fields say; `None` if it is not our format.
fn pcm_data(bytes: &[u8]) -> Option<&[u8]> {
    let h = bytes.get(..HEADER_LEN)?;
    let u16_at = |i: usize| u16::from_le_bytes([h[i], h[i + 1]]);
    let u32_at = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
    let ours = &h[0..4] == b"RIFF"
        && &h[8..12] == b"WAVE"
        && &h[12..16] == b"fmt "
        && u32_at(16) == 16
        && u16_at(20) == 1
        && u16_at(22) == SPEC.channels
        && u32_at(24) == SPEC.sample_rate
        && u16_at(34) == SPEC.bits_per_sample
        && &h[36..40] == b"data";
    ours.then(|| {
        let data = &bytes[HEADER_LEN..];
        &data[..data.len() / 2 * 2]
    })
}
