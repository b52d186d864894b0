//! Timestamps are stored as BIGINT milliseconds since the epoch (UTC): the one
//! time representation that SQLite and PostgreSQL share through `Any`.

use chrono::{DateTime, Utc};

use super::StoreError;

/// Milliseconds since the epoch, as stored.
pub(crate) fn to_ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// Back from stored milliseconds; `id` names the row in the error.
pub(crate) fn from_ms(ms: i64, id: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| StoreError::corrupt(id, format!("timestamp out of range: {ms}")))
}
