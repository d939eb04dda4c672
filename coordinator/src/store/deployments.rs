//! Deployments in the store: the desired state of serving, one row per model, and the
//! serving windows agents report, as time series kept for [`WINDOW_RETENTION_MS`].

use std::time::Instant;

use drover_protocol::serve::{Deployment, ServingWindow, Variant};
use drover_protocol::types::AgentId;
use drover_protocol::types::Labels;
use rusqlite::params;

use super::{Store, StoreError, json, record_write};

/// How long serving windows are kept.
pub const WINDOW_RETENTION_MS: u64 = 7 * 24 * 3600 * 1000;

fn parse<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> rusqlite::Result<T> {
    serde_json::from_str(text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            Box::new(StoreError::Corrupt(format!("deployment {what}: {e}"))),
        )
    })
}

impl Store {
    /// Records `deployment`, replacing the model's previous one.
    pub fn put_deployment(&self, deployment: &Deployment) -> Result<(), StoreError> {
        let started = Instant::now();
        let conn = self.lock()?;
        conn.execute(
            "INSERT OR REPLACE INTO deployments (model, variants, selector, updated_ms) VALUES (?1, ?2, ?3, ?4)",
            params![
                deployment.model,
                json(&deployment.variants)?,
                json(&deployment.selector)?,
                deployment.updated_ms as i64
            ],
        )?;
        record_write(started);
        Ok(())
    }

    /// Forgets the deployment of `model`; false when it had none.
    pub fn remove_deployment(&self, model: &str) -> Result<bool, StoreError> {
        let started = Instant::now();
        let conn = self.lock()?;
        let removed = conn.execute("DELETE FROM deployments WHERE model = ?1", [model])?;
        record_write(started);
        Ok(removed == 1)
    }

    /// Every deployment, by model.
    pub fn deployments(&self) -> Result<Vec<Deployment>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(
            "SELECT model, variants, selector, updated_ms FROM deployments ORDER BY model",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Deployment {
                    model: r.get(0)?,
                    variants: parse::<Vec<Variant>>("variants", &r.get::<_, String>(1)?)?,
                    selector: parse::<Labels>("selector", &r.get::<_, String>(2)?)?,
                    updated_ms: r.get::<_, i64>(3)? as u64,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Stores what `agent` served in `windows`, and forgets windows past the retention.
    pub fn insert_windows(
        &self,
        agent: &AgentId,
        windows: &[ServingWindow],
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let started = Instant::now();
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO serving_windows (agent, model, version, start_ms, end_ms, requests, errors, latency, classes, feedback, correct)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?;
            for w in windows {
                insert.execute(params![
                    agent.0,
                    w.model,
                    w.version,
                    w.start_ms as i64,
                    w.end_ms as i64,
                    w.requests as i64,
                    w.errors as i64,
                    json(&w.latency)?,
                    json(&w.classes)?,
                    w.feedback as i64,
                    w.correct as i64
                ])?;
            }
            tx.execute(
                "DELETE FROM serving_windows WHERE end_ms < ?1",
                [now_ms.saturating_sub(WINDOW_RETENTION_MS) as i64],
            )?;
        }
        tx.commit()?;
        record_write(started);
        Ok(())
    }

    /// The windows of `model` that ended after `since_ms`, oldest first, with their agents.
    pub fn serving_windows(
        &self,
        model: &str,
        since_ms: u64,
    ) -> Result<Vec<(AgentId, ServingWindow)>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(
            "SELECT agent, model, version, start_ms, end_ms, requests, errors, latency, classes, feedback, correct
             FROM serving_windows WHERE model = ?1 AND end_ms > ?2 ORDER BY end_ms",
        )?;
        let rows = stmt
            .query_map(params![model, since_ms as i64], |r| {
                Ok((
                    AgentId(r.get(0)?),
                    ServingWindow {
                        model: r.get(1)?,
                        version: r.get(2)?,
                        start_ms: r.get::<_, i64>(3)? as u64,
                        end_ms: r.get::<_, i64>(4)? as u64,
                        requests: r.get::<_, i64>(5)? as u64,
                        errors: r.get::<_, i64>(6)? as u64,
                        latency: parse("latency", &r.get::<_, String>(7)?)?,
                        classes: parse("classes", &r.get::<_, String>(8)?)?,
                        feedback: r.get::<_, i64>(9)? as u64,
                        correct: r.get::<_, i64>(10)? as u64,
                    },
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}
