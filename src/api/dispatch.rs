//! The webhook dispatcher: claims due deliveries from the outbox, POSTs each
//! event's JSON, signed, and records the outcome; failures are retried with
//! exponential backoff. Since the outbox is written with the event, neither
//! a restart nor a dead receiver loses a delivery.

use std::time::Duration;

use chrono::Utc;
use futures_util::future::join_all;

use super::event_json::event_json;
use super::signature;
use super::webhook_client;
use crate::config::WebhookDelivery;
use crate::metrics::WebhookMetrics;
use crate::model::webhook_destination::check_url_literal;
use crate::store::{Attempt, DueDelivery, Event, Store};

/// Timing of deliveries.
#[derive(Clone, Debug)]
pub struct DispatchSettings {
    /// First retry after this; doubled per failure.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// A delivery still failing this long after its event is given up.
    pub give_up_after: Duration,
    /// How often the outbox is looked at besides local wake-ups.
    pub poll: Duration,
    /// Per request.
    pub timeout: Duration,
    /// How long a claim keeps other dispatchers off a delivery.
    pub lease: Duration,
    /// Attempts by result, for /metrics.
    pub metrics: WebhookMetrics,
    /// Extra CA certificates, and whether private networks may receive.
    pub delivery: WebhookDelivery,
}

impl Default for DispatchSettings {
    fn default() -> Self {
        DispatchSettings {
            base_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(600),
            give_up_after: Duration::from_secs(3 * 24 * 3600),
            poll: Duration::from_secs(1),
            timeout: Duration::from_secs(10),
            lease: Duration::from_secs(60),
            metrics: WebhookMetrics::default(),
            delivery: WebhookDelivery::default(),
        }
    }
}

impl DispatchSettings {
    /// Wait before the retry after `attempts` failed attempts.
    pub fn backoff(&self, attempts: i64) -> Duration {
        let exp = u32::try_from(attempts.clamp(0, 20)).unwrap_or(20);
        self.base_backoff
            .saturating_mul(2u32.saturating_pow(exp))
            .min(self.max_backoff)
    }
}

/// Starts the dispatcher; it runs until the runtime stops.
pub fn spawn_dispatcher(store: Store, settings: DispatchSettings) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let client = match webhook_client::build(&settings.delivery, settings.timeout) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "webhooks: cannot build an HTTP client; no deliveries");
                return;
            }
        };
        let mut wake = store.subscribe_deliveries();
        let lease_ms = i64::try_from(settings.lease.as_millis()).unwrap_or(60_000);
        loop {
            wake.borrow_and_update();
            let due = match store.claim_deliveries(32, lease_ms).await {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(error = %e, "webhooks: cannot read the outbox");
                    Vec::new()
                }
            };
            if due.is_empty() {
                let _ = tokio::time::timeout(settings.poll, wake.changed()).await;
                continue;
            }
            join_all(
                due.into_iter()
                    .map(|d| deliver(&store, &client, &settings, d)),
            )
            .await;
        }
    })
}

async fn deliver(
    store: &Store,
    client: &reqwest::Client,
    settings: &DispatchSettings,
    d: DueDelivery,
) {
    let event = Event {
        id: d.event_id,
        created_at: d.created_at,
        kind: d.kind,
        subject_id: d.subject_id.clone(),
    };
    let body = match event_json(store, &event).await {
        Ok(json) => serde_json::to_vec(&json).unwrap_or_default(),
        Err(e) => {
            tracing::warn!(error = %e, "webhooks: cannot build a delivery body");
            return;
        }
    };
    let now = Utc::now();
    // Names are checked by the client's resolver; an address literal is
    // checked here (a receiver added before the rule, or the option turned
    // off since).
    let refused = check_url_literal(&d.url, settings.delivery.allow_private_networks);
    let result = match refused {
        Err(reason) => Err(reason),
        Ok(()) => send(client, &d, now.timestamp(), body).await,
    };
    let attempt = match result {
        Ok(status) if (200..300).contains(&status) => Attempt::Delivered { status },
        other => {
            let (status, error) = match other {
                Ok(code) => (Some(code), format!("HTTP {code}")),
                Err(e) => (None, e),
            };
            let age = (now - d.created_at).to_std().unwrap_or_default();
            let retry_at = (age < settings.give_up_after).then(|| {
                now + chrono::Duration::from_std(settings.backoff(d.attempts))
                    .unwrap_or(chrono::Duration::seconds(600))
            });
            tracing::info!(url = %d.url, event = d.event_id, attempts = d.attempts + 1, error = %error, "webhook delivery failed");
            Attempt::Failed {
                status,
                error,
                retry_at,
            }
        }
    };
    match &attempt {
        Attempt::Delivered { .. } => settings.metrics.delivered.inc(),
        Attempt::Failed { .. } => settings.metrics.failed.inc(),
    };
    if let Err(e) = store
        .finish_delivery(d.webhook_id, d.event_id, &attempt)
        .await
    {
        // The lease runs out and the delivery is tried again: at least once.
        tracing::warn!(error = %e, "webhooks: cannot record a delivery outcome");
    }
}

/// One signed POST; the status that came back, or why none did (with the
/// causes: a certificate error names itself).
async fn send(
    client: &reqwest::Client,
    d: &DueDelivery,
    timestamp: i64,
    body: Vec<u8>,
) -> Result<u16, String> {
    let signed = signature::header_value(d.secret.as_bytes(), timestamp, &body);
    client
        .post(&d.url)
        .header("content-type", "application/json")
        .header("smileyd-event", d.kind.as_str())
        .header("smileyd-event-id", d.event_id.to_string())
        .header(signature::HEADER, signed)
        .body(body)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .map_err(|e| webhook_client::error_chain(&e))
}
