//! Recorded comments: the metadata of one WAV file per measurement. The
//! recorder writes the file, then calls `insert_comment`; erasure and the
//! retention sweeper delete the file and mark the row, so the rating and the
//! fact that there was a comment stay.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;
use uuid::Uuid;

use super::events::EventKind;
use super::time::{from_ms, to_ms};
use super::{Store, StoreError};
use crate::model::CommentStatus;

/// A comment to be stored, after its file is complete.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewComment {
    pub measurement_id: Uuid,
    pub created_at: DateTime<Utc>,
    /// Relative to `recordings_dir`, e.g. "0190….wav".
    pub file_name: String,
    pub duration_ms: i64,
    pub size_bytes: i64,
    pub status: CommentStatus,
}

/// A stored comment.
#[derive(Debug, Clone, PartialEq)]
pub struct Comment {
    pub measurement_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub file_name: String,
    pub duration_ms: i64,
    pub size_bytes: i64,
    pub status: CommentStatus,
    /// Set once the audio is gone; the row stays.
    pub deleted_at: Option<DateTime<Utc>>,
    /// "erasure" (someone asked) or "retention" (it got old).
    pub deleted_reason: Option<String>,
}

fn parse_status(s: &str, id: &str) -> Result<CommentStatus, StoreError> {
    Ok(match s {
        "dtmf" => CommentStatus::Dtmf,
        "silence" => CommentStatus::Silence,
        "max_length" => CommentStatus::MaxLength,
        "hangup" => CommentStatus::Hangup,
        "error" => CommentStatus::Error,
        other => {
            return Err(StoreError::corrupt(
                id,
                format!("unknown comment status {other:?}"),
            ))
        }
    })
}

/// Reads a comment from columns named `{p}measurement_id`, `{p}created_at`, …;
/// `None` when the (left-joined) comment is absent.
pub(crate) fn comment_from_row(row: &AnyRow, p: &str) -> Result<Option<Comment>, StoreError> {
    let Some(id) = row.try_get::<Option<String>, _>(format!("{p}measurement_id").as_str())? else {
        return Ok(None);
    };
    let col = |name: &str| format!("{p}{name}");
    let deleted_at: Option<i64> = row.try_get(col("deleted_at").as_str())?;
    Ok(Some(Comment {
        measurement_id: Uuid::try_parse(&id)
            .map_err(|e| StoreError::corrupt(&id, e.to_string()))?,
        created_at: from_ms(row.try_get(col("created_at").as_str())?, &id)?,
        file_name: row.try_get(col("file_name").as_str())?,
        duration_ms: row.try_get(col("duration_ms").as_str())?,
        size_bytes: row.try_get(col("size_bytes").as_str())?,
        status: parse_status(&row.try_get::<String, _>(col("status").as_str())?, &id)?,
        deleted_at: deleted_at.map(|ms| from_ms(ms, &id)).transpose()?,
        deleted_reason: row.try_get(col("deleted_reason").as_str())?,
    }))
}

const COLUMNS: &str =
    "measurement_id, created_at, file_name, duration_ms, size_bytes, status, deleted_at, deleted_reason";

impl Store {
    /// Stores a comment's metadata; committed when it returns `Ok`. Storing
    /// the same measurement's comment again is a no-op.
    pub async fn insert_comment(&self, c: &NewComment) -> Result<(), StoreError> {
        let started = std::time::Instant::now();
        let result = async {
            let mut tx = self.begin_write().await?;
            let id = c.measurement_id.to_string();
            let inserted = sqlx::query(
                "INSERT INTO comments (measurement_id, created_at, file_name, duration_ms, \
                 size_bytes, status) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (measurement_id) DO NOTHING",
            )
            .bind(id.as_str())
            .bind(to_ms(c.created_at))
            .bind(c.file_name.as_str())
            .bind(c.duration_ms)
            .bind(c.size_bytes)
            .bind(c.status.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            let queued = if inserted == 1 {
                Some(self.append_event(&mut tx, EventKind::Comment, &id).await?)
            } else {
                None
            };
            tx.commit().await?;
            Ok::<Option<bool>, StoreError>(queued)
        }
        .await;
        self.observe_write(started.elapsed());
        if let Some(queued) = result? {
            self.announce(queued);
        }
        Ok(())
    }

    /// The comment of a measurement, deleted or not.
    pub async fn comment(&self, measurement_id: &str) -> Result<Option<Comment>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM comments WHERE measurement_id = $1"
        ))
        .bind(measurement_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(r) => comment_from_row(&r, "")?,
            None => None,
        })
    }

    /// Marks a comment's audio as deleted (the caller removes the file).
    /// Returns false when there is no comment or it was already deleted.
    pub async fn mark_comment_deleted(
        &self,
        measurement_id: &str,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query(
            "UPDATE comments SET deleted_at = $1, deleted_reason = $2 \
             WHERE measurement_id = $3 AND deleted_at IS NULL",
        )
        .bind(to_ms(Utc::now()))
        .bind(reason)
        .bind(measurement_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 1 {
            let queued = self
                .append_event(&mut tx, EventKind::CommentDeleted, measurement_id)
                .await?;
            tx.commit().await?;
            self.announce(queued);
        }
        Ok(n == 1)
    }

    /// Comments recorded before `cutoff` whose audio is still there, oldest
    /// first, at most `limit`.
    pub async fn comments_older_than(
        &self,
        cutoff: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Comment>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM comments WHERE created_at < $1 AND deleted_at IS NULL \
             ORDER BY created_at LIMIT $2"
        ))
        .bind(to_ms(cutoff))
        .bind(i64::from(limit.max(1)))
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.extend(comment_from_row(r, "")?);
        }
        Ok(out)
    }
}
