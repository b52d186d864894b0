//! Measurements: one answer a caller gave, linked to the agent who took the
//! call. Writing one is the point of the whole daemon, so `insert` returns
//! only once the row is committed.

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use uuid::Uuid;

use super::comment::{comment_from_row, Comment};
use super::counts::scores;
use super::cursor::Cursor;
use super::filter::{Filter, Target};
use super::follow_up::{follow_up_from_row, FollowUp};
use super::rollup::Tallied;
use super::sql::{self, Bind, Sql};
use super::time::{from_ms, to_ms};
use super::{Store, StoreError};
use crate::model::{DtmfSource, Rating, ScaleKind};

/// An answer to be stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "NewMeasurementLine")]
pub struct NewMeasurement {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    /// The survey's name; its figures are never counted with another's.
    pub survey: String,
    pub kind: ScaleKind,
    /// On the survey's scale: smiley 1 happy and 0 sad, CSAT 1–5, NPS 0–10.
    pub score: u8,
    /// The keys as pressed, e.g. "10".
    pub digits: String,
    pub dtmf_source: DtmfSource,
    pub agent: Option<String>,
    pub queue: Option<String>,
    pub original_call_id: Option<String>,
    pub sip_call_id: String,
    pub caller: Option<String>,
}

impl NewMeasurement {
    /// The word stored and shown with the answer: happy/sad, or the score.
    pub fn rating(&self) -> String {
        self.kind.label(self.score)
    }

    /// Whether the score exists on the scale.
    pub fn check(&self) -> Result<(), String> {
        if scores(self.kind).contains(&self.score) {
            Ok(())
        } else {
            Err(format!(
                "score {} is not on the {} scale",
                self.score,
                self.kind.as_str()
            ))
        }
    }
}

/// `NewMeasurement` as the journal holds it. Lines written before surveys
/// had scales carry a smiley `rating` (happy/sad) and one `digit` instead of
/// `kind`, `score` and `digits`; they still load.
#[derive(serde::Deserialize)]
struct NewMeasurementLine {
    id: Uuid,
    created_at: DateTime<Utc>,
    survey: String,
    #[serde(default)]
    kind: Option<ScaleKind>,
    #[serde(default)]
    score: Option<u8>,
    #[serde(default)]
    rating: Option<Rating>,
    #[serde(alias = "digit")]
    digits: String,
    dtmf_source: DtmfSource,
    agent: Option<String>,
    queue: Option<String>,
    original_call_id: Option<String>,
    sip_call_id: String,
    caller: Option<String>,
}

impl TryFrom<NewMeasurementLine> for NewMeasurement {
    type Error = String;

    fn try_from(l: NewMeasurementLine) -> Result<Self, String> {
        let score = l
            .score
            .or(l.rating.map(smiley_score))
            .ok_or("neither score nor rating")?;
        let m = NewMeasurement {
            id: l.id,
            created_at: l.created_at,
            survey: l.survey,
            kind: l.kind.unwrap_or(ScaleKind::Smiley),
            score,
            digits: l.digits,
            dtmf_source: l.dtmf_source,
            agent: l.agent,
            queue: l.queue,
            original_call_id: l.original_call_id,
            sip_call_id: l.sip_call_id,
            caller: l.caller,
        };
        m.check()?;
        Ok(m)
    }
}

/// A stored answer, as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub survey: String,
    pub kind: ScaleKind,
    pub score: u8,
    /// happy/sad on the smiley scale, else the score as text.
    pub rating: String,
    /// The keys as pressed, e.g. "10".
    pub digit: String,
    pub dtmf_source: DtmfSource,
    pub agent: Option<String>,
    pub queue: Option<String>,
    pub original_call_id: Option<String>,
    pub sip_call_id: String,
    pub caller: Option<String>,
    /// The recorded comment, if the caller left one (its audio may since
    /// have been deleted).
    pub comment: Option<Comment>,
    /// Whether, by whom and how someone followed the answer up.
    pub follow_up: Option<FollowUp>,
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

/// Smiley score: 1 for happy, 0 for sad, so that sums give the number of
/// happy callers directly.
pub fn smiley_score(r: Rating) -> u8 {
    match r {
        Rating::Happy => 1,
        Rating::Sad => 0,
    }
}

/// Columns of `measurements m LEFT JOIN comments c LEFT JOIN follow_ups f`;
/// comment columns carry a `c_` prefix, follow-up columns `f_`.
const COLUMNS: &str = "m.id, m.created_at, m.survey, m.kind, m.score, m.rating, m.digit, \
                       m.dtmf_source, m.agent, m.queue, m.original_call_id, m.sip_call_id, \
                       m.caller, c.measurement_id AS c_measurement_id, \
                       c.created_at AS c_created_at, c.file_name AS c_file_name, \
                       c.duration_ms AS c_duration_ms, c.size_bytes AS c_size_bytes, \
                       c.status AS c_status, c.deleted_at AS c_deleted_at, \
                       c.deleted_reason AS c_deleted_reason, f.created_at AS f_created_at, \
                       f.via AS f_via, f.by_name AS f_by_name, f.note AS f_note";

const FROM: &str = "FROM measurements m LEFT JOIN comments c ON c.measurement_id = m.id \
                    LEFT JOIN follow_ups f ON f.measurement_id = m.id";

fn parse_kind(s: &str, id: &str) -> Result<ScaleKind, StoreError> {
    match s {
        "smiley" => Ok(ScaleKind::Smiley),
        "csat" => Ok(ScaleKind::Csat),
        "nps" => Ok(ScaleKind::Nps),
        other => Err(StoreError::corrupt(id, format!("unknown kind {other:?}"))),
    }
}

fn parse_score(kind: ScaleKind, score: i64, id: &str) -> Result<u8, StoreError> {
    u8::try_from(score)
        .ok()
        .filter(|s| scores(kind).contains(s))
        .ok_or_else(|| {
            StoreError::corrupt(
                id,
                format!("score {score} is not on the {} scale", kind.as_str()),
            )
        })
}

fn parse_source(s: &str, id: &str) -> Result<DtmfSource, StoreError> {
    match s {
        "rfc4733" => Ok(DtmfSource::Rfc4733),
        "info" => Ok(DtmfSource::Info),
        "inband" => Ok(DtmfSource::Inband),
        other => Err(StoreError::corrupt(
            id,
            format!("unknown dtmf_source {other:?}"),
        )),
    }
}

fn from_row(row: &AnyRow) -> Result<Measurement, StoreError> {
    let id: String = row.try_get("id")?;
    let kind = parse_kind(&row.try_get::<String, _>("kind")?, &id)?;
    Ok(Measurement {
        id: Uuid::try_parse(&id).map_err(|e| StoreError::corrupt(&id, e.to_string()))?,
        created_at: from_ms(row.try_get("created_at")?, &id)?,
        survey: row.try_get("survey")?,
        kind,
        score: parse_score(kind, row.try_get("score")?, &id)?,
        rating: row.try_get("rating")?,
        digit: row.try_get("digit")?,
        dtmf_source: parse_source(&row.try_get::<String, _>("dtmf_source")?, &id)?,
        agent: row.try_get("agent")?,
        queue: row.try_get("queue")?,
        original_call_id: row.try_get("original_call_id")?,
        sip_call_id: row.try_get("sip_call_id")?,
        caller: row.try_get("caller")?,
        comment: comment_from_row(row, "c_")?,
        follow_up: follow_up_from_row(row, "f_", &id)?,
    })
}

/// The columns a new answer fills, in the order of [`push_row`].
pub(crate) const INSERT_COLUMNS: &str = "id, created_at, survey, kind, score, rating, digit, \
     dtmf_source, agent, queue, original_call_id, sip_call_id, caller";

/// Appends `(…)` with one answer's values to a multi-row INSERT.
pub(crate) fn push_row(sql: &mut Sql, m: &NewMeasurement) -> String {
    let vals = [
        sql.bind(Bind::Text(m.id.to_string())),
        sql.bind(Bind::Int(to_ms(m.created_at))),
        sql.bind(Bind::Text(m.survey.clone())),
        sql.bind(Bind::Text(m.kind.as_str().into())),
        sql.bind(Bind::Int(i64::from(m.score))),
        sql.bind(Bind::Text(m.rating())),
        sql.bind(Bind::Text(m.digits.clone())),
        sql.bind(Bind::Text(m.dtmf_source.as_str().into())),
        sql.opt_text(m.agent.clone()),
        sql.opt_text(m.queue.clone()),
        sql.opt_text(m.original_call_id.clone()),
        sql.bind(Bind::Text(m.sip_call_id.clone())),
        sql.opt_text(m.caller.clone()),
    ];
    format!("({})", vals.join(", "))
}

impl<'a> From<&'a NewMeasurement> for Tallied<'a> {
    fn from(m: &'a NewMeasurement) -> Self {
        Tallied {
            created_at_ms: to_ms(m.created_at),
            survey: &m.survey,
            kind: m.kind.as_str(),
            agent: m.agent.as_deref(),
            queue: m.queue.as_deref(),
            score: i64::from(m.score),
        }
    }
}

/// Inserts the answers not stored yet, inside the caller's write
/// transaction, a few statements for the lot; returns the new ones in the
/// order given (an id given twice counts once). A score off its scale
/// refuses the lot.
pub(crate) async fn insert_new<'a>(
    conn: &mut AnyConnection,
    items: &[&'a NewMeasurement],
) -> Result<Vec<&'a NewMeasurement>, StoreError> {
    for m in items {
        m.check().map_err(StoreError::Invalid)?;
    }
    sql::insert_new(
        conn,
        "measurements",
        INSERT_COLUMNS,
        items,
        |m| m.id,
        push_row,
    )
    .await
}

impl Store {
    /// Stores one rating. When this returns `Ok` the row is committed, with
    /// SQLite in WAL mode and `synchronous=FULL`, so it survives a crash or
    /// power cut. One transaction writes the rating, its rollup counts, its
    /// event and one pending delivery per webhook: all or nothing. Inserting
    /// the same id again is a no-op, which makes retrying after an ambiguous
    /// failure safe.
    pub async fn insert_measurement(&self, m: &NewMeasurement) -> Result<(), StoreError> {
        self.write_batch(&[m], &[]).await
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
