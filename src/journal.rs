//! A durable local journal for ratings, comments and call outcomes the
//! database could not take: when the database has a bad minute, the caller is still thanked,
//! because the rating is on local disk (fsync'd) before the thanks starts.
//! A background task writes the journal into the database once it answers
//! again, in order and exactly once (inserts are idempotent by id).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::metrics::JournalMetrics;
use crate::store::{CallRecord, Grouped, NewComment, NewMeasurement, Store};

/// Entries appended to the journal, one JSON object per line.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Entry {
    Measurement(NewMeasurement),
    Call(CallRecord),
    /// A recorded comment whose file is already in place.
    Comment(NewComment),
}

/// How long the database may take with an entry before it goes to the
/// journal instead (the caller is waiting in silence meanwhile).
const COMMIT_TIMEOUT: Duration = Duration::from_secs(2);

/// How long the replayer waits for the database with one entry before it
/// tries again later.
const REPLAY_WRITE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct Journal {
    inner: Arc<Inner>,
    /// Entries journaled and replayed, for /metrics.
    metrics: JournalMetrics,
}

struct Inner {
    path: PathBuf,
    /// Serialises changes to the file: appends, and the replayer's rewrite.
    /// Never held while the database is awaited, so a database that hangs
    /// cannot hold up a caller's append.
    lock: Mutex<()>,
    /// One replay at a time.
    replaying: Mutex<()>,
    /// Something is waiting in the journal: new entries go behind it, so the
    /// database receives them in order.
    pending: AtomicBool,
}

impl Journal {
    /// Opens (creating its directory) and notes whether entries are waiting.
    pub fn open(path: &Path) -> std::io::Result<Journal> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let pending = std::fs::metadata(path)
            .map(|m| m.len() > 0)
            .unwrap_or(false);
        if pending {
            end_torn_line(path)?;
        }
        Ok(Journal {
            metrics: JournalMetrics::default(),
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                lock: Mutex::new(()),
                replaying: Mutex::new(()),
                pending: AtomicBool::new(pending),
            }),
        })
    }

    /// Counts into these (the daemon's) instead of counters of its own.
    pub fn with_metrics(mut self, metrics: JournalMetrics) -> Journal {
        self.metrics = metrics;
        self
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Writes to the database, or, when it is away or slow, to the local journal
    /// (behind anything already waiting there, so the order is kept). True when
    /// the entry is durable in one of the two.
    pub async fn store_or_append(&self, store: &Store, entry: Entry) -> bool {
        if !self.is_pending() {
            let write = async {
                // Ratings and call records share transactions with whatever else
                // is waiting (group commit: one fsync for many); each is still
                // committed before this returns.
                match &entry {
                    Entry::Measurement(m) => store
                        .write_grouped(Grouped::Measurement(m.clone()))
                        .await
                        .map_err(|e| e.to_string()),
                    Entry::Call(c) => store
                        .write_grouped(Grouped::Call(c.clone()))
                        .await
                        .map_err(|e| e.to_string()),
                    Entry::Comment(c) => store.insert_comment(c).await.map_err(|e| e.to_string()),
                }
            };
            match tokio::time::timeout(COMMIT_TIMEOUT, write).await {
                Ok(Ok(())) => return true,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "database write failed; using the journal")
                }
                Err(_) => tracing::warn!("database did not answer in time; using the journal"),
            }
        }
        match self.append(&entry).await {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, journal = %self.path().display(), "neither the database nor the journal took the entry");
                false
            }
        }
    }

    /// Whether entries wait to be written to the database.
    pub fn is_pending(&self) -> bool {
        self.inner.pending.load(Ordering::SeqCst)
    }

    /// Appends one entry and syncs it to disk before returning.
    pub async fn append(&self, entry: &Entry) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let _guard = self.inner.lock.lock().await;
        let path = self.inner.path.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            let mut f = OpenOptions::new().create(true).append(true).open(&path)?;
            f.write_all(&line)?;
            f.sync_data()
        })
        .await
        .map_err(std::io::Error::other)??;
        self.inner.pending.store(true, Ordering::SeqCst);
        self.metrics.journaled.inc();
        Ok(())
    }

    /// Writes everything in the journal to the database, in order. Stops at
    /// the first failure (the database is still away) and keeps the rest;
    /// empties the journal when all went in. Returns how many were written.
    ///
    /// Appends go on meanwhile: the file is only locked to take a snapshot
    /// and, at the end, to drop what was written (entries appended during
    /// the replay stay, behind the older ones, for the next round).
    pub async fn replay(&self, store: &Store) -> Result<usize, String> {
        let _replaying = self.inner.replaying.lock().await;
        let entries = {
            let _guard = self.inner.lock.lock().await;
            let path = self.inner.path.clone();
            tokio::task::spawn_blocking(move || read_entries(&path))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?
        };
        let mut done = 0;
        let mut failure = None;
        for entry in &entries {
            let write = async {
                match entry {
                    Entry::Measurement(m) => store.insert_measurement(m).await,
                    Entry::Call(c) => store.record_call(c).await,
                    Entry::Comment(c) => store.insert_comment(c).await,
                }
            };
            match tokio::time::timeout(REPLAY_WRITE_TIMEOUT, write).await {
                Ok(Ok(())) => done += 1,
                Ok(Err(e)) => {
                    failure = Some(e.to_string());
                    break;
                }
                Err(_) => {
                    failure = Some("the database did not answer in time".into());
                    break;
                }
            }
        }
        if done > 0 || failure.is_none() {
            // Drop the entries written, keep everything after them.
            let _guard = self.inner.lock.lock().await;
            let path = self.inner.path.clone();
            let left = tokio::task::spawn_blocking(move || -> std::io::Result<usize> {
                let now = read_entries(&path)?;
                let rest = now.get(done..).unwrap_or_default();
                rewrite(&path, rest)?;
                Ok(rest.len())
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
            self.metrics.replayed.inc_by(done as u64);
            if left == 0 {
                self.inner.pending.store(false, Ordering::SeqCst);
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(done),
        }
    }

    /// Replays every `every` while anything is pending.
    pub fn spawn_replayer(&self, store: Store, every: Duration) -> tokio::task::JoinHandle<()> {
        let journal = self.clone();
        tokio::spawn(async move {
            loop {
                if journal.is_pending() {
                    match journal.replay(&store).await {
                        Ok(n) if n > 0 => {
                            tracing::info!(entries = n, "journal written to the database");
                            // More may have come in meanwhile: go on at once.
                            if journal.is_pending() {
                                continue;
                            }
                        }
                        Ok(_) => {}
                        Err(e) => {
                            tracing::debug!(error = %e, "database still unavailable; journal kept")
                        }
                    }
                }
                tokio::time::sleep(every).await;
            }
        })
    }
}

/// Ends a torn last line (a crash mid-append) with a newline, so the next
/// append starts a line of its own instead of being glued to the torn one.
fn end_torn_line(path: &Path) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = OpenOptions::new().read(true).append(true).open(path)?;
    f.seek(SeekFrom::End(-1))?;
    let mut last = [0u8; 1];
    f.read_exact(&mut last)?;
    if last[0] != b'\n' {
        f.write_all(b"\n")?;
        f.sync_data()?;
    }
    Ok(())
}

/// Reads entries; a torn last line (a crash mid-append) is skipped.
fn read_entries(path: &Path) -> std::io::Result<Vec<Entry>> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for line in BufReader::new(f).lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(&line) {
            Ok(e) => out.push(e),
            Err(e) => tracing::warn!(error = %e, "unreadable journal line skipped"),
        }
    }
    Ok(out)
}

/// Replaces the journal atomically: write a temporary file, sync, rename.
fn rewrite(path: &Path, entries: &[Entry]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = File::create(&tmp)?;
        for e in entries {
            let mut line = serde_json::to_vec(e).map_err(std::io::Error::other)?;
            line.push(b'\n');
            f.write_all(&line)?;
        }
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DtmfSource, Rating};
    use chrono::Utc;
    use uuid::Uuid;

    fn rating(n: u8) -> NewMeasurement {
        NewMeasurement {
            id: Uuid::now_v7(),
            created_at: Utc::now(),
            survey: "smiley".into(),
            kind: crate::model::ScaleKind::Smiley,
            score: crate::store::smiley_score(if n.is_multiple_of(2) {
                Rating::Happy
            } else {
                Rating::Sad
            }),
            digits: "1".into(),
            dtmf_source: DtmfSource::Rfc4733,
            agent: Some(format!("journal-{n}")),
            queue: None,
            original_call_id: None,
            sip_call_id: format!("c{n}"),
            caller: None,
        }
    }

    #[tokio::test]
    async fn replays_in_order_exactly_once_and_survives_torn_lines() {
        let dir = tempfile::tempdir().unwrap();
        let jpath = dir.path().join("j/smileyd.journal");
        let journal = Journal::open(&jpath).unwrap();
        assert!(!journal.is_pending());
        let ms: Vec<_> = (0..5).map(rating).collect();
        for m in &ms {
            journal
                .append(&Entry::Measurement(m.clone()))
                .await
                .unwrap();
        }
        // A crash in the middle of an append leaves half a line.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&jpath)
            .unwrap()
            .write_all(b"{\"type\":\"measurem")
            .unwrap();
        // Reopened after a restart, it knows entries are waiting.
        let journal = Journal::open(&jpath).unwrap();
        assert!(journal.is_pending());
        let db = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = Store::connect(&db).await.unwrap();
        // The first one already made it before the outage: no double count.
        store.insert_measurement(&ms[0]).await.unwrap();
        assert_eq!(journal.replay(&store).await.unwrap(), 5);
        assert!(!journal.is_pending());
        assert_eq!(std::fs::metadata(&jpath).unwrap().len(), 0);
        let f = crate::store::Filter::default();
        let c = store.satisfaction(&f).await.unwrap();
        assert_eq!(c.total(), 5);
        // A second replay finds nothing to do.
        assert_eq!(journal.replay(&store).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn appends_are_not_held_up_by_a_replay_waiting_for_the_database() {
        use sqlx::{Connection, Executor};
        let dir = tempfile::tempdir().unwrap();
        let jpath = dir.path().join("smileyd.journal");
        let journal = Journal::open(&jpath).unwrap();
        let first = rating(1);
        journal
            .append(&Entry::Measurement(first.clone()))
            .await
            .unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = Store::connect(&url).await.unwrap();
        // Another writer holds the database: the replay waits for it.
        let mut blocker = sqlx::AnyConnection::connect(&url).await.unwrap();
        blocker.execute("BEGIN IMMEDIATE").await.unwrap();
        let replay = tokio::spawn({
            let (journal, store) = (journal.clone(), store.clone());
            async move { journal.replay(&store).await }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!replay.is_finished(), "the replay should be waiting");
        let second = rating(2);
        let started = std::time::Instant::now();
        journal
            .append(&Entry::Measurement(second.clone()))
            .await
            .unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "append waited {:?} for the replay",
            started.elapsed()
        );
        blocker.execute("ROLLBACK").await.unwrap();
        // The replay writes its snapshot and keeps what came in meanwhile.
        assert_eq!(replay.await.unwrap().unwrap(), 1);
        assert!(journal.is_pending());
        let left = read_entries(&jpath).unwrap();
        assert!(matches!(&left[..], [Entry::Measurement(m)] if m.id == second.id));
        assert_eq!(journal.replay(&store).await.unwrap(), 1);
        assert!(!journal.is_pending());
        assert!(store
            .get_measurement(&first.id.to_string())
            .await
            .unwrap()
            .is_some());
        assert!(store
            .get_measurement(&second.id.to_string())
            .await
            .unwrap()
            .is_some());
    }

    #[tokio::test]
    async fn an_append_after_a_torn_line_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let jpath = dir.path().join("smileyd.journal");
        std::fs::write(&jpath, b"{\"type\":\"measurem").unwrap();
        let journal = Journal::open(&jpath).unwrap();
        let m = rating(3);
        journal
            .append(&Entry::Measurement(m.clone()))
            .await
            .unwrap();
        let entries = read_entries(&jpath).unwrap();
        assert!(matches!(&entries[..], [Entry::Measurement(e)] if e.id == m.id));
    }

    #[tokio::test]
    async fn failed_replay_keeps_everything() {
        let dir = tempfile::tempdir().unwrap();
        let jpath = dir.path().join("smileyd.journal");
        let journal = Journal::open(&jpath).unwrap();
        journal
            .append(&Entry::Measurement(rating(1)))
            .await
            .unwrap();
        let store = Store::connect(&format!("sqlite://{}", dir.path().join("t.db").display()))
            .await
            .unwrap();
        store.close().await;
        assert!(journal.replay(&store).await.is_err());
        assert!(journal.is_pending());
        assert_eq!(read_entries(&jpath).unwrap().len(), 1);
    }
}
