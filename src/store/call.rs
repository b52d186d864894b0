//! Call records: one per call that entered the survey, rated or not, so that
//! the response rate has an honest denominator.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, Row};
use uuid::Uuid;

use super::measurement::CHUNK;
use super::sql::{Bind, Sql};
use super::time::to_ms;
use super::{Store, StoreError};
use crate::model::CallOutcome;

/// How one surveyed call went.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CallRecord {
    pub id: Uuid,
    pub sip_call_id: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    pub survey: String,
    pub agent: Option<String>,
    pub queue: Option<String>,
    pub caller: Option<String>,
    pub outcome: CallOutcome,
    /// The rating this call produced, when `outcome` is `Rated`.
    pub measurement_id: Option<Uuid>,
}

/// Inserts the call records not stored yet, inside the caller's write
/// transaction; returns the new ones in the order given (an id given twice
/// counts once).
pub(crate) async fn insert_new<'a>(
    conn: &mut AnyConnection,
    items: &[&'a CallRecord],
) -> Result<Vec<&'a CallRecord>, StoreError> {
    let mut seen = HashSet::new();
    let unique: Vec<&CallRecord> = items
        .iter()
        .copied()
        .filter(|c| seen.insert(c.id))
        .collect();
    let mut stored = HashSet::new();
    for chunk in unique.chunks(CHUNK) {
        let mut sql = Sql::new(
            "INSERT INTO calls (id, sip_call_id, started_at, ended_at, survey, agent, queue, \
             caller, outcome, measurement_id) VALUES ",
        );
        let rows: Vec<String> = chunk
            .iter()
            .map(|c| {
                let opt = |v: Option<String>, sql: &mut Sql| match v {
                    Some(s) => sql.bind(Bind::Text(s)),
                    None => "NULL".to_owned(),
                };
                let vals = [
                    sql.bind(Bind::Text(c.id.to_string())),
                    sql.bind(Bind::Text(c.sip_call_id.clone())),
                    sql.bind(Bind::Int(to_ms(c.started_at))),
                    sql.bind(Bind::Int(to_ms(c.ended_at))),
                    sql.bind(Bind::Text(c.survey.clone())),
                    opt(c.agent.clone(), &mut sql),
                    opt(c.queue.clone(), &mut sql),
                    opt(c.caller.clone(), &mut sql),
                    sql.bind(Bind::Text(c.outcome.as_str().into())),
                    opt(c.measurement_id.map(|id| id.to_string()), &mut sql),
                ];
                format!("({})", vals.join(", "))
            })
            .collect();
        sql.push(&rows.join(", "));
        sql.push(" ON CONFLICT (id) DO NOTHING RETURNING id");
        for row in sql.query().fetch_all(&mut *conn).await? {
            stored.insert(row.try_get::<String, _>("id")?);
        }
    }
    Ok(unique
        .into_iter()
        .filter(|c| stored.contains(&c.id.to_string()))
        .collect())
}

impl Store {
    /// Stores a call record with its event (which versions the response
    /// figures); committed when it returns `Ok`. Recording the same id again
    /// is a no-op, so a retry cannot count a call twice.
    pub async fn record_call(&self, c: &CallRecord) -> Result<(), StoreError> {
        self.write_batch(&[], &[c]).await
    }
}
