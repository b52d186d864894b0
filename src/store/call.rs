//! Call records: one per call that entered the survey, rated or not, so that
//! the response rate has an honest denominator.

use chrono::{DateTime, Utc};
use sqlx::AnyConnection;
use uuid::Uuid;

use super::sql::{self, Bind};
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
    let columns = "id, sip_call_id, started_at, ended_at, survey, agent, queue, caller, \
                   outcome, measurement_id";
    sql::insert_new(
        conn,
        "calls",
        columns,
        items,
        |c| c.id,
        |sql, c| {
            let vals = [
                sql.bind(Bind::Text(c.id.to_string())),
                sql.bind(Bind::Text(c.sip_call_id.clone())),
                sql.bind(Bind::Int(to_ms(c.started_at))),
                sql.bind(Bind::Int(to_ms(c.ended_at))),
                sql.bind(Bind::Text(c.survey.clone())),
                sql.opt_text(c.agent.clone()),
                sql.opt_text(c.queue.clone()),
                sql.opt_text(c.caller.clone()),
                sql.bind(Bind::Text(c.outcome.as_str().into())),
                sql.opt_text(c.measurement_id.map(|id| id.to_string())),
            ];
            format!("({})", vals.join(", "))
        },
    )
    .await
}

impl Store {
    /// Stores a call record with its event (which versions the response
    /// figures); committed when it returns `Ok`. Recording the same id again
    /// is a no-op, so a retry cannot count a call twice.
    pub async fn record_call(&self, c: &CallRecord) -> Result<(), StoreError> {
        self.write_batch(&[], &[c]).await
    }
}
