//! Deployments in the store: the desired state of serving, one row per model, and the
//! serving windows agents report, as time series kept for [`WINDOW_RETENTION_MS`] and at
//! most [`super::retention::MAX_WINDOW_ROWS`].

use std::time::Instant;

use drover_protocol::serve::{Deployment, ServingWindow, ShadowWindow, Variant};
use drover_protocol::types::AgentId;
use drover_protocol::types::Labels;
use rusqlite::params;

use super::{Store, StoreError, json, record_write, retention};

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

/// A stored serving window, with its row number and when the coordinator received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub row: i64,
    /// Coordinator Unix milliseconds.
    pub at_ms: u64,
    pub agent: AgentId,
    pub window: ServingWindow,
    /// As a shadow: rows compared with the answers given, and those that differed.
    pub shadow_rows: u64,
    pub shadow_differing: u64,
    pub shadow_failed: u64,
}

impl Store {
    /// Records `deployment`, replacing the model's previous one.
    pub fn put_deployment(&self, deployment: &Deployment) -> Result<(), StoreError> {
        let started = Instant::now();
        let conn = self.durable()?;
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
        let conn = self.durable()?;
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
                "INSERT INTO serving_windows (agent, model, version, start_ms, end_ms, requests, errors, latency, classes, feedback, correct, received_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
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
                    w.correct as i64,
                    now_ms as i64
                ])?;
            }
            tx.execute(
                "DELETE FROM serving_windows WHERE end_ms < ?1",
                [now_ms.saturating_sub(WINDOW_RETENTION_MS) as i64],
            )?;
            retention::keep_newest(&tx, "serving_windows", retention::MAX_WINDOW_ROWS)?;
        }
        tx.commit()?;
        record_write(started);
        Ok(())
    }

    /// Stores what `agent` answered as a shadow in `windows`, as serving windows of no
    /// request.
    pub fn insert_shadow_windows(
        &self,
        agent: &AgentId,
        windows: &[ShadowWindow],
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let started = Instant::now();
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO serving_windows (agent, model, version, start_ms, end_ms, requests, errors, latency, classes, feedback, correct, received_ms, shadow_rows, shadow_differing, shadow_failed)
                 VALUES (?1, ?2, ?3, ?4, ?5, 0, 0, '[]', '[]', 0, 0, ?6, ?7, ?8, ?9)",
            )?;
            for w in windows {
                insert.execute(params![
                    agent.0,
                    w.model,
                    w.version,
                    w.start_ms as i64,
                    w.end_ms as i64,
                    now_ms as i64,
                    w.rows as i64,
                    w.differing as i64,
                    w.failed as i64
                ])?;
            }
            retention::keep_newest(&tx, "serving_windows", retention::MAX_WINDOW_ROWS)?;
        }
        tx.commit()?;
        record_write(started);
        Ok(())
    }

    /// The windows of `model` that ended after `since_ms` (agent clock), oldest first, with
    /// their agents.
    pub fn serving_windows(
        &self,
        model: &str,
        since_ms: u64,
    ) -> Result<Vec<(AgentId, ServingWindow)>, StoreError> {
        Ok(self
            .windows_where("end_ms", model, since_ms, 0, None)?
            .into_iter()
            .map(|r| (r.agent, r.window))
            .collect())
    }

    /// The windows of `model` the coordinator received after `since_ms` (its own clock) and
    /// stored after row `after` , in the order stored, with their row numbers: a reader
    /// passes the last row it saw to get only what is new.
    pub fn windows_received(
        &self,
        model: &str,
        since_ms: u64,
        after: i64,
    ) -> Result<Vec<Received>, StoreError> {
        self.windows_where("received_ms", model, since_ms, after, None)
    }

    /// The newest windows of `model` received after `since_ms` (coordinator clock), at most
    /// `limit`, newest first.
    pub fn recent_windows(
        &self,
        model: &str,
        since_ms: u64,
        limit: u32,
    ) -> Result<Vec<Received>, StoreError> {
        let mut newest = self.windows_where("received_ms", model, since_ms, 0, Some(limit))?;
        newest.reverse();
        Ok(newest)
    }

    /// The windows of every model received after `since_ms` (coordinator clock) and stored
    /// after row `after`, in the order stored: what a reader that keeps its own sums has not
    /// seen yet.
    pub fn windows_after(&self, since_ms: u64, after: i64) -> Result<Vec<Received>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {RECEIVED} FROM serving_windows WHERE rowid > ?1 AND received_ms > ?2 ORDER BY rowid"
        ))?;
        let rows = stmt
            .query_map(params![after, since_ms as i64], received)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn windows_where(
        &self,
        column: &str,
        model: &str,
        since_ms: u64,
        after: i64,
        newest: Option<u32>,
    ) -> Result<Vec<Received>, StoreError> {
        let order = match newest {
            Some(limit) => format!("rowid DESC LIMIT {limit}"),
            None => "rowid".into(),
        };
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {RECEIVED} FROM serving_windows WHERE model = ?1 AND {column} > ?2 AND rowid > ?3 ORDER BY {order}"
        ))?;
        let rows = stmt
            .query_map(params![model, since_ms as i64, after], received)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}

/// The columns [`received`] reads, in its order.
const RECEIVED: &str = "rowid, received_ms, agent, model, version, start_ms, end_ms, requests, errors, latency, classes, feedback, correct, shadow_rows, shadow_differing, shadow_failed";

/// One stored window, read from the columns of [`RECEIVED`].
fn received(r: &rusqlite::Row<'_>) -> rusqlite::Result<Received> {
    Ok(Received {
        row: r.get(0)?,
        at_ms: r.get::<_, i64>(1)? as u64,
        agent: AgentId(r.get(2)?),
        window: ServingWindow {
            model: r.get(3)?,
            version: r.get(4)?,
            start_ms: r.get::<_, i64>(5)? as u64,
            end_ms: r.get::<_, i64>(6)? as u64,
            requests: r.get::<_, i64>(7)? as u64,
            errors: r.get::<_, i64>(8)? as u64,
            latency: parse("latency", &r.get::<_, String>(9)?)?,
            classes: parse("classes", &r.get::<_, String>(10)?)?,
            feedback: r.get::<_, i64>(11)? as u64,
            correct: r.get::<_, i64>(12)? as u64,
        },
        shadow_rows: r.get::<_, i64>(13)? as u64,
        shadow_differing: r.get::<_, i64>(14)? as u64,
        shadow_failed: r.get::<_, i64>(15)? as u64,
    })
}
