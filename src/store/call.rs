//! Call records: one per call that entered the survey, rated or not, so that
//! the response rate has an honest denominator.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::events::EventKind;
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

impl Store {
    /// Stores a call record with its event (which versions the response
    /// figures); committed when it returns `Ok`. Recording the same id again
    /// is a no-op, so a retry cannot count a call twice.
    pub async fn record_call(&self, c: &CallRecord) -> Result<(), StoreError> {
        let started = std::time::Instant::now();
        let result = self.record_call_tx(c).await;
        crate::metrics_hist::DB_WRITE.observe(started.elapsed());
        if result? {
            self.announce();
        }
        Ok(())
    }

    async fn record_call_tx(&self, c: &CallRecord) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let inserted = self.record_call_in(&mut tx, c).await?;
        tx.commit().await?;
        Ok(inserted)
    }

    /// The call record and its event, inside the caller's write transaction
    /// (see `begin_write`); true when it was new.
    pub(crate) async fn record_call_in(
        &self,
        tx: &mut sqlx::AnyConnection,
        c: &CallRecord,
    ) -> Result<bool, StoreError> {
        let id = c.id.to_string();
        let inserted = sqlx::query(
            "INSERT INTO calls (id, sip_call_id, started_at, ended_at, survey, agent, queue, \
             caller, outcome, measurement_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(id.as_str())
        .bind(c.sip_call_id.as_str())
        .bind(to_ms(c.started_at))
        .bind(to_ms(c.ended_at))
        .bind(c.survey.as_str())
        .bind(c.agent.as_deref())
        .bind(c.queue.as_deref())
        .bind(c.caller.as_deref())
        .bind(c.outcome.as_str())
        .bind(c.measurement_id.map(|id| id.to_string()))
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if inserted {
            self.append_event(tx, EventKind::Call, &id).await?;
        }
        Ok(inserted)
    }
}
