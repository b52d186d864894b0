//! Measurements: one answer a caller gave, linked to the agent who took the
//! call. Writing one is the point of the whole daemon, so `insert` returns
//! only once the row is committed.

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::Row;
use uuid::Uuid;

use super::comment::{comment_from_row, Comment};
use super::cursor::Cursor;
use super::events::EventKind;
use super::filter::{Filter, Target};
use super::sql::{Bind, Sql};
use super::time::{from_ms, to_ms};
use super::{rollup, write_latency, Store, StoreError};
use crate::model::{DtmfSource, Rating};

/// The only kind of measurement so far; csat and nps scales come later.
pub const KIND_SMILEY: &str = "smiley";

/// A rating to be stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NewMeasurement {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub survey: String,
    pub rating: Rating,
    pub digit: char,
    pub dtmf_source: DtmfSource,
    pub agent: Option<String>,
    pub queue: Option<String>,
    pub original_call_id: Option<String>,
    pub sip_call_id: String,
    pub caller: Option<String>,
}

/// A stored rating, as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub survey: String,
    pub kind: String,
    pub score: i64,
    pub rating: Rating,
    pub digit: char,
    pub dtmf_source: DtmfSource,
    pub agent: Option<String>,
    pub queue: Option<String>,
    pub original_call_id: Option<String>,
    pub sip_call_id: String,
    pub caller: Option<String>,
    /// The recorded comment, if the caller left one (its audio may since
    /// have been deleted).
    pub comment: Option<Comment>,
}

impl Measurement {
    /// The cursor that continues a listing after this item.
    pub fn cursor(&self) -> Cursor {
        Cursor {
            created_at_ms: to_ms(self.created_at),
            id: self.id,
        }
    }
}

/// Smiley score: 1 for happy, 0 for sad, so that SUM/AVG give the share of
/// happy callers directly.
pub(crate) fn smiley_score(r: Rating) -> i64 {
    match r {
        Rating::Happy => 1,
        Rating::Sad => 0,
    }
}

/// Columns of `measurements m LEFT JOIN comments c`; comment columns carry a
/// `c_` prefix.
const COLUMNS: &str = "m.id, m.created_at, m.survey, m.kind, m.score, m.rating, m.digit, \
                       m.dtmf_source, m.agent, m.queue, m.original_call_id, m.sip_call_id, \
                       m.caller, c.measurement_id AS c_measurement_id, \
                       c.created_at AS c_created_at, c.file_name AS c_file_name, \
                       c.duration_ms AS c_duration_ms, c.size_bytes AS c_size_bytes, \
                       c.status AS c_status, c.deleted_at AS c_deleted_at, \
                       c.deleted_reason AS c_deleted_reason";

const FROM: &str = "FROM measurements m LEFT JOIN comments c ON c.measurement_id = m.id";

fn parse_rating(s: &str, id: &str) -> Result<Rating, StoreError> {
    match s {
        "happy" => Ok(Rating::Happy),
        "sad" => Ok(Rating::Sad),
        other => Err(StoreError::corrupt(id, format!("unknown rating {other:?}"))),
    }
}

fn parse_source(s: &str, id: &str) -> Result<DtmfSource, StoreError> {
    match s {
        "rfc4733" => Ok(DtmfSource::Rfc4733),
        "info" => Ok(DtmfSource::Info),
        other => Err(StoreError::corrupt(
            id,
            format!("unknown dtmf_source {other:?}"),
        )),
    }
}

fn parse_digit(s: &str, id: &str) -> Result<char, StoreError> {
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Ok(c),
        _ => Err(StoreError::corrupt(
            id,
            format!("digit is not one key: {s:?}"),
        )),
    }
}

fn from_row(row: &AnyRow) -> Result<Measurement, StoreError> {
    let id: String = row.try_get("id")?;
    Ok(Measurement {
        id: Uuid::try_parse(&id).map_err(|e| StoreError::corrupt(&id, e.to_string()))?,
        created_at: from_ms(row.try_get("created_at")?, &id)?,
        survey: row.try_get("survey")?,
        kind: row.try_get("kind")?,
        score: row.try_get("score")?,
        rating: parse_rating(&row.try_get::<String, _>("rating")?, &id)?,
        digit: parse_digit(&row.try_get::<String, _>("digit")?, &id)?,
        dtmf_source: parse_source(&row.try_get::<String, _>("dtmf_source")?, &id)?,
        agent: row.try_get("agent")?,
        queue: row.try_get("queue")?,
        original_call_id: row.try_get("original_call_id")?,
        sip_call_id: row.try_get("sip_call_id")?,
        caller: row.try_get("caller")?,
        comment: comment_from_row(row, "c_")?,
    })
}

impl Store {
    /// Stores one rating. When this returns `Ok` the row is committed, with
    /// SQLite in WAL mode and `synchronous=FULL`, so it survives a crash or
    /// power cut. One transaction writes the rating, its rollup counts, its
    /// event and one pending delivery per webhook: all or nothing. Inserting
    /// the same id again is a no-op, which makes retrying after an ambiguous
    /// failure safe.
    pub async fn insert_measurement(&self, m: &NewMeasurement) -> Result<(), StoreError> {
        let started = std::time::Instant::now();
        let result = self.insert_measurement_tx(m).await;
        write_latency::observe(started.elapsed());
        if result? {
            self.announce();
        }
        Ok(())
    }

    async fn insert_measurement_tx(&self, m: &NewMeasurement) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let inserted = self.insert_measurement_in(&mut tx, m).await?;
        tx.commit().await?;
        Ok(inserted)
    }

    /// The rating, its rollup counts and its event, inside the caller's
    /// write transaction (see `begin_write`); true when it was new.
    pub(crate) async fn insert_measurement_in(
        &self,
        tx: &mut sqlx::AnyConnection,
        m: &NewMeasurement,
    ) -> Result<bool, StoreError> {
        let id = m.id.to_string();
        let created_at = to_ms(m.created_at);
        let inserted = sqlx::query(
            "INSERT INTO measurements (id, created_at, survey, kind, score, rating, digit, \
             dtmf_source, agent, queue, original_call_id, sip_call_id, caller) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(id.as_str())
        .bind(created_at)
        .bind(m.survey.as_str())
        .bind(KIND_SMILEY)
        .bind(smiley_score(m.rating))
        .bind(m.rating.as_str())
        .bind(m.digit.to_string())
        .bind(m.dtmf_source.as_str())
        .bind(m.agent.as_deref())
        .bind(m.queue.as_deref())
        .bind(m.original_call_id.as_deref())
        .bind(m.sip_call_id.as_str())
        .bind(m.caller.as_deref())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if inserted {
            rollup::add(
                tx,
                created_at,
                m.agent.as_deref(),
                m.queue.as_deref(),
                m.rating == Rating::Happy,
            )
            .await?;
            self.append_event(tx, EventKind::Measurement, &id)
                .await?;
        }
        Ok(inserted)
    }

    /// One measurement by id.
    pub async fn get_measurement(&self, id: &str) -> Result<Option<Measurement>, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} {FROM} WHERE m.id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// A page of measurements, newest first by (created_at, id), starting
    /// after `cursor`. Returns the cursor for the next page when there is
    /// one. `limit` is clamped to at least 1.
    pub async fn list_measurements(
        &self,
        f: &Filter,
        limit: u32,
        cursor: Option<Cursor>,
    ) -> Result<(Vec<Measurement>, Option<Cursor>), StoreError> {
        let limit = limit.max(1);
        let mut sql = Sql::new(&format!("SELECT {COLUMNS} {FROM}"));
        let mut conditions = f.conditions_on(&mut sql, Target::Measurements, "m.");
        if let Some(c) = cursor {
            let ms = sql.bind(Bind::Int(c.created_at_ms));
            let ms2 = sql.bind(Bind::Int(c.created_at_ms));
            let id = sql.bind(Bind::Text(c.id.to_string()));
            conditions.push(format!(
                "(m.created_at < {ms} OR (m.created_at = {ms2} AND m.id < {id}))"
            ));
        }
        sql.push_where(&conditions);
        // One extra row tells whether another page exists.
        let fetch = sql.bind(Bind::Int(i64::from(limit) + 1));
        sql.push(&format!(
            " ORDER BY m.created_at DESC, m.id DESC LIMIT {fetch}"
        ));

        let rows = sql.query().fetch_all(&self.pool).await?;
        let mut items = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
        let next = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(Measurement::cursor)
        } else {
            None
        };
        Ok((items, next))
    }
}
