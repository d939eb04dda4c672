//! Metric histories: points of a run's metrics by step, written in large batches.

use std::time::Instant;

use drover_protocol::run::MetricPoint;
use rusqlite::params;

use super::{Store, StoreError, record_write};

impl Store {
    /// Stores every point of every batch in one transaction; returns how many were written.
    pub fn insert_points(&self, batches: &[(&str, &[MetricPoint])]) -> Result<usize, StoreError> {
        let started = Instant::now();
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        let mut written = 0;
        {
            let mut stmt = tx.prepare_cached("INSERT INTO metric_points (run_id, key, step, value, at_ms) VALUES (?1, ?2, ?3, ?4, ?5)")?;
            for (run_id, points) in batches {
                for p in points.iter() {
                    stmt.execute(params![
                        run_id,
                        p.key,
                        p.step as i64,
                        p.value,
                        p.at_ms as i64
                    ])?;
                }
                written += points.len();
            }
        }
        tx.commit()?;
        record_write(started);
        Ok(written)
    }

    /// A run's history of one metric, by step.
    pub fn metric_history(&self, run_id: &str, key: &str) -> Result<Vec<(u64, f64)>, StoreError> {
        let conn = self.lock()?;
        let mut stmt = conn.prepare_cached(
            "SELECT step, value FROM metric_points WHERE run_id = ?1 AND key = ?2 ORDER BY step",
        )?;
        let rows = stmt
            .query_map(params![run_id, key], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}
