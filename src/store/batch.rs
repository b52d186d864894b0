//! Group commit for the call path. With `synchronous=FULL` every SQLite
//! commit waits for an fsync (a few ms), and only one writer runs at a time,
//! so a commit per rating caps the daemon at a few hundred ratings a second
//! and makes callers queue for their thanks. Here one writer task takes
//! whatever ratings and call records are waiting, writes them in one
//! transaction and answers each caller only after that commit: the same
//! durability per rating, one fsync for many. The batch also costs a fixed
//! number of statements, not a few per rating: multi-row inserts, tallies
//! summed per row before one upsert per table, and the events numbered at
//! once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection};
use tokio::sync::{mpsc, oneshot};

use super::events::{self, EventKind};
use super::rollup::{self, Tallied};
use super::sql::Script;
use super::{call, measurement, CallRecord, NewMeasurement, Store, StoreError};

/// A write taking longer than this is logged with its phases.
const SLOW_WRITE: Duration = Duration::from_millis(50);
/// Slow writes since the last line logged (counting the one logged): an
/// overloaded database logs one line a second, not one per transaction.
static SLOW_WRITES: AtomicU64 = AtomicU64::new(0);
static SLOW_WRITE_LOGGED: Mutex<Option<Instant>> = Mutex::new(None);

fn slow_write_log_due() -> bool {
    SLOW_WRITES.fetch_add(1, Ordering::Relaxed);
    let mut last = SLOW_WRITE_LOGGED.lock().unwrap_or_else(|e| e.into_inner());
    let due = last.is_none_or(|t| t.elapsed() >= Duration::from_secs(1));
    if due {
        *last = Some(Instant::now());
    }
    due
}

/// How long the writer lets a batch gather after its first entry: the
/// commit's fixed cost (statements, the fsync, the wake-ups of the
/// database thread) is shared by every entry that arrives meanwhile, and a
/// caller's thanks starts this much later at most.
const GATHER: Duration = Duration::from_millis(20);
/// Most entries in one transaction.
const MAX_BATCH: usize = 256;
/// Entries waiting for the writer before callers wait to queue.
const QUEUE: usize = 8192;

/// What the call path writes through the group commit.
#[derive(Debug)]
pub enum Grouped {
    Measurement(NewMeasurement),
    Call(CallRecord),
}

#[derive(Debug)]
pub(crate) struct Job {
    item: Grouped,
    done: oneshot::Sender<Result<(), String>>,
}

/// The writer's queue, started on first use.
pub(crate) type GroupQueue = Arc<OnceLock<mpsc::Sender<Job>>>;

impl Store {
    /// Writes ratings, then call records, in one transaction: when this
    /// returns `Ok` every one of them is committed (ids already stored are
    /// skipped). All or nothing.
    pub async fn write_batch(
        &self,
        measurements: &[&NewMeasurement],
        calls: &[&CallRecord],
    ) -> Result<(), StoreError> {
        let started = Instant::now();
        let mut conn = self.pool.acquire().await?;
        self.write_batch_on(&mut conn, started, measurements, calls)
            .await
    }

    /// `write_batch` on a connection the caller holds (`started`: when the
    /// write began, for the slow-write log).
    async fn write_batch_on(
        &self,
        conn: &mut AnyConnection,
        started: Instant,
        measurements: &[&NewMeasurement],
        calls: &[&CallRecord],
    ) -> Result<(), StoreError> {
        let result = async {
            let mut tx = self.begin_write_on(conn).await?;
            let began = started.elapsed();
            let new_ms = measurement::insert_new(&mut tx, measurements).await?;
            let new_calls = call::insert_new(&mut tx, calls).await?;
            let tallied: Vec<Tallied> = new_ms.iter().map(|m| Tallied::from(*m)).collect();
            let mut script = Script::default();
            rollup::add_all(&mut script, &tallied);
            let events: Vec<(EventKind, String)> = new_ms
                .iter()
                .map(|m| (EventKind::Measurement, m.id.to_string()))
                .chain(
                    new_calls
                        .iter()
                        .map(|c| (EventKind::Call, c.id.to_string())),
                )
                .collect();
            let deliveries = events::push_events(&mut script, &events);
            let changed = script.run(&mut tx).await?;
            let queued = events::deliveries_queued(deliveries, &changed);
            let written = started.elapsed();
            tx.commit().await?;
            Ok::<_, StoreError>((!events.is_empty(), queued, began, written))
        }
        .await;
        let took = started.elapsed();
        self.observe_write(took);
        let (any, queued, began, written) = result?;
        if took >= SLOW_WRITE && slow_write_log_due() {
            // Where the time went: waiting for a connection (and, on
            // PostgreSQL, the writers' lock), the statements, or the commit.
            tracing::warn!(
                slow_writes_since_last = SLOW_WRITES.swap(0, Ordering::Relaxed),
                ratings = measurements.len(),
                calls = calls.len(),
                begin_ms = began.as_millis() as u64,
                statements_ms = (written - began).as_millis() as u64,
                commit_ms = (took - written).as_millis() as u64,
                "slow database write"
            );
        }
        if any {
            self.announce(queued);
        }
        Ok(())
    }

    /// Stores one rating or call record together with whatever else is
    /// waiting (group commit); returns once it is committed. The error is the
    /// database's, as text.
    pub async fn write_grouped(&self, item: Grouped) -> Result<(), String> {
        let queue = self.group.get_or_init(|| {
            let (tx, rx) = mpsc::channel(QUEUE);
            tokio::spawn(writer(self.clone(), rx));
            tx
        });
        let (done, wait) = oneshot::channel();
        queue
            .send(Job { item, done })
            .await
            .map_err(|_| "group commit writer stopped".to_string())?;
        wait.await
            .map_err(|_| "group commit writer stopped".to_string())?
    }
}

/// Takes everything waiting (up to `MAX_BATCH`), commits it at once, and
/// answers each job. While one batch commits the next one gathers.
///
/// The writer keeps one connection for itself: SQLite drops a connection's
/// page cache whenever another connection wrote since its last use, so a
/// writer taking whichever pooled connection is free reads the tables'
/// upper pages from the file again on most commits. A pool of fewer than
/// three connections (an in-memory database has one) is left whole to the
/// API and the rest: there the writer returns its connection after each
/// batch.
async fn writer(store: Store, mut rx: mpsc::Receiver<Job>) {
    let mut jobs: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    let mut held: Option<PoolConnection<Any>> = None;
    let keep = store.pool.options().get_max_connections() >= 3;
    while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        if jobs.len() < MAX_BATCH {
            tokio::time::sleep(GATHER).await;
            while jobs.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
        }
        let ms: Vec<&NewMeasurement> = jobs
            .iter()
            .filter_map(|j| match &j.item {
                Grouped::Measurement(m) => Some(m),
                Grouped::Call(_) => None,
            })
            .collect();
        let cs: Vec<&CallRecord> = jobs
            .iter()
            .filter_map(|j| match &j.item {
                Grouped::Call(c) => Some(c),
                Grouped::Measurement(_) => None,
            })
            .collect();
        let started = Instant::now();
        let written = match held.as_mut() {
            Some(conn) => Ok(conn),
            None => store.pool.acquire().await.map(|c| held.insert(c)),
        };
        let written = match written {
            Ok(conn) => store.write_batch_on(conn, started, &ms, &cs).await,
            Err(e) => Err(e.into()),
        };
        if written.is_err() || !keep {
            // Maybe the connection broke: the next batch takes a fresh one.
            held = None;
        }
        match written {
            Ok(()) => {
                for j in jobs.drain(..) {
                    let _ = j.done.send(Ok(()));
                }
            }
            Err(e) if jobs.len() == 1 => {
                for j in jobs.drain(..) {
                    let _ = j.done.send(Err(e.to_string()));
                }
            }
            Err(e) => {
                // One bad entry must not fail the others: each on its own.
                tracing::debug!(error = %e, entries = jobs.len(), "group commit failed; writing one by one");
                for j in jobs.drain(..) {
                    let r = match &j.item {
                        Grouped::Measurement(m) => store.insert_measurement(m).await,
                        Grouped::Call(c) => store.record_call(c).await,
                    };
                    let _ = j.done.send(r.map_err(|e| e.to_string()));
                }
            }
        }
    }
}
