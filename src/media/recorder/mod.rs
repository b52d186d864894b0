//! Recording the caller's comment inside the media task: RTP in order
//! (jitter), speech or silence (vad), limits, and a writer thread that owns
//! the file. The media task keeps its 20 ms clock; nothing here blocks.

mod recovery;
mod writer;

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::jitter::{JitterBuffer, JitterStats, Piece, DEFAULT_WINDOW};
use super::vad::Vad;
use crate::model::CommentStatus;

pub use recovery::{recover_partial, Recovered};
use writer::{SendError, WriterHandle};
pub use writer::{QUEUE_LIMIT, SPEC};

/// Samples per second of every recording.
const RATE: u64 = 8_000;

/// Wall-clock limits fire this much after the audio-time ones would, so
/// that with RTP flowing the timeline decides (exactly), and the clock only
/// when the caller's RTP stops.
const WALL_SLACK: Duration = Duration::from_millis(1000);

/// How a comment is recorded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecordSettings {
    /// Quiet after speech that ends the comment.
    pub silence: Duration,
    /// Longest comment.
    pub max: Duration,
    /// Level (dBFS RMS) above which a 20 ms frame is speech.
    pub threshold_dbfs: f64,
    /// With no speech at all for this long, the caller has nothing to say.
    pub no_speech: Duration,
}

impl Default for RecordSettings {
    fn default() -> Self {
        RecordSettings {
            silence: Duration::from_secs(3),
            max: Duration::from_secs(60),
            threshold_dbfs: -45.0,
            no_speech: Duration::from_secs(5),
        }
    }
}

/// Asks the media task to record (see `MediaCommand::Record`).
#[derive(Debug)]
pub struct RecordRequest {
    /// Written while recording; never served.
    pub tmp: PathBuf,
    /// Where the finished file is renamed to.
    pub path: PathBuf,
    pub settings: RecordSettings,
    /// Gets the result exactly once, however the recording ends.
    pub done: oneshot::Sender<RecordingResult>,
}

/// How a recording ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingResult {
    pub status: CommentStatus,
    pub outcome: RecordingOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordingOutcome {
    /// The WAV is complete, on disk and under its final name.
    Saved { duration_ms: i64, size_bytes: i64 },
    /// The caller never spoke; nothing was kept.
    NoSpeech,
    /// Nothing could be kept (directory, permissions, disk).
    Failed(String),
}

/// What a finished recording did, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Samples handed to the writer.
    pub written: u64,
    pub speech: bool,
    pub jitter: JitterStats,
}

/// A recording in progress, owned by the media task.
pub struct Recording {
    jitter: JitterBuffer,
    vad: Vad,
    /// `None` once the writer has gone (it reported its own failure).
    writer: Option<WriterHandle>,
    started: Instant,
    silence: Duration,
    max_samples: u64,
    no_speech_samples: u64,
    written: u64,
    /// When the last loud frame was written, for the wall-clock silence
    /// limit.
    last_loud: Option<Instant>,
    /// Set when a limit was reached; nothing more is written.
    ended: Option<CommentStatus>,
    scratch: Vec<Piece>,
}

impl Recording {
    /// Starts the writer thread; the file is created there.
    pub fn start(req: RecordRequest, now: Instant) -> Recording {
        let s = req.settings;
        let writer = WriterHandle::spawn(req.tmp, req.path, req.done);
        Recording {
            jitter: JitterBuffer::new(DEFAULT_WINDOW),
            vad: Vad::new(s.threshold_dbfs, s.silence),
            writer: Some(writer),
            started: now,
            silence: s.silence,
            max_samples: samples_in(s.max),
            no_speech_samples: samples_in(s.no_speech),
            written: 0,
            last_loud: None,
            ended: None,
            scratch: Vec::new(),
        }
    }

    /// One decoded audio packet from the caller. `Some(status)` when the
    /// recording must end now (call [`finish`](Self::finish) with it).
    pub fn audio(
        &mut self,
        ssrc: u32,
        seq: u16,
        ts: u32,
        samples: Vec<i16>,
        now: Instant,
    ) -> Option<CommentStatus> {
        let mut out = std::mem::take(&mut self.scratch);
        self.jitter
            .push(ssrc, seq, ts, samples, now.into_std(), &mut out);
        self.write(&mut out, now);
        self.scratch = out;
        self.ended
    }

    /// When the wall clock ends the recording if the audio does not: the
    /// maximum length, or silence (or no speech) while no RTP arrives.
    pub fn deadline(&self) -> Instant {
        let max = self.started + duration_of(self.max_samples) + WALL_SLACK;
        let quiet = match self.last_loud {
            Some(at) if self.vad.heard_speech() => at + self.silence + WALL_SLACK,
            _ => self.started + duration_of(self.no_speech_samples) + WALL_SLACK,
        };
        max.min(quiet)
    }

    /// Called at [`deadline`](Self::deadline): the status to finish with.
    pub fn deadline_status(&self, now: Instant) -> CommentStatus {
        if now >= self.started + duration_of(self.max_samples) {
            CommentStatus::MaxLength
        } else {
            CommentStatus::Silence
        }
    }

    /// Ends the recording: writes what the reorder buffer holds (up to
    /// `cut = (ssrc, timestamp)`, the start of a '#' press, if given) and
    /// hands the file to the writer to finish. The result arrives on the
    /// request's `done` channel; returned are the counters for the log.
    pub fn finish(mut self, status: CommentStatus, cut: Option<(u32, u32)>) -> Summary {
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        if self.ended.is_none() {
            self.jitter.drain(cut, &mut out);
            self.write(&mut out, Instant::now());
        }
        // A limit reached while draining does not change why it ended; an
        // error does.
        let status = match self.ended {
            Some(CommentStatus::Error) => CommentStatus::Error,
            _ => status,
        };
        if let Some(w) = self.writer.take() {
            w.finish(status, self.vad.heard_speech());
        }
        Summary {
            written: self.written,
            speech: self.vad.heard_speech(),
            jitter: self.jitter.stats(),
        }
    }

    fn write(&mut self, pieces: &mut Vec<Piece>, now: Instant) {
        for piece in pieces.drain(..) {
            if self.ended.is_some() {
                break;
            }
            let room = self.max_samples.saturating_sub(self.written);
            let piece = match piece {
                Piece::Audio(mut a) => {
                    a.truncate(room.min(a.len() as u64) as usize);
                    self.vad.push(&a);
                    Piece::Audio(a)
                }
                Piece::Silence(n) => {
                    // Silence ends the comment part-way through a long gap.
                    let limit = match self.vad.silence_left() {
                        Some(left) => left,
                        None => self.no_speech_samples.saturating_sub(self.written),
                    };
                    let n = n.min(room).min(limit);
                    self.vad.push_silence(n);
                    Piece::Silence(n)
                }
            };
            if self.vad.heard_speech() && self.vad.quiet_samples() == 0 {
                self.last_loud = Some(now);
            }
            let n = piece.samples();
            if n > 0 {
                let sent = match self.writer.as_ref() {
                    Some(w) => w.send(piece),
                    None => Err(SendError::Closed),
                };
                match sent {
                    Ok(()) => self.written += n,
                    Err(e) => {
                        if e == SendError::Full {
                            tracing::warn!(
                                limit = QUEUE_LIMIT,
                                "recording: the disk does not keep up; ending the comment"
                            );
                        }
                        if e == SendError::Closed {
                            // The writer failed and has reported; nothing
                            // more to tell it.
                            self.writer = None;
                        }
                        self.ended = Some(CommentStatus::Error);
                        break;
                    }
                }
            }
            if self.written >= self.max_samples {
                self.ended = Some(CommentStatus::MaxLength);
            } else if self.vad.silence_reached() {
                self.ended = Some(CommentStatus::Silence);
            } else if !self.vad.heard_speech() && self.written >= self.no_speech_samples {
                // Nobody spoke: ends as silence, and finish() keeps nothing.
                self.ended = Some(CommentStatus::Silence);
            }
        }
        pieces.clear();
    }
}

fn samples_in(d: Duration) -> u64 {
    (d.as_millis() as u64).saturating_mul(RATE / 1000)
}

fn duration_of(samples: u64) -> Duration {
    Duration::from_micros(samples.saturating_mul(1_000_000 / RATE))
}

#[cfg(test)]
mod tests;
