//! Follow-ups: a lead's mark that an answer was dealt with ("called the
//! customer back"), with a short note, who marked it and when. Marking,
//! changing and reopening each write an event, so open dashboards, SSE
//! clients and webhook receivers hear of it.

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::events::EventKind;
use super::time::{from_ms, to_ms};
use super::{Store, StoreError};

/// Who marked a follow-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// Someone with this API token (its name).
    Token(String),
    /// A loopback client while no tokens existed: nobody in particular.
    Loopback,
}

impl Actor {
    /// `token` or `loopback`, as stored and shown.
    pub fn via(&self) -> &'static str {
        match self {
            Actor::Token(_) => "token",
            Actor::Loopback => "loopback",
        }
    }

    /// The token's name; none for loopback.
    pub fn name(&self) -> Option<&str> {
        match self {
            Actor::Token(n) => Some(n),
            Actor::Loopback => None,
        }
    }
}

/// A stored follow-up.
#[derive(Debug, Clone, PartialEq)]
pub struct FollowUp {
    pub created_at: DateTime<Utc>,
    pub by: Actor,
    pub note: String,
}

/// What marking did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marked {
    /// There was none before.
    Created,
    /// An earlier one was replaced.
    Replaced,
    /// The same person had already left the same note: nothing changed.
    Unchanged,
    /// No measurement has this id.
    NoMeasurement,
}

/// Reads a follow-up from columns `{p}created_at`, `{p}via`, `{p}by_name`,
/// `{p}note`; `None` when the (left-joined) row is absent.
pub(crate) fn follow_up_from_row(
    row: &AnyRow,
    p: &str,
    id: &str,
) -> Result<Option<FollowUp>, StoreError> {
    let col = |name: &str| format!("{p}{name}");
    let Some(ms) = row.try_get::<Option<i64>, _>(col("created_at").as_str())? else {
        return Ok(None);
    };
    let via: String = row.try_get(col("via").as_str())?;
    let name: Option<String> = row.try_get(col("by_name").as_str())?;
    let by = match (via.as_str(), name) {
        ("token", Some(n)) => Actor::Token(n),
        ("loopback", None) => Actor::Loopback,
        (v, n) => {
            return Err(StoreError::corrupt(
                id,
                format!("follow-up by {v:?} named {n:?}"),
            ))
        }
    };
    Ok(Some(FollowUp {
        created_at: from_ms(ms, id)?,
        by,
        note: row.try_get(col("note").as_str())?,
    }))
}

impl Store {
    /// Marks a measurement as followed up (or replaces the mark), with its
    /// event, in one transaction.
    pub async fn mark_followed_up(
        &self,
        measurement_id: &str,
        by: &Actor,
        note: &str,
    ) -> Result<Marked, StoreError> {
        let mut tx = self.begin_write().await?;
        let exists = sqlx::query("SELECT 1 AS x FROM measurements WHERE id = $1")
            .bind(measurement_id)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if !exists {
            return Ok(Marked::NoMeasurement);
        }
        let before = sqlx::query(
            "SELECT created_at, via, by_name, note FROM follow_ups WHERE measurement_id = $1",
        )
        .bind(measurement_id)
        .fetch_optional(&mut *tx)
        .await?;
        let before = match &before {
            Some(r) => follow_up_from_row(r, "", measurement_id)?,
            None => None,
        };
        if before
            .as_ref()
            .is_some_and(|f| f.by == *by && f.note == note)
        {
            return Ok(Marked::Unchanged);
        }
        sqlx::query(
            "INSERT INTO follow_ups (measurement_id, created_at, via, by_name, note) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (measurement_id) DO UPDATE SET created_at = excluded.created_at, \
             via = excluded.via, by_name = excluded.by_name, note = excluded.note",
        )
        .bind(measurement_id)
        .bind(to_ms(Utc::now()))
        .bind(by.via())
        .bind(by.name())
        .bind(note)
        .execute(&mut *tx)
        .await?;
        let queued = self
            .append_event(&mut tx, EventKind::FollowUp, measurement_id)
            .await?;
        tx.commit().await?;
        self.announce(queued);
        Ok(if before.is_some() {
            Marked::Replaced
        } else {
            Marked::Created
        })
    }

    /// Reopens a measurement (removes its follow-up), with an event.
    /// Returns false when it had none.
    pub async fn reopen(&self, measurement_id: &str) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query("DELETE FROM follow_ups WHERE measurement_id = $1")
            .bind(measurement_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 1 {
            let queued = self
                .append_event(&mut tx, EventKind::FollowUpDeleted, measurement_id)
                .await?;
            tx.commit().await?;
            self.announce(queued);
        }
        Ok(n == 1)
    }

    /// The follow-up of a measurement, if it has one.
    pub async fn follow_up(&self, measurement_id: &str) -> Result<Option<FollowUp>, StoreError> {
        let row = sqlx::query(
            "SELECT created_at, via, by_name, note FROM follow_ups WHERE measurement_id = $1",
        )
        .bind(measurement_id)
        .fetch_optional(&self.pool)
        .await?;
        match &row {
            Some(r) => follow_up_from_row(r, "", measurement_id),
            None => Ok(None),
        }
    }
}
