//! Bulk loading for benchmarks and imports: many ratings per statement and
//! the rollups rebuilt once at the end. Writes no events and queues no
//! webhooks, unlike the per-call path.

use super::measurement::{smiley_score, NewMeasurement, KIND_SMILEY};
use super::sql::{Bind, Sql};
use super::time::to_ms;
use super::{Store, StoreError};

/// Rows per INSERT: 13 binds each, well under SQLite's parameter limit.
const CHUNK: usize = 500;

impl Store {
    /// Inserts ratings in one transaction (existing ids are skipped). Call
    /// `rebuild_rollups` afterwards.
    pub async fn bulk_insert_measurements(
        &self,
        items: &[NewMeasurement],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for chunk in items.chunks(CHUNK) {
            let mut sql = Sql::new(
                "INSERT INTO measurements (id, created_at, survey, kind, score, rating, digit, \
                 dtmf_source, agent, queue, original_call_id, sip_call_id, caller) VALUES ",
            );
            let mut rows = Vec::with_capacity(chunk.len());
            for m in chunk {
                let opt = |v: &Option<String>, sql: &mut Sql| match v {
                    Some(s) => sql.bind(Bind::Text(s.clone())),
                    None => "NULL".to_owned(),
                };
                let vals = [
                    sql.bind(Bind::Text(m.id.to_string())),
                    sql.bind(Bind::Int(to_ms(m.created_at))),
                    sql.bind(Bind::Text(m.survey.clone())),
                    sql.bind(Bind::Text(KIND_SMILEY.into())),
                    sql.bind(Bind::Int(smiley_score(m.rating))),
                    sql.bind(Bind::Text(m.rating.as_str().into())),
                    sql.bind(Bind::Text(m.digit.to_string())),
                    sql.bind(Bind::Text(m.dtmf_source.as_str().into())),
                    opt(&m.agent, &mut sql),
                    opt(&m.queue, &mut sql),
                    opt(&m.original_call_id, &mut sql),
                    sql.bind(Bind::Text(m.sip_call_id.clone())),
                    opt(&m.caller, &mut sql),
                ];
                rows.push(format!("({})", vals.join(", ")));
            }
            sql.push(&rows.join(", "));
            sql.push(" ON CONFLICT (id) DO NOTHING");
            sql.query().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Recomputes both rollups from the ratings (after a bulk load).
    pub async fn rebuild_rollups(&self) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for (table, unit) in [
            ("rollup_hour", 3_600_000i64),
            ("rollup_day", 86_400_000i64),
            ("rollup_week", 604_800_000i64),
        ] {
            sqlx::query(&format!("DELETE FROM {table}"))
                .execute(&mut *tx)
                .await?;
            sqlx::query(&format!(
                "INSERT INTO {table} (bucket, agent, queue, happy, sad) \
                 SELECT (created_at / {unit}) * {unit}, COALESCE(agent, ''), COALESCE(queue, ''), \
                 COUNT(CASE WHEN rating = 'happy' THEN 1 END), COUNT(CASE WHEN rating = 'sad' THEN 1 END) \
                 FROM measurements WHERE kind = 'smiley' \
                 GROUP BY (created_at / {unit}) * {unit}, COALESCE(agent, ''), COALESCE(queue, '')"
            ))
            .execute(&mut *tx)
            .await?;
            sqlx::query(&format!("DELETE FROM {table}_all"))
                .execute(&mut *tx)
                .await?;
            sqlx::query(&format!(
                "INSERT INTO {table}_all (bucket, happy, sad) \
                 SELECT bucket, SUM(happy), SUM(sad) FROM {table} GROUP BY bucket"
            ))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Refreshes the planner's statistics (after a bulk load).
    pub async fn analyze(&self) -> Result<(), StoreError> {
        sqlx::query("ANALYZE").execute(&self.pool).await?;
        Ok(())
    }
}
