//! Bulk loading for benchmarks and imports: many answers per statement and
//! the tallies rebuilt once at the end. Writes no events and queues no
//! webhooks, unlike the per-call path.

use super::measurement::{push_row, NewMeasurement, INSERT_COLUMNS};
use super::sql::{Sql, CHUNK};
use super::{Store, StoreError};

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
            let mut sql = Sql::new(&format!(
                "INSERT INTO measurements ({INSERT_COLUMNS}) VALUES "
            ));
            let rows: Vec<String> = chunk.iter().map(|m| push_row(&mut sql, m)).collect();
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
