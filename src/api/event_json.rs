//! The JSON of one event, the same for SSE, the polling form of /events and
//! webhook bodies: the event's id and type, and the measurement as it is now.

use serde::Serialize;

use super::measurements::{rfc3339, MeasurementJson};
use crate::store::{Event, Store, StoreError};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventJson {
    /// Increasing in commit order; resume after it with Last-Event-ID.
    pub id: i64,
    /// measurement, comment, comment_deleted, follow_up or
    /// follow_up_deleted.
    #[serde(rename = "type")]
    pub kind: String,
    #[schema(format = "date-time")]
    pub created_at: String,
    #[schema(format = "uuid")]
    pub measurement_id: String,
    /// The measurement with its comment; null if it is not (yet) stored,
    /// e.g. a comment whose rating still waits in a local journal.
    pub measurement: Option<MeasurementJson>,
}

pub async fn event_json(store: &Store, e: &Event) -> Result<EventJson, StoreError> {
    let m = store.get_measurement(&e.subject_id).await?;
    Ok(EventJson {
        id: e.id,
        kind: e.kind.as_str().to_owned(),
        created_at: rfc3339(e.created_at),
        measurement_id: e.subject_id.clone(),
        measurement: m.map(Into::into),
    })
}
