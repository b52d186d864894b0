//! The WAV file of one recording, written on its own thread so a slow disk
//! never stalls the call's RTP clock. The media task hands it audio through
//! a channel bounded by bytes (about 64 KiB), the thread streams it through
//! hound into `<name>.part`, and only a finished, fsync'd file is renamed to
//! its final name: a half-written recording is never visible.

use std::fs::File;
use std::io::{BufWriter, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;

use tokio::sync::oneshot;

use super::{RecordingOutcome, RecordingResult};
use crate::media::jitter::Piece;
use crate::model::CommentStatus;

/// Audio waiting for the disk, at most; beyond it the disk is not keeping
/// up and the recording ends with status error (what is written is kept).
pub const QUEUE_LIMIT: usize = 64 * 1024;

/// What a queued message of silence costs against the limit.
const SILENCE_COST: usize = 16;

/// Write buffer between hound and the file: small, so a crash of the
/// process loses at most about 250 ms of what the caller said.
const FILE_BUFFER: usize = 4 * 1024;

/// 8 kHz mono 16-bit PCM: G.711 decoded, nothing invented.
pub const SPEC: hound::WavSpec = hound::WavSpec {
    channels: 1,
    sample_rate: 8_000,
    bits_per_sample: 16,
    sample_format: hound::SampleFormat::Int,
};

pub(super) enum Msg {
    Audio(Vec<i16>),
    Silence(u64),
    /// The last message: how the recording ended and whether the caller
    /// spoke (no speech → the file is deleted).
    Finish {
        status: CommentStatus,
        keep: bool,
    },
}

/// Why audio could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SendError {
    /// More than [`QUEUE_LIMIT`] waiting: the disk stalls.
    Full,
    /// The writer stopped (it could not write and has reported so).
    Closed,
}

/// The media task's end of a writer thread.
pub(super) struct WriterHandle {
    tx: mpsc::Sender<Msg>,
    queued: Arc<AtomicUsize>,
}

impl WriterHandle {
    /// Starts the writer thread; it reports through `done` exactly once,
    /// also when it cannot start.
    pub(super) fn spawn(
        tmp: PathBuf,
        path: PathBuf,
        done: oneshot::Sender<RecordingResult>,
    ) -> WriterHandle {
        let (tx, rx) = mpsc::channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let q = Arc::clone(&queued);
        // The sender travels in a slot so that a failed spawn can still
        // report through it.
        let slot = Arc::new(std::sync::Mutex::new(Some(done)));
        let thread_slot = Arc::clone(&slot);
        let spawned = std::thread::Builder::new()
            .name("recorder".into())
            .spawn(move || {
                let result = write_file(&tmp, &path, rx, &q);
                if let Some(done) = thread_slot.lock().ok().and_then(|mut s| s.take()) {
                    let _ = done.send(result);
                }
            });
        if let Err(e) = spawned {
            if let Some(done) = slot.lock().ok().and_then(|mut s| s.take()) {
                let _ = done.send(RecordingResult {
                    status: CommentStatus::Error,
                    outcome: RecordingOutcome::Failed(format!("cannot start the writer: {e}")),
                });
            }
        }
        WriterHandle { tx, queued }
    }

    /// Queues audio or silence for the file.
    pub(super) fn send(&self, piece: Piece) -> Result<(), SendError> {
        let (msg, cost) = match piece {
            Piece::Audio(a) => {
                let cost = a.len() * 2;
                (Msg::Audio(a), cost)
            }
            Piece::Silence(n) => (Msg::Silence(n), SILENCE_COST),
        };
        if self.queued.load(Ordering::Acquire) + cost > QUEUE_LIMIT {
            return Err(SendError::Full);
        }
        self.queued.fetch_add(cost, Ordering::AcqRel);
        self.tx.send(msg).map_err(|_| SendError::Closed)
    }

    /// A handle with no thread behind it: the test reads the channel.
    #[cfg(test)]
    pub(super) fn detached() -> (WriterHandle, mpsc::Receiver<Msg>) {
        let (tx, rx) = mpsc::channel();
        let queued = Arc::new(AtomicUsize::new(0));
        (WriterHandle { tx, queued }, rx)
    }

    /// Ends the recording; the thread finishes the file and reports.
    pub(super) fn finish(self, status: CommentStatus, keep: bool) {
        let _ = self.tx.send(Msg::Finish { status, keep });
    }
}

/// How the audio stream into one file ended.
#[derive(Debug)]
pub(super) struct Encoded {
    pub status: CommentStatus,
    /// The header is final and the audio is worth keeping.
    pub keep: bool,
    pub samples: u64,
    /// The first write error, if any.
    pub error: Option<String>,
}

/// Streams the messages into `sink` as a WAV file until `Finish`, a closed
/// channel or a write error, and completes the header when there is
/// something to keep. Generic so tests can make the disk fail.
pub(super) fn encode<S: Write + Seek>(
    sink: &mut S,
    rx: &mpsc::Receiver<Msg>,
    queued: &AtomicUsize,
) -> Encoded {
    let mut wav = match hound::WavWriter::new(sink, SPEC) {
        Ok(w) => w,
        Err(e) => {
            return Encoded {
                status: CommentStatus::Error,
                keep: false,
                samples: 0,
                error: Some(e.to_string()),
            }
        }
    };
    let mut error = None;
    let (status, mut keep) = loop {
        let msg = match rx.recv() {
            Ok(m) => m,
            // The media task went away without a word: keep what there is.
            Err(_) => break (CommentStatus::Error, wav.duration() > 0),
        };
        let written = match msg {
            Msg::Audio(a) => {
                queued.fetch_sub(a.len() * 2, Ordering::AcqRel);
                a.iter().try_for_each(|&s| wav.write_sample(s))
            }
            Msg::Silence(n) => {
                queued.fetch_sub(SILENCE_COST, Ordering::AcqRel);
                (0..n).try_for_each(|_| wav.write_sample(0i16))
            }
            Msg::Finish { status, keep } => break (status, keep),
        };
        if let Err(e) = written {
            error = Some(e.to_string());
            break (CommentStatus::Error, wav.duration() > 0);
        }
    };
    let samples = u64::from(wav.duration());
    if keep {
        if let Err(e) = wav.finalize() {
            error.get_or_insert(e.to_string());
            keep = false;
        }
    }
    Encoded {
        status: if error.is_some() {
            CommentStatus::Error
        } else {
            status
        },
        keep,
        samples,
        error,
    }
}

/// The whole life of one file: create `tmp`, stream, finalize, fsync,
/// rename to `path`. On any failure the temporary file is removed.
fn write_file(
    tmp: &Path,
    path: &Path,
    rx: mpsc::Receiver<Msg>,
    queued: &AtomicUsize,
) -> RecordingResult {
    let failed = |what: String| RecordingResult {
        status: CommentStatus::Error,
        outcome: RecordingOutcome::Failed(what),
    };
    let file = match File::create(tmp) {
        Ok(f) => f,
        Err(e) => return failed(format!("cannot create {}: {e}", tmp.display())),
    };
    // Held until the file has its final name: another daemon sharing the
    // directory leaves a locked `.part` alone at its start-up (recovery).
    if let Err(e) = file.try_lock() {
        tracing::debug!(file = %tmp.display(), error = %e, "cannot lock the recording");
    }
    let mut out = BufWriter::with_capacity(FILE_BUFFER, file);
    let enc = encode(&mut out, &rx, queued);
    // From here on the media task sees a closed channel if it still sends.
    drop(rx);
    if !enc.keep {
        let _ = std::fs::remove_file(tmp);
        drop(out);
        return match enc.error {
            Some(e) => failed(format!("writing {}: {e}", tmp.display())),
            None => RecordingResult {
                status: enc.status,
                outcome: RecordingOutcome::NoSpeech,
            },
        };
    }
    match persist(out, tmp, path) {
        Ok(size) => {
            if let Some(e) = &enc.error {
                tracing::warn!(file = %path.display(), error = %e, "recording cut short by a write error; the part written is kept");
            }
            RecordingResult {
                status: enc.status,
                outcome: RecordingOutcome::Saved {
                    duration_ms: (enc.samples / 8) as i64,
                    size_bytes: size as i64,
                },
            }
        }
        Err(e) => {
            let _ = std::fs::remove_file(tmp);
            failed(format!("saving {}: {e}", path.display()))
        }
    }
}

/// Flushes and syncs the file, renames it into place and syncs the
/// directory, so the name and the data survive a crash together.
fn persist(out: BufWriter<File>, tmp: &Path, path: &Path) -> std::io::Result<u64> {
    let file = out.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    let size = file.metadata()?.len();
    // Renamed while still open (and locked), so no other daemon's recovery
    // ever sees an unlocked `.part` of a recording in progress.
    std::fs::rename(tmp, path)?;
    drop(file);
    sync_dir(path);
    Ok(size)
}

/// fsync of the directory holding `path` (the rename); best effort, some
/// file systems refuse it.
pub(super) fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
}
