//! JSON shape of happy/sad figures, shared by /satisfaction and /agents.

use serde::Serialize;

use crate::store::Counts;

/// `{"happy","sad","total","happy_pct"}`; `happy_pct` is null without ratings.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CountsJson {
    pub happy: i64,
    pub sad: i64,
    pub total: i64,
    /// Percent happy, 0–100; null without ratings.
    pub happy_pct: Option<f64>,
}

impl From<Counts> for CountsJson {
    fn from(c: Counts) -> Self {
        CountsJson {
            happy: c.happy,
            sad: c.sad,
            total: c.total(),
            happy_pct: c.happy_pct(),
        }
    }
}
