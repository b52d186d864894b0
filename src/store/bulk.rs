//! Bulk loading for benchmarks and imports: many answers per statement and
//! the tallies rebuilt once at the end. Writes no events and queues no
//! webhooks, unlike the per-call path.

use super::measurement::NewMeasurement;
use super::sql::{Bind, Sql};
use super::time::to_ms;
use super::{Store, StoreError};

/// Rows per INSERT: 13 binds each, well under SQLite's parameter limit.
const CHUNK: usize = 500;

impl Store {
    /// Inserts answers in one transaction (existing ids are skipped). Call
    /// `rebuild_rollups` afterwards. A score off its scale refuses the lot.
    pub async fn bulk_insert_measurements(
        &self,
        items: &[NewMeasurement],
    ) -> Result<(), StoreError> {
        for m in items {
            m.check().map_err(StoreError::Invalid)?;
        }
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
                    sql.bind(Bind::Text(m.kind.as_str().into())),
                    sql.bind(Bind::Int(i64::from(m.score))),
                    sql.bind(Bind::Text(m.rating())),
                    sql.bind(Bind::Text(m.digits.clone())),
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

    /// Recomputes every tally from the answers (after a bulk load).
    pub async fn rebuild_rollups(&self) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for (table, unit) in [
            ("tally_hour", 3_600_000i64),
            ("tally_day", 86_400_000i64),
            ("tally_week", 604_800_000i64),
        ] {
            sqlx::query(&format!("DELETE FROM {table}"))
                .execute(&mut *tx)
                .await?;
            sqlx::query(&format!(
                "INSERT INTO {table} (survey, kind, bucket, agent, queue, score, n) \
                 SELECT survey, kind, (created_at / {unit}) * {unit}, COALESCE(agent, ''), \
                 COALESCE(queue, ''), score, COUNT(*) FROM measurements \
                 GROUP BY survey, kind, (created_at / {unit}) * {unit}, COALESCE(agent, ''), \
                 COALESCE(queue, ''), score"
            ))
            .execute(&mut *tx)
            .await?;
            sqlx::query(&format!("DELETE FROM {table}_all"))
                .execute(&mut *tx)
                .await?;
            sqlx::query(&format!(
                "INSERT INTO {table}_all (survey, kind, bucket, score, n) \
                 SELECT survey, kind, bucket, score, SUM(n) FROM {table} \
                 GROUP BY survey, kind, bucket, score"
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
