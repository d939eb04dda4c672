//! Metric histories: points of a run's metrics by step, written in large batches.

use std::time::Instant;

use drover_protocol::run::MetricPoint;
use rusqlite::params;
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

use super::{Store, StoreError, record_write};

/// A metric value as stored: SQLite would turn NaN into NULL, so NaN is kept as the text
/// `NaN`; every other value (±infinity included) is a REAL, exact to the bit.
#[derive(Debug, Clone, Copy)]
pub struct MetricValue(pub f64);

impl ToSql for MetricValue {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(if self.0.is_nan() {
            ToSqlOutput::from("NaN")
        } else {
            ToSqlOutput::from(self.0)
        })
    }
}

impl FromSql for MetricValue {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        match value {
            ValueRef::Real(v) => Ok(MetricValue(v)),
            ValueRef::Integer(v) => Ok(MetricValue(v as f64)),
            ValueRef::Text(b"NaN") => Ok(MetricValue(f64::NAN)),
            _ => Err(FromSqlError::InvalidType),
        }
    }
}

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
                        MetricValue(p.value),
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
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(
            "SELECT step, value FROM metric_points WHERE run_id = ?1 AND key = ?2 ORDER BY step",
        )?;
        let rows = stmt
            .query_map(params![run_id, key], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get::<_, MetricValue>(1)?.0))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}
