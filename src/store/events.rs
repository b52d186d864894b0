//! The event log: one row per change (a rating, a comment, a deleted comment,
//! a follow-up marked or withdrawn, a finished call), numbered in commit
//! order. SSE replays it by id, webhook deliveries point into it, and its
//! highest id versions every figure the API serves (ETags).

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, Row};

use super::sql::{Bind, Script, Sql, CHUNK};
use super::time::{from_ms, to_ms};
use super::{Backend, Store, StoreError};

/// PostgreSQL advisory lock that serialises writers of the event log, so ids
/// are handed out in commit order across daemons sharing one database.
const EVENT_LOCK: i64 = 0x736d_696c_6579;

/// What changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Measurement,
    Comment,
    CommentDeleted,
    FollowUp,
    FollowUpDeleted,
    Call,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Measurement => "measurement",
            EventKind::Comment => "comment",
            EventKind::CommentDeleted => "comment_deleted",
            EventKind::FollowUp => "follow_up",
            EventKind::FollowUpDeleted => "follow_up_deleted",
            EventKind::Call => "call",
        }
    }

    pub(crate) const ALL: [EventKind; 6] = [
        EventKind::Measurement,
        EventKind::Comment,
        EventKind::CommentDeleted,
        EventKind::FollowUp,
        EventKind::FollowUpDeleted,
        EventKind::Call,
    ];

    pub(crate) fn parse(s: &str) -> Option<EventKind> {
        Some(match s {
            "measurement" => EventKind::Measurement,
            "comment" => EventKind::Comment,
            "comment_deleted" => EventKind::CommentDeleted,
            "follow_up" => EventKind::FollowUp,
            "follow_up_deleted" => EventKind::FollowUpDeleted,
            "call" => EventKind::Call,
            _ => return None,
        })
    }

    /// Kinds pushed to apps (SSE) and webhook receivers; a call event only
    /// versions the response figures.
    pub fn is_published(self) -> bool {
        self != EventKind::Call
    }
}

/// One row of the log.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    pub kind: EventKind,
    /// The measurement id (for comment events too) or the call id.
    pub subject_id: String,
}

impl Store {
    /// Starts a write transaction. On PostgreSQL it takes the event-log lock
    /// first, so that concurrent writers cannot commit event ids out of
    /// order; on SQLite the first write statement takes the database lock.
    pub(crate) async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        let tx = self.pool.begin().await?;
        self.lock_events(tx).await
    }

    /// `begin_write` on a connection the caller holds.
    pub(crate) async fn begin_write_on<'c>(
        &self,
        conn: &'c mut AnyConnection,
    ) -> Result<sqlx::Transaction<'c, sqlx::Any>, StoreError> {
        let tx = sqlx::Connection::begin(conn).await?;
        self.lock_events(tx).await
    }

    async fn lock_events<'c>(
        &self,
        mut tx: sqlx::Transaction<'c, sqlx::Any>,
    ) -> Result<sqlx::Transaction<'c, sqlx::Any>, StoreError> {
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(EVENT_LOCK)
                .execute(&mut *tx)
                .await?;
        }
        Ok(tx)
    }

    /// Appends an event inside the caller's write transaction and, for
    /// published kinds, one pending delivery per active webhook. Returns
    /// whether a delivery was queued (for `announce`).
    pub(crate) async fn append_event(
        &self,
        conn: &mut AnyConnection,
        kind: EventKind,
        subject_id: &str,
    ) -> Result<bool, StoreError> {
        let mut script = Script::default();
        let deliveries = push_events(&mut script, &[(kind, subject_id.to_owned())]);
        let changed = script.run(conn).await?;
        Ok(deliveries_queued(deliveries, &changed))
    }

    /// Tells local listeners (SSE streams; the webhook dispatcher when
    /// `deliveries` were queued too) that events were committed; listeners
    /// also poll, for other daemons' rows.
    pub(crate) fn announce(&self, deliveries: bool) {
        self.events.send_modify(|n| *n = n.wrapping_add(1));
        if deliveries {
            self.deliveries.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// A receiver that changes whenever this process commits events.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.events.subscribe()
    }

    /// A receiver that changes whenever this process queues webhook
    /// deliveries (the dispatcher's wake-up: without webhooks a rating does
    /// not make it read the outbox).
    pub fn subscribe_deliveries(&self) -> tokio::sync::watch::Receiver<u64> {
        self.deliveries.subscribe()
    }

    /// Events with id greater than `after`, oldest first, at most `limit`.
    pub async fn events_after(&self, after: i64, limit: u32) -> Result<Vec<Event>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, created_at, kind, subject_id FROM events WHERE id > $1 \
             ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(i64::from(limit.max(1)))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let id: i64 = r.try_get("id")?;
                let kind: String = r.try_get("kind")?;
                Ok(Event {
                    id,
                    created_at: from_ms(r.try_get("created_at")?, &id.to_string())?,
                    kind: EventKind::parse(&kind).ok_or_else(|| {
                        StoreError::corrupt(id.to_string(), format!("unknown event kind {kind:?}"))
                    })?,
                    subject_id: r.try_get("subject_id")?,
                })
            })
            .collect()
    }

    /// The newest event id (0 when there is none): the version of all data.
    /// One primary-key lookup, cheap enough for every conditional request.
    pub async fn last_event_id(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COALESCE(MAX(id), 0) AS id FROM events")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("id")?)
    }
}

/// Whether the delivery statement at `index` (from `push_events`) queued
/// any row, given the rows each statement of the script changed.
pub(crate) fn deliveries_queued(index: Option<usize>, changed: &[u64]) -> bool {
    index.is_some_and(|i| changed.get(i).is_some_and(|n| *n > 0))
}

/// Adds to `script` the statements that append `events` in the order given,
/// inside the caller's write transaction (whose lock keeps ids in commit
/// order, see `Store::begin_write`), plus one pending delivery per active
/// webhook for each published one: two statements however many events, the ids numbered on from the
/// highest in the same statement. Returns the index in the script of the
/// statement queueing webhook deliveries, if any event is published.
pub(crate) fn push_events(script: &mut Script, events: &[(EventKind, String)]) -> Option<usize> {
    if events.is_empty() {
        return None;
    }
    let now = to_ms(Utc::now());
    let mut n: i64 = 0;
    for chunk in events.chunks(CHUNK) {
        let mut sql = Sql::new("");
        let at = sql.bind(Bind::Int(now));
        let rows: Vec<String> = chunk
            .iter()
            .enumerate()
            .map(|(i, (kind, subject))| {
                let (kind, subject) = (
                    sql.bind(Bind::Text(kind.as_str().into())),
                    sql.bind(Bind::Text(subject.clone())),
                );
                format!("({}, {kind}, {subject})", i + 1)
            })
            .collect();
        n += chunk.len() as i64;
        // One statement instead of reading the highest id first: the
        // SELECT is evaluated before any row goes in, on both databases.
        sql.push(&format!(
            "INSERT INTO events (id, created_at, kind, subject_id) \
             SELECT hi.id + v.column1, {at}, v.column2, v.column3 \
             FROM (SELECT COALESCE(MAX(id), 0) AS id FROM events) hi, \
             (VALUES {}) v",
            rows.join(", ")
        ));
        script.push(sql);
    }
    if !events.iter().any(|(kind, _)| kind.is_published()) {
        return None;
    }
    let mut sql = Sql::new("");
    let published: Vec<String> = EventKind::ALL
        .iter()
        .filter(|k| k.is_published())
        .map(|k| sql.bind(Bind::Text(k.as_str().into())))
        .collect();
    // Ours are the newest `n`: the transaction's lock keeps other writers out.
    let (count, at) = (sql.bind(Bind::Int(n)), sql.bind(Bind::Int(now)));
    sql.push(&format!(
        "INSERT INTO webhook_deliveries (webhook_id, event_id, status, attempts, \
         next_attempt_at, created_at) \
         SELECT w.id, e.id, 'pending', 0, {at}, {at} FROM webhooks w JOIN events e \
         ON e.id > (SELECT MAX(id) FROM events) - {count} AND e.kind IN ({}) \
         WHERE w.active = 1",
        published.join(", ")
    ));
    script.push(sql);
    Some(script.len() - 1)
}
