//! A caller's recorded comment between the media task and the store: where
//! its file goes, and what is kept once the recording has ended. A comment
//! never fails a call: whatever happens here, the rating stays stored and
//! the caller is thanked.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::journal::{Entry, Journal};
use crate::media::{
    self, MediaCommand, RecordRequest, RecordSettings, RecordingOutcome, RecordingResult,
};
use crate::model::CommentStatus;
use crate::store::{NewComment, Store};

/// How long a call waits, after the caller hung up, for the media task to
/// finish the file (it only has to flush and fsync what it already has).
pub const FINISH_TIMEOUT: Duration = Duration::from_secs(5);

/// A recording asked of the media task, not finished yet.
pub struct PendingComment {
    measurement_id: Uuid,
    file_name: String,
    started: DateTime<Utc>,
    result: oneshot::Receiver<RecordingResult>,
}

impl PendingComment {
    /// Asks the media task to record the comment of `measurement_id` into
    /// `<dir>/<measurement_id>.wav` (written as `.wav.part` until complete).
    /// `None` if the media task is gone.
    pub async fn start(
        dir: &Path,
        settings: RecordSettings,
        commands: &mpsc::Sender<MediaCommand>,
        measurement_id: Uuid,
    ) -> Option<PendingComment> {
        let file_name = format!("{measurement_id}.wav");
        let (done, result) = oneshot::channel();
        let req = RecordRequest {
            tmp: dir.join(format!("{file_name}.part")),
            path: dir.join(&file_name),
            settings,
            done,
        };
        commands.send(MediaCommand::Record(req)).await.ok()?;
        Some(PendingComment {
            measurement_id,
            file_name,
            started: Utc::now(),
            result,
        })
    }

    /// The recording's result; cancel-safe (for `select!`).
    pub async fn result(&mut self) -> RecordingResult {
        match (&mut self.result).await {
            Ok(r) => r,
            Err(_) => RecordingResult {
                status: CommentStatus::Error,
                outcome: RecordingOutcome::Failed("the recorder ended without a result".into()),
            },
        }
    }
}

/// The result of the pending comment, if there is one; never otherwise.
pub async fn next_result(pending: &mut Option<PendingComment>) -> RecordingResult {
    match pending.as_mut() {
        Some(c) => c.result().await,
        None => std::future::pending().await,
    }
}

/// Stores what the recording produced, with its measurement: in the
/// database, or the local journal while the database is away. Whether it
/// was kept: `Some(true)` stored, `Some(false)` dropped, `None` when the
/// caller said nothing.
pub async fn keep(
    store: &Store,
    journal: &Journal,
    call_id: &str,
    c: PendingComment,
    r: RecordingResult,
) -> Option<bool> {
    let id = c.measurement_id;
    match r.outcome {
        RecordingOutcome::Saved {
            duration_ms,
            size_bytes,
        } => {
            let comment = NewComment {
                measurement_id: id,
                created_at: c.started,
                file_name: c.file_name.clone(),
                duration_ms,
                size_bytes,
                status: r.status,
            };
            let stored = journal
                .store_or_append(store, Entry::Comment(comment))
                .await;
            if stored {
                tracing::info!(call_id, measurement = %id, file = %c.file_name, duration_ms, status = r.status.as_str(), "comment stored");
            } else {
                tracing::error!(call_id, measurement = %id, file = %c.file_name, "comment recorded but not registered (database and journal failed); the file stays on disk");
            }
            Some(stored)
        }
        RecordingOutcome::NoSpeech => {
            tracing::info!(call_id, measurement = %id, "the caller said nothing: no comment");
            None
        }
        RecordingOutcome::Failed(why) => {
            tracing::error!(call_id, measurement = %id, error = %why, "comment dropped: could not record it; the rating is kept");
            Some(false)
        }
    }
}

/// Start-up: makes the recordings directory, turns recordings a crash cut
/// off into proper files and registers them (status error: they did not
/// end normally). Leftover temporary files are never served.
pub async fn recover(store: &Store, dir: &Path) {
    let d = dir.to_path_buf();
    let found = match tokio::task::spawn_blocking(move || media::recover_partial(&d)).await {
        Ok(Ok(found)) => found,
        Ok(Err(e)) => {
            tracing::warn!(dir = %dir.display(), error = %e, "recordings directory is not usable: comments will be dropped until it is (ratings are not affected)");
            return;
        }
        Err(e) => {
            tracing::warn!(error = %e, "recordings: start-up recovery did not run");
            return;
        }
    };
    for r in found {
        let comment = NewComment {
            measurement_id: r.measurement_id,
            created_at: DateTime::<Utc>::from(r.modified),
            file_name: r.file_name.clone(),
            duration_ms: r.duration_ms,
            size_bytes: r.size_bytes,
            status: CommentStatus::Error,
        };
        match store.insert_comment(&comment).await {
            Ok(()) => {
                tracing::info!(file = %r.file_name, duration_ms = r.duration_ms, "registered a comment recovered after a crash")
            }
            Err(e) => {
                tracing::warn!(file = %r.file_name, error = %e, "cannot register a recovered comment")
            }
        }
    }
}
