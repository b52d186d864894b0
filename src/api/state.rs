//! What every handler gets: the store, the shutdown flag, and how long a store
//! call may take before the client gets a 503 instead of a hang.

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::registry::Registry;

use super::error::ApiError;
use super::outage::Outage;
use crate::config::Config;
use crate::current::Current;
use crate::media::prompt::PromptLibrary;
use crate::metrics::Metrics;
use crate::store::{Store, StoreError};
use crate::survey::ScaleKind;

/// How long a request waits for the store by default.
pub const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_secs(5);

/// Shared state of the HTTP API.
#[derive(Clone)]
pub struct ApiState {
    pub store: Store,
    /// Set when the daemon is shutting down; /healthz then answers 503 so
    /// load balancers stop sending traffic.
    pub draining: Arc<AtomicBool>,
    pub store_timeout: Duration,
    /// Where comment audio lives (file names in the store are relative).
    pub recordings_dir: PathBuf,
    /// Who may read /metrics.
    pub metrics: MetricsAccess,
    /// What /metrics shows: the daemon's registry.
    pub metrics_registry: Arc<Registry>,
    /// The prompts calls play, shared with them; `None` answers the prompt
    /// routes with 404 (an API served without a daemon behind it).
    pub prompts: Option<PromptLibrary>,
    /// The configured surveys and their scales, swapped on reload.
    pub surveys: SurveysHandle,
    /// Set while the database is known to be unreachable.
    pub outage: Arc<Outage>,
    /// Receivers on loopback or private networks may be added
    /// (`webhook_delivery.allow_private_networks`).
    pub allow_private_webhooks: bool,
    /// Live event streams open at once: each holds a connection and polls
    /// the store, so their number is capped (`MAX_EVENT_STREAMS`).
    pub event_streams: Arc<tokio::sync::Semaphore>,
}

/// Concurrent SSE streams (/api/v1/events with Accept: text/event-stream);
/// one more is refused with 503. A dashboard tab holds one.
pub const MAX_EVENT_STREAMS: usize = 100;

/// The surveys the daemon runs, for the figures: which scale each uses and
/// which one a request without `survey` is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SurveyCatalog {
    pub default_survey: String,
    /// (name, scale), in configuration order.
    pub surveys: Vec<(String, ScaleKind)>,
}

impl Default for SurveyCatalog {
    /// What a configuration without `[surveys]` runs: one smiley survey.
    fn default() -> Self {
        SurveyCatalog {
            default_survey: "smiley".into(),
            surveys: vec![("smiley".into(), ScaleKind::Smiley)],
        }
    }
}

impl SurveyCatalog {
    pub fn of(config: &Config) -> SurveyCatalog {
        SurveyCatalog {
            default_survey: config.default_survey.clone(),
            surveys: config
                .surveys
                .iter()
                .map(|s| (s.name.clone(), s.settings.scale.kind))
                .collect(),
        }
    }

    /// The configured survey of this name (any case): its name as
    /// configured, and its scale.
    pub fn find(&self, name: &str) -> Option<(&str, ScaleKind)> {
        self.surveys
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(n, k)| (n.as_str(), *k))
    }
}

/// Shared with the daemon's reloader; cheap to clone.
pub type SurveysHandle = Current<SurveyCatalog>;

pub use crate::config::MetricsAccess;

impl ApiState {
    pub fn new(store: Store) -> Self {
        ApiState {
            store,
            draining: Arc::new(AtomicBool::new(false)),
            store_timeout: DEFAULT_STORE_TIMEOUT,
            recordings_dir: PathBuf::from("recordings"),
            metrics: MetricsAccess::default(),
            metrics_registry: Metrics::new().registry,
            prompts: None,
            surveys: SurveysHandle::default(),
            outage: Arc::default(),
            allow_private_webhooks: false,
            event_streams: Arc::new(tokio::sync::Semaphore::new(MAX_EVENT_STREAMS)),
        }
    }

    /// Lets receivers on loopback and private networks be added.
    pub fn with_private_webhooks(mut self, allow: bool) -> Self {
        self.allow_private_webhooks = allow;
        self
    }

    /// Shares the daemon's survey catalogue (updated on reload).
    pub fn with_surveys(mut self, surveys: SurveysHandle) -> Self {
        self.surveys = surveys;
        self
    }

    /// Shares the daemon's prompt library, so uploads reach new calls.
    pub fn with_prompts(mut self, prompts: PromptLibrary) -> Self {
        self.prompts = Some(prompts);
        self
    }

    pub fn with_recordings_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.recordings_dir = dir.into();
        self
    }

    pub fn with_metrics(mut self, access: MetricsAccess) -> Self {
        self.metrics = access;
        self
    }

    /// Shows the daemon's metrics (by default, a registry of its own that
    /// nothing records into).
    pub fn with_metrics_registry(mut self, registry: Arc<Registry>) -> Self {
        self.metrics_registry = registry;
        self
    }

    /// Shares an existing shutdown flag (the daemon's own).
    pub fn with_draining(mut self, draining: Arc<AtomicBool>) -> Self {
        self.draining = draining;
        self
    }

    pub fn with_store_timeout(mut self, timeout: Duration) -> Self {
        self.store_timeout = timeout;
        self
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Runs a store call under the timeout; both failure kinds become
    /// JSON errors (503). A call that cannot reach the database or gets no
    /// answer in time marks it away; while it is, the call is not made and
    /// the answer is 503 at once (the probe clears the mark within a ping
    /// when the database was merely slow).
    pub async fn store_call<T>(
        &self,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, ApiError> {
        if self.outage.is_down() {
            return Err(ApiError::store_down());
        }
        match tokio::time::timeout(self.store_timeout, call).await {
            Ok(Err(e)) if e.is_unreachable() => {
                self.outage.mark_down(&self.store);
                Err(ApiError::from(e))
            }
            Ok(result) => result.map_err(ApiError::from),
            Err(_) => {
                tracing::warn!(timeout = ?self.store_timeout, "store call timed out");
                self.outage.mark_down(&self.store);
                Err(ApiError::store_timeout())
            }
        }
    }
}
