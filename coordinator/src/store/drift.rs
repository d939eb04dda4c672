//! Drift in the store: the sketches agents send (kept for the sliding window), each
//! evaluation's scores (the history the console draws), and alerts, which fire and resolve
//! in the same transaction as the event that reports it.

use std::time::Instant;

use drover_protocol::drift::{
    Alert, DriftPoint, DriftReport, ImportanceRank, ImportanceWindow, SketchWindow, Status,
};
use drover_protocol::msg::{Event, EventRecord};
use drover_protocol::types::AgentId;
use rusqlite::params;

use super::events::insert_event;
use super::{Store, StoreError, json, record_write, retention};

impl Store {
    /// The JSON bodies of `table` the query selects (`rowid, body`), decoded; one that does
    /// not decode is left out and quarantined.
    fn bodies<T: serde::de::DeserializeOwned>(
        &self,
        table: &'static str,
        sql: &str,
        args: impl rusqlite::Params,
    ) -> Result<Vec<T>, StoreError> {
        let rows = self.decoded(&*self.lock()?, table, sql, args, |_| Ok(()))?;
        Ok(rows.into_iter().map(|((), body)| body).collect())
    }
}

/// Where a report stored by an agent came from: its row, its agent and when it was received
/// (coordinator Unix milliseconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub row: i64,
    pub agent: AgentId,
    pub at_ms: u64,
}

fn receipt(r: &rusqlite::Row<'_>) -> rusqlite::Result<Receipt> {
    Ok(Receipt {
        row: r.get(0)?,
        agent: AgentId(r.get(2)?),
        at_ms: r.get::<_, i64>(3)? as u64,
    })
}

impl Store {
    /// Stores sketches an agent sent, received at `now_ms`.
    pub fn insert_sketches(
        &self,
        agent: &AgentId,
        sketches: &[SketchWindow],
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let started = Instant::now();
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO sketch_windows (agent, model, version, start_ms, end_ms, received_ms, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for s in sketches {
                insert.execute(params![
                    agent.0,
                    s.model,
                    s.version,
                    s.start_ms as i64,
                    s.end_ms as i64,
                    now_ms as i64,
                    json(s)?
                ])?;
            }
            retention::keep_newest(&tx, "sketch_windows", retention::MAX_SKETCH_ROWS)?;
        }
        tx.commit()?;
        record_write(started);
        Ok(())
    }

    /// The sketches received after `since_ms` and stored after row `after`, in the order
    /// stored, each with its row, agent and time of receipt: what a reader that keeps its own
    /// sums has not seen yet.
    pub fn sketches_after(
        &self,
        since_ms: u64,
        after: i64,
    ) -> Result<Vec<(Receipt, SketchWindow)>, StoreError> {
        self.decoded(
            &*self.read()?,
            "sketch_windows",
            "SELECT rowid, body, agent, received_ms FROM sketch_windows WHERE rowid > ?1 AND received_ms > ?2 ORDER BY rowid",
            params![after, since_ms as i64],
            receipt,
        )
    }

    /// Forgets sketches and live importance received before `before_ms`, and scores and
    /// ranks older than `history_ms`.
    pub fn prune_drift(&self, before_ms: u64, history_ms: u64) -> Result<(), StoreError> {
        let conn = self.lock()?;
        for table in ["sketch_windows", "live_importance"] {
            conn.execute(
                &format!("DELETE FROM {table} WHERE received_ms < ?1"),
                [before_ms as i64],
            )?;
        }
        for table in ["drift_scores", "importance_ranks"] {
            conn.execute(
                &format!("DELETE FROM {table} WHERE at_ms < ?1"),
                [history_ms as i64],
            )?;
        }
        Ok(())
    }

    /// Stores feature importance an agent measured on live feedback, received at `now_ms`.
    pub fn insert_importance(
        &self,
        agent: &AgentId,
        windows: &[ImportanceWindow],
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        for w in windows {
            tx.prepare_cached(
                "INSERT INTO live_importance (agent, model, version, received_ms, body) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![agent.0, w.model, w.version, now_ms as i64, json(w)?])?;
        }
        retention::keep_newest(&tx, "live_importance", retention::MAX_IMPORTANCE_ROWS)?;
        tx.commit()?;
        Ok(())
    }

    /// The live importance received after `since_ms` and stored after row `after`, as
    /// [`Store::sketches_after`].
    pub fn importance_after(
        &self,
        since_ms: u64,
        after: i64,
    ) -> Result<Vec<(Receipt, ImportanceWindow)>, StoreError> {
        self.decoded(
            &*self.read()?,
            "live_importance",
            "SELECT rowid, body, agent, received_ms FROM live_importance WHERE rowid > ?1 AND received_ms > ?2 ORDER BY rowid",
            params![after, since_ms as i64],
            receipt,
        )
    }

    /// Stores an evaluation's importance ranks of `model@version`.
    pub fn insert_ranks(&self, report: &DriftReport) -> Result<(), StoreError> {
        self.lock()?.execute(
            "INSERT INTO importance_ranks (model, version, at_ms, rows, body) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                report.model,
                report.version,
                report.at_ms as i64,
                report.importance_rows as i64,
                json(&report.importance)?
            ],
        )?;
        Ok(())
    }

    /// The latest importance ranks of `model@version`, and the labelled rows behind them.
    fn latest_ranks(
        &self,
        conn: &rusqlite::Connection,
        model: &str,
        version: u32,
    ) -> Result<Option<(Vec<ImportanceRank>, u64)>, StoreError> {
        let found = self.decoded(
            conn,
            "importance_ranks",
            "SELECT rowid, body, rows FROM importance_ranks WHERE model = ?1 AND version = ?2 ORDER BY at_ms DESC LIMIT 1",
            params![model, version],
            |r| Ok(r.get::<_, i64>(2)? as u64),
        )?;
        Ok(found.into_iter().next().map(|(rows, ranks)| (ranks, rows)))
    }

    /// Stores one evaluation: each column's score in the history, and the whole verdict
    /// (with its histograms) as the column's latest.
    pub fn insert_drift(&self, report: &DriftReport) -> Result<(), StoreError> {
        let started = Instant::now();
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        {
            let mut history = tx.prepare_cached(
                "INSERT INTO drift_scores (model, version, at_ms, column_name, score, threshold, samples, status)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            let mut latest = tx.prepare_cached(
                "INSERT OR REPLACE INTO drift_latest (model, version, column_name, at_ms, body)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for c in &report.columns {
                let at = report.at_ms as i64;
                // SQLite keeps no NaN (it would be NULL): such a score has no history point.
                let plottable = !c.score.is_nan() && !c.threshold.is_nan();
                plottable
                    .then(|| {
                        history.execute(params![
                            report.model,
                            report.version,
                            at,
                            c.column,
                            c.score,
                            c.threshold,
                            c.samples as i64,
                            c.status.to_string()
                        ])
                    })
                    .transpose()?;
                latest.execute(params![
                    report.model,
                    report.version,
                    c.column,
                    at,
                    json(c)?
                ])?;
            }
        }
        tx.commit()?;
        record_write(started);
        Ok(())
    }

    /// Forgets the latest verdicts of versions not in `served`.
    pub fn forget_drift_except(&self, served: &[(String, u32)]) -> Result<(), StoreError> {
        let conn = self.lock()?;
        let stored: Vec<(String, u32)> = conn
            .prepare_cached("SELECT DISTINCT model, version FROM drift_latest")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        for (model, version) in stored.iter().filter(|k| !served.contains(k)) {
            conn.execute(
                "DELETE FROM drift_latest WHERE model = ?1 AND version = ?2",
                params![model, version],
            )?;
        }
        Ok(())
    }

    /// The latest evaluation of each served version of `model` (or of every model).
    pub fn latest_drift(&self, model: Option<&str>) -> Result<Vec<DriftReport>, StoreError> {
        let conn = self.lock()?;
        let rows = self.decoded::<drover_protocol::drift::ColumnDrift, _>(
            &conn,
            "drift_latest",
            "SELECT rowid, body, model, version, at_ms FROM drift_latest
             WHERE ?1 IS NULL OR model = ?1 ORDER BY model, version",
            params![model],
            |r| {
                Ok((
                    r.get::<_, String>(2)?,
                    r.get::<_, u32>(3)?,
                    r.get::<_, i64>(4)? as u64,
                ))
            },
        )?;
        let mut reports: Vec<DriftReport> = Vec::new();
        for ((model, version, at_ms), column) in rows {
            match reports.last_mut() {
                Some(r) if r.model == model && r.version == version => {
                    r.at_ms = r.at_ms.max(at_ms);
                    r.columns.push(column);
                }
                _ => reports.push(DriftReport {
                    model,
                    version,
                    at_ms,
                    columns: vec![column],
                    importance: Vec::new(),
                    importance_rows: 0,
                }),
            }
        }
        for r in &mut reports {
            r.columns.sort_by(worst_first);
            if let Some((ranks, rows)) = self.latest_ranks(&conn, &r.model, r.version)? {
                (r.importance, r.importance_rows) = (ranks, rows);
            }
        }
        Ok(reports)
    }

    /// Each column's scores for `model@version` since `since_ms`, oldest first.
    pub fn drift_history(
        &self,
        model: &str,
        version: u32,
        since_ms: u64,
    ) -> Result<Vec<DriftPoint>, StoreError> {
        let conn = self.lock()?;
        let mut stmt = conn.prepare_cached(
            "SELECT column_name, at_ms, score, threshold, status FROM drift_scores
             WHERE model = ?1 AND version = ?2 AND at_ms >= ?3 ORDER BY at_ms",
        )?;
        let rows = stmt
            .query_map(params![model, version, since_ms as i64], |r| {
                let status: String = r.get(4)?;
                Ok(DriftPoint {
                    column: r.get(0)?,
                    at_ms: r.get::<_, i64>(1)? as u64,
                    score: r.get(2)?,
                    threshold: r.get(3)?,
                    status: match status.as_str() {
                        "drifted" => Status::Drifted,
                        "stable" => Status::Stable,
                        _ => Status::Inconclusive,
                    },
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Stores a new firing alert (its id given by the store) and its event, at once.
    pub fn fire_alert(&self, mut alert: Alert) -> Result<(Alert, EventRecord), StoreError> {
        let started = Instant::now();
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO alerts (rule, subject, firing, fired_ms, body) VALUES (?1, ?2, 1, ?3, '')",
            params![alert.rule, alert.subject, alert.fired_ms as i64],
        )?;
        alert.id = tx.last_insert_rowid() as u64;
        tx.execute(
            "UPDATE alerts SET body = ?2 WHERE id = ?1",
            params![alert.id as i64, json(&alert)?],
        )?;
        let record = insert_event(
            &tx,
            alert.fired_ms,
            Event::AlertFired {
                alert: Box::new(alert.clone()),
            },
        )?;
        tx.commit()?;
        record_write(started);
        Ok((alert, record))
    }

    /// Marks `alert` resolved at `at_ms` and stores its event, at once.
    pub fn resolve_alert(
        &self,
        alert: &Alert,
        at_ms: u64,
    ) -> Result<(Alert, EventRecord), StoreError> {
        let started = Instant::now();
        let mut resolved = alert.clone();
        resolved.firing = false;
        resolved.resolved_ms = Some(at_ms);
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        tx.execute(
            "UPDATE alerts SET firing = 0, body = ?2 WHERE id = ?1",
            params![alert.id as i64, json(&resolved)?],
        )?;
        let record = insert_event(
            &tx,
            at_ms,
            Event::AlertResolved {
                alert: Box::new(resolved.clone()),
            },
        )?;
        tx.commit()?;
        record_write(started);
        Ok((resolved, record))
    }

    /// The newest alerts first (only those firing with `firing_only`), at most `limit`.
    pub fn alerts(&self, firing_only: bool, limit: u32) -> Result<Vec<Alert>, StoreError> {
        self.bodies(
            "alerts",
            "SELECT rowid, body FROM alerts WHERE firing = 1 OR ?1 = 0 ORDER BY id DESC LIMIT ?2",
            params![firing_only, limit],
        )
    }
}

/// Drifted columns first, then by how far past its threshold each score is.
pub fn worst_first(
    a: &drover_protocol::drift::ColumnDrift,
    b: &drover_protocol::drift::ColumnDrift,
) -> std::cmp::Ordering {
    let rank = |c: &drover_protocol::drift::ColumnDrift| match c.status {
        Status::Drifted => 0,
        Status::Stable => 1,
        Status::Inconclusive => 2,
    };
    let ratio = |c: &drover_protocol::drift::ColumnDrift| {
        if c.threshold > 0.0 && c.threshold.is_finite() {
            c.score / c.threshold
        } else {
            0.0
        }
    };
    rank(a)
        .cmp(&rank(b))
        .then(ratio(b).total_cmp(&ratio(a)))
        .then_with(|| a.column.cmp(&b.column))
}
