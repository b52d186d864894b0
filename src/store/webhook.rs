//! Webhook receivers and the delivery outbox. Deliveries are written with
//! their event (see `events`), claimed with a lease so that several daemons
//! on one PostgreSQL never post the same delivery at once, and retried with
//! backoff until they succeed or grow too old.

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::Row;
use uuid::Uuid;

use super::events::EventKind;
use super::sql::{Bind, Sql};
use super::time::{from_ms, to_ms};
use super::{Store, StoreError};

/// A configured receiver.
#[derive(Clone, Debug, PartialEq)]
pub struct Webhook {
    pub id: Uuid,
    pub url: String,
    pub secret: String,
    /// "config" (from the configuration file) or "api".
    pub source: String,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

/// Where a delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Not yet accepted by the receiver; will be (re)tried.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Given up: too old, or its webhook was removed.
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<DeliveryStatus> {
        match s {
            "pending" => Some(DeliveryStatus::Pending),
            "delivered" => Some(DeliveryStatus::Delivered),
            "failed" => Some(DeliveryStatus::Failed),
            _ => None,
        }
    }
}

/// One row of the outbox, as the API shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    pub webhook_id: Uuid,
    pub url: String,
    pub event_id: i64,
    pub event_kind: String,
    pub subject_id: String,
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A delivery claimed for sending.
#[derive(Clone, Debug)]
pub struct DueDelivery {
    pub webhook_id: Uuid,
    pub url: String,
    pub secret: String,
    pub event_id: i64,
    pub kind: EventKind,
    pub subject_id: String,
    pub attempts: i64,
    pub created_at: DateTime<Utc>,
}

/// How one attempt went.
#[derive(Clone, Debug)]
pub enum Attempt {
    Delivered {
        status: u16,
    },
    /// Failed; retry at `retry_at`, or give up when `None`.
    Failed {
        status: Option<u16>,
        error: String,
        retry_at: Option<DateTime<Utc>>,
    },
}

fn uuid_of(s: &str) -> Result<Uuid, StoreError> {
    Uuid::try_parse(s).map_err(|e| StoreError::corrupt(s, e.to_string()))
}

fn opt_time(ms: Option<i64>, id: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    ms.map(|ms| from_ms(ms, id)).transpose()
}

fn webhook_from(r: &AnyRow) -> Result<Webhook, StoreError> {
    let id: String = r.try_get("id")?;
    Ok(Webhook {
        id: uuid_of(&id)?,
        url: r.try_get("url")?,
        secret: r.try_get("secret")?,
        source: r.try_get("source")?,
        active: r.try_get::<i64, _>("active")? == 1,
        created_at: from_ms(r.try_get("created_at")?, &id)?,
    })
}

fn delivery_from(r: &AnyRow) -> Result<Delivery, StoreError> {
    let wid: String = r.try_get("webhook_id")?;
    let status: String = r.try_get("status")?;
    Ok(Delivery {
        webhook_id: uuid_of(&wid)?,
        url: r.try_get("url")?,
        event_id: r.try_get("event_id")?,
        event_kind: r.try_get("kind")?,
        subject_id: r.try_get("subject_id")?,
        status: DeliveryStatus::parse(&status)
            .ok_or_else(|| StoreError::corrupt(&wid, format!("unknown status {status:?}")))?,
        attempts: r.try_get("attempts")?,
        next_attempt_at: from_ms(r.try_get("next_attempt_at")?, &wid)?,
        last_attempt_at: opt_time(r.try_get("last_attempt_at")?, &wid)?,
        last_status: r.try_get("last_status")?,
        last_error: r.try_get("last_error")?,
        delivered_at: opt_time(r.try_get("delivered_at")?, &wid)?,
        created_at: from_ms(r.try_get("created_at")?, &wid)?,
    })
}

const WEBHOOK_COLUMNS: &str = "id, url, secret, source, active, created_at";

impl Store {
    /// Makes the `webhooks` table match the configuration file: listed URLs
    /// active with their secrets, config-sourced URLs no longer listed
    /// inactive. Webhooks added through the API are left alone.
    pub async fn sync_config_webhooks(&self, hooks: &[(String, String)]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let now = to_ms(Utc::now());
        for (url, secret) in hooks {
            let updated = sqlx::query(
                "UPDATE webhooks SET secret = $1, active = 1, source = 'config' WHERE url = $2",
            )
            .bind(secret.as_str())
            .bind(url.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if updated == 0 {
                sqlx::query(
                    "INSERT INTO webhooks (id, url, secret, source, active, created_at) \
                     VALUES ($1, $2, $3, 'config', 1, $4)",
                )
                .bind(Uuid::now_v7().to_string())
                .bind(url.as_str())
                .bind(secret.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
        }
        let rows = sqlx::query("SELECT url FROM webhooks WHERE source = 'config' AND active = 1")
            .fetch_all(&mut *tx)
            .await?;
        for r in rows {
            let url: String = r.try_get("url")?;
            if !hooks.iter().any(|(u, _)| *u == url) {
                sqlx::query("UPDATE webhooks SET active = 0 WHERE url = $1")
                    .bind(url.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Adds a receiver through the API; `None` when the URL is taken.
    pub async fn add_webhook(
        &self,
        url: &str,
        secret: &str,
    ) -> Result<Option<Webhook>, StoreError> {
        let hook = Webhook {
            id: Uuid::now_v7(),
            url: url.to_owned(),
            secret: secret.to_owned(),
            source: "api".into(),
            active: true,
            created_at: Utc::now(),
        };
        let n = sqlx::query(
            "INSERT INTO webhooks (id, url, secret, source, active, created_at) \
             VALUES ($1, $2, $3, 'api', 1, $4) ON CONFLICT (url) DO NOTHING",
        )
        .bind(hook.id.to_string())
        .bind(url)
        .bind(secret)
        .bind(to_ms(hook.created_at))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok((n == 1).then_some(hook))
    }

    /// All receivers, active or not, oldest first.
    pub async fn list_webhooks(&self) -> Result<Vec<Webhook>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks ORDER BY created_at, id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(webhook_from).collect()
    }

    /// Deactivates a receiver and gives up its pending deliveries; false
    /// when no active receiver has this id.
    pub async fn remove_webhook(&self, id: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let n = sqlx::query("UPDATE webhooks SET active = 0 WHERE id = $1 AND active = 1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query(
            "UPDATE webhook_deliveries SET status = 'failed', last_error = 'webhook removed' \
             WHERE webhook_id = $1 AND status = 'pending'",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(n == 1)
    }

    /// Claims up to `limit` due deliveries for `lease` milliseconds. A claim
    /// is a conditional UPDATE, so two daemons never both win one.
    pub async fn claim_deliveries(
        &self,
        limit: u32,
        lease_ms: i64,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        let now = to_ms(Utc::now());
        let candidates = sqlx::query(
            "SELECT d.webhook_id, d.event_id FROM webhook_deliveries d \
             JOIN webhooks w ON w.id = d.webhook_id \
             WHERE d.status = 'pending' AND d.next_attempt_at <= $1 \
             AND (d.lease_until IS NULL OR d.lease_until < $2) AND w.active = 1 \
             ORDER BY d.next_attempt_at, d.event_id LIMIT $3",
        )
        .bind(now)
        .bind(now)
        .bind(i64::from(limit.max(1)))
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for c in candidates {
            let wid: String = c.try_get("webhook_id")?;
            let eid: i64 = c.try_get("event_id")?;
            let won = sqlx::query(
                "UPDATE webhook_deliveries SET lease_until = $1 WHERE webhook_id = $2 \
                 AND event_id = $3 AND status = 'pending' \
                 AND (lease_until IS NULL OR lease_until < $4)",
            )
            .bind(now + lease_ms)
            .bind(wid.as_str())
            .bind(eid)
            .bind(now)
            .execute(&self.pool)
            .await?
            .rows_affected()
                == 1;
            if !won {
                continue;
            }
            let row = sqlx::query(
                "SELECT w.url, w.secret, e.kind, e.subject_id, d.attempts, d.created_at \
                 FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id \
                 JOIN events e ON e.id = d.event_id \
                 WHERE d.webhook_id = $1 AND d.event_id = $2",
            )
            .bind(wid.as_str())
            .bind(eid)
            .fetch_optional(&self.pool)
            .await?;
            let Some(row) = row else { continue };
            let kind: String = row.try_get("kind")?;
            out.push(DueDelivery {
                webhook_id: uuid_of(&wid)?,
                url: row.try_get("url")?,
                secret: row.try_get("secret")?,
                event_id: eid,
                kind: EventKind::parse(&kind)
                    .ok_or_else(|| StoreError::corrupt(&wid, format!("unknown kind {kind:?}")))?,
                subject_id: row.try_get("subject_id")?,
                attempts: row.try_get("attempts")?,
                created_at: from_ms(row.try_get("created_at")?, &wid)?,
            });
        }
        Ok(out)
    }

    /// Records how an attempt went and releases the lease.
    pub async fn finish_delivery(
        &self,
        webhook_id: Uuid,
        event_id: i64,
        attempt: &Attempt,
    ) -> Result<(), StoreError> {
        let now = to_ms(Utc::now());
        let q = match attempt {
            Attempt::Delivered { status } => sqlx::query(
                "UPDATE webhook_deliveries SET status = 'delivered', attempts = attempts + 1, \
                 last_attempt_at = $1, delivered_at = $2, last_status = $3, last_error = NULL, \
                 lease_until = NULL WHERE webhook_id = $4 AND event_id = $5",
            )
            .bind(now)
            .bind(now)
            .bind(i64::from(*status)),
            Attempt::Failed {
                status,
                error,
                retry_at,
            } => sqlx::query(
                "UPDATE webhook_deliveries SET status = $1, attempts = attempts + 1, \
                 last_attempt_at = $2, next_attempt_at = $3, last_status = $4, last_error = $5, \
                 lease_until = NULL WHERE webhook_id = $6 AND event_id = $7",
            )
            .bind(if retry_at.is_some() {
                "pending"
            } else {
                "failed"
            })
            .bind(now)
            .bind(retry_at.map(to_ms).unwrap_or(now))
            .bind(status.map(i64::from))
            .bind(error.chars().take(500).collect::<String>()),
        };
        q.bind(webhook_id.to_string())
            .bind(event_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Puts a delivery back in the queue for an immediate attempt (an admin
    /// after fixing a receiver). False when there is no such delivery.
    pub async fn retry_delivery(
        &self,
        webhook_id: &str,
        event_id: i64,
    ) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $1, \
             lease_until = NULL WHERE webhook_id = $2 AND event_id = $3 AND status <> 'delivered'",
        )
        .bind(to_ms(Utc::now()))
        .bind(webhook_id)
        .bind(event_id)
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1)
    }

    /// Deliveries, newest event first, optionally only one status or one
    /// webhook, starting below event id `before`.
    pub async fn list_deliveries(
        &self,
        status: Option<DeliveryStatus>,
        webhook_id: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        let mut sql = Sql::new(
            "SELECT d.webhook_id, w.url, d.event_id, e.kind, e.subject_id, d.status, d.attempts, \
             d.next_attempt_at, d.last_attempt_at, d.last_status, d.last_error, d.delivered_at, \
             d.created_at FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id \
             JOIN events e ON e.id = d.event_id",
        );
        let mut c = Vec::new();
        if let Some(s) = status {
            c.push(format!(
                "d.status = {}",
                sql.bind(Bind::Text(s.as_str().into()))
            ));
        }
        if let Some(w) = webhook_id {
            c.push(format!("d.webhook_id = {}", sql.bind(Bind::Text(w.into()))));
        }
        if let Some(b) = before {
            c.push(format!("d.event_id < {}", sql.bind(Bind::Int(b))));
        }
        sql.push_where(&c);
        let lim = sql.bind(Bind::Int(i64::from(limit.max(1))));
        sql.push(&format!(
            " ORDER BY d.event_id DESC, d.webhook_id LIMIT {lim}"
        ));
        let rows = sql.query().fetch_all(&self.pool).await?;
        rows.iter().map(delivery_from).collect()
    }
}
