//! Deleting comment audio: on request (erasure) and when it is older than the
//! retention period. The file goes, the row is marked; the rating stays.

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use chrono::Utc;

use super::{Store, StoreError};

/// The file of a comment, if its stored name is a plain file name (never a
/// path that could leave the recordings directory).
pub fn audio_path(recordings_dir: &Path, file_name: &str) -> Option<PathBuf> {
    let mut parts = Path::new(file_name).components();
    match (parts.next(), parts.next()) {
        (Some(Component::Normal(name)), None) => Some(recordings_dir.join(name)),
        _ => None,
    }
}

/// Deletes a comment's audio and marks the row with `reason`. Returns false
/// when there is no comment or its audio is already gone.
pub async fn erase_comment(
    store: &Store,
    recordings_dir: &Path,
    measurement_id: &str,
    reason: &str,
) -> Result<bool, StoreError> {
    let Some(c) = store.comment(measurement_id).await? else {
        return Ok(false);
    };
    if c.deleted_at.is_some() {
        return Ok(false);
    }
    if let Some(path) = audio_path(recordings_dir, &c.file_name) {
        match tokio::fs::remove_file(&path).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::Io(format!("{}: {e}", path.display()))),
        }
    }
    store.mark_comment_deleted(measurement_id, reason).await
}

/// Deletes the audio of every comment older than `retention_days`; returns
/// how many. Batches of 100, so a large backlog does not load at once.
pub async fn sweep_retention(
    store: &Store,
    recordings_dir: &Path,
    retention_days: u32,
) -> Result<usize, StoreError> {
    let cutoff = Utc::now() - chrono::Duration::days(i64::from(retention_days));
    let mut done = 0;
    loop {
        let batch = store.comments_older_than(cutoff, 100).await?;
        if batch.is_empty() {
            return Ok(done);
        }
        let mut progressed = false;
        for c in batch {
            let id = c.measurement_id.to_string();
            match erase_comment(store, recordings_dir, &id, "retention").await {
                Ok(true) => {
                    done += 1;
                    progressed = true;
                }
                Ok(false) => progressed = true,
                Err(e) => {
                    tracing::warn!(measurement = %id, error = %e, "retention: cannot delete comment audio")
                }
            }
        }
        if !progressed {
            return Ok(done);
        }
    }
}

/// Runs `sweep_retention` now and then every `every`. `retention_days = 0`
/// keeps audio forever (the task is not started).
pub fn spawn_retention_sweeper(
    store: Store,
    recordings_dir: PathBuf,
    retention_days: u32,
    every: Duration,
) -> Option<tokio::task::JoinHandle<()>> {
    if retention_days == 0 {
        return None;
    }
    Some(tokio::spawn(async move {
        loop {
            match sweep_retention(&store, &recordings_dir, retention_days).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    deleted = n,
                    retention_days,
                    "retention: comment audio deleted"
                ),
                Err(e) => tracing::warn!(error = %e, "retention sweep failed"),
            }
            tokio::time::sleep(every).await;
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_file_names() {
        let d = Path::new("/rec");
        assert_eq!(audio_path(d, "a.wav"), Some(PathBuf::from("/rec/a.wav")));
        for bad in ["../a.wav", "/etc/passwd", "x/a.wav", "", "..", "."] {
            assert_eq!(audio_path(d, bad), None, "{bad}");
        }
    }
}
