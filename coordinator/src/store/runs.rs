//! Training runs and their trials in the store.

use std::collections::BTreeMap;
use std::time::Instant;

use drover_protocol::hash::ContentHash;
use drover_protocol::run::{
    DatasetPin, Metrics, RunDetail, RunFilter, RunStatus, RunSummary, SAME_MODEL_TAG, Trial,
};
use drover_protocol::spec::{ParamValue, Params, TrainSpec};
use rusqlite::{OptionalExtension, params};

use drover_protocol::msg::{Event, EventRecord};

use super::events::insert_event;
use super::{Store, StoreError, json, record_write};

/// A run as submitted.
pub struct NewRun<'a> {
    pub id: &'a str,
    pub spec: &'a TrainSpec,
    pub spec_hash: &'a str,
    pub dataset: &'a DatasetPin,
    pub trials_total: u32,
    pub created_ms: u64,
    /// What queued it when a reaction did (e.g. `sched-1a2b@event:42`): at most one run per
    /// cause, so a reaction replayed after a crash queues nothing twice.
    pub cause: Option<&'a str>,
}

/// How a run ended.
pub struct FinishedRun<'a> {
    pub status: RunStatus,
    pub params: Option<&'a Params>,
    pub metrics: Option<&'a Metrics>,
    pub gates_passed: Option<bool>,
    pub gate_failures: Vec<String>,
    pub artifact_hash: Option<&'a str>,
    pub rows: Option<(u64, u64)>,
    pub error: Option<&'a str>,
    pub finished_ms: u64,
}

/// A run's metrics as a JSON object, SQL over `runs r`: its test metrics, or for a run logged
/// through the MLflow API (no spec, no test metrics) the latest value of each finite metric.
macro_rules! run_metrics {
    () => {
        "COALESCE(r.metrics, (SELECT json_group_object(m.key, m.value) FROM metric_latest m WHERE m.run_id = r.id
        AND typeof(m.value) = 'real' AND abs(m.value) <= 1.7976931348623157e308))"
    };
}
pub(super) use run_metrics;

/// A run summary, SQL over `runs r`; [`summary`] reads its rows.
pub(super) const SUMMARY: &str = concat!(
    "SELECT r.id, r.experiment, r.model, r.spec, r.dataset_name, r.dataset_version, r.status, r.agent,
    (SELECT COUNT(*) FROM trials t WHERE t.run_id = r.id), r.trials_total, ",
    run_metrics!(),
    ", r.gates_passed, r.error, r.created_ms, r.started_ms, r.finished_ms FROM runs r"
);

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("run {what}: {e}"))
}

fn parse<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> rusqlite::Result<T> {
    serde_json::from_str(text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            Box::new(corrupt(what, e)),
        )
    })
}

/// A stored content hash; a value that is not one is corruption.
pub(super) fn hash_column(r: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<ContentHash> {
    ContentHash::parse(&r.get::<_, String>(index)?).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Text,
            Box::new(corrupt("hash", e)),
        )
    })
}

pub(super) fn summary(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunSummary> {
    let spec: Option<TrainSpec> = parse("spec", &r.get::<_, String>(3)?)?;
    let status: String = r.get(6)?;
    let dataset: String = r.get(4)?;
    Ok(RunSummary {
        id: r.get(0)?,
        experiment: r.get(1)?,
        model: r.get(2)?,
        algorithm: spec.map_or_else(|| "mlflow".into(), |s| s.algorithm.to_string()),
        dataset: if dataset.is_empty() {
            "-".into()
        } else {
            format!("{dataset}@{}", r.get::<_, u32>(5)?)
        },
        status: RunStatus::parse(&status)
            .ok_or_else(|| rusqlite::Error::InvalidColumnName(format!("status {status}")))?,
        agent: r.get(7)?,
        trials_done: r.get(8)?,
        trials_total: r.get(9)?,
        metrics: r
            .get::<_, Option<String>>(10)?
            .map(|m| parse("metrics", &m))
            .transpose()?
            .unwrap_or_default(),
        gates_passed: r.get(11)?,
        error: r.get(12)?,
        created_ms: r.get::<_, i64>(13)? as u64,
        started_ms: r.get::<_, Option<i64>>(14)?.map(|v| v as u64),
        finished_ms: r.get::<_, Option<i64>>(15)?.map(|v| v as u64),
    })
}

impl Store {
    /// Records a queued run.
    /// Returns false when a run with the same cause was already queued.
    pub fn insert_run(&self, run: &NewRun<'_>) -> Result<bool, StoreError> {
        let started = Instant::now();
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT OR IGNORE INTO experiments (name, created_ms, updated_ms) VALUES (?1, ?2, ?2)",
            params![run.spec.experiment, run.created_ms as i64],
        )?;
        let inserted = tx.execute(
            "INSERT OR IGNORE INTO runs (id, experiment, model, status, spec, spec_hash, dataset_name, dataset_version, dataset_hash,
                dataset_size, seed, drover_version, trials_total, created_ms, cause)
             VALUES (?1, ?2, ?3, 'queued', ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            params![
                run.id,
                run.spec.experiment,
                run.spec.model,
                json(run.spec)?,
                run.spec_hash,
                run.dataset.name,
                run.dataset.version,
                run.dataset.hash.as_str(),
                run.dataset.size_bytes as i64,
                run.spec.seed as i64,
                drover_protocol::DROVER_VERSION,
                run.trials_total,
                run.created_ms as i64,
                run.cause
            ],
        )?;
        tx.commit()?;
        record_write(started);
        Ok(inserted == 1)
    }

    /// Runs matching `filter`, newest first, at most `limit`.
    pub fn runs(&self, filter: &RunFilter, limit: u32) -> Result<Vec<RunSummary>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&format!(
            "{SUMMARY} WHERE r.deleted = 0 AND (?1 IS NULL OR r.experiment = ?1) AND (?2 IS NULL OR r.status = ?2)
             ORDER BY r.created_ms DESC, r.id DESC LIMIT ?3"
        ))?;
        let status = filter.status.map(|s| s.to_string());
        let rows = stmt
            .query_map(params![filter.experiment, status, limit], summary)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Everything about one run.
    pub fn run(&self, id: &str) -> Result<Option<RunDetail>, StoreError> {
        let conn = self.read()?;
        let Some(summary) = conn
            .query_row(&format!("{SUMMARY} WHERE r.id = ?1"), [id], summary)
            .optional()?
        else {
            return Ok(None);
        };
        let extra = conn.query_row(
            "SELECT spec, spec_hash, dataset_hash, seed, drover_version, params, gate_failures, artifact_hash, rows_train, rows_test
             FROM runs WHERE id = ?1",
            [id],
            |r| {
                Ok((
                    parse::<Option<TrainSpec>>("spec", &r.get::<_, String>(0)?)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)? as u64,
                    r.get::<_, String>(4)?,
                    r.get::<_, Option<String>>(5)?.map(|p| parse::<Params>("params", &p)).transpose()?.unwrap_or_default(),
                    r.get::<_, Option<String>>(6)?.map(|g| parse::<Vec<String>>("gates", &g)).transpose()?.unwrap_or_default(),
                    r.get::<_, Option<String>>(7)?,
                    r.get::<_, Option<i64>>(8)?.map(|v| v as u64),
                    r.get::<_, Option<i64>>(9)?.map(|v| v as u64),
                ))
            },
        )?;
        let mut stmt = conn.prepare_cached(
            "SELECT trial, params, mean, folds FROM trials WHERE run_id = ?1 ORDER BY trial",
        )?;
        let trials = stmt
            .query_map([id], |r| {
                Ok(Trial {
                    trial: r.get(0)?,
                    params: parse("trial params", &r.get::<_, String>(1)?)?,
                    mean: parse("trial mean", &r.get::<_, String>(2)?)?,
                    folds: parse("trial folds", &r.get::<_, String>(3)?)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let (
            spec,
            spec_hash,
            dataset_hash,
            seed,
            drover_version,
            params,
            gate_failures,
            artifact_hash,
            rows_train,
            rows_test,
        ) = extra;
        let registered: Option<String> = conn
            .query_row(
                "SELECT model || '@' || version FROM model_versions WHERE run_id = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()?;
        let same_model_as: Option<String> =
            conn.query_row("SELECT same_model_as FROM runs WHERE id = ?1", [id], |r| {
                r.get(0)
            })?;
        let registered = registered.or(same_model_as.clone());
        let (params, tags) = match &spec {
            Some(spec) => {
                let mut tags = spec.tags.clone();
                if let Some(version) = same_model_as {
                    tags.insert(SAME_MODEL_TAG.into(), version);
                }
                (params, tags)
            }
            None => {
                let logged = |table: &str| -> Result<BTreeMap<String, String>, StoreError> {
                    let mut stmt = conn.prepare_cached(&format!(
                        "SELECT key, value FROM {table} WHERE run_id = ?1"
                    ))?;
                    let rows = stmt
                        .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?
                        .collect::<Result<_, _>>()?;
                    Ok(rows)
                };
                let params = logged("run_params")?
                    .into_iter()
                    .map(|(k, v)| (k, ParamValue::Text(v)))
                    .collect();
                (params, logged("run_tags")?)
            }
        };
        Ok(Some(RunDetail {
            summary,
            spec,
            spec_hash,
            dataset_hash,
            seed,
            drover_version,
            params,
            trials,
            gate_failures,
            artifact_hash,
            rows_train,
            rows_test,
            registered,
            tags,
        }))
    }

    /// Queued runs, oldest first, with what an agent needs to run them.
    pub fn queued_runs(&self) -> Result<Vec<(String, TrainSpec, DatasetPin)>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(
            "SELECT id, spec, dataset_name, dataset_version, dataset_hash, dataset_size FROM runs
             WHERE status = 'queued' ORDER BY created_ms, id",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    parse::<TrainSpec>("spec", &r.get::<_, String>(1)?)?,
                    DatasetPin {
                        name: r.get(2)?,
                        version: r.get(3)?,
                        hash: hash_column(r, 4)?,
                        size_bytes: r.get::<_, i64>(5)? as u64,
                    },
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// `(run, agent)` of every running run.
    pub fn running_runs(&self) -> Result<Vec<(String, String)>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(
            "SELECT id, agent FROM runs WHERE status = 'running' AND agent IS NOT NULL",
        )?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Marks a queued run as running on `agent`; false when it was no longer queued.
    pub fn start_run(&self, id: &str, agent: &str, now_ms: u64) -> Result<bool, StoreError> {
        let started = Instant::now();
        let changed = self.lock()?.execute(
            "UPDATE runs SET status = 'running', agent = ?2, started_ms = ?3 WHERE id = ?1 AND status = 'queued'",
            params![id, agent, now_ms as i64],
        )?;
        record_write(started);
        Ok(changed == 1)
    }

    /// Records a finished trial of a running run.
    pub fn record_trial(&self, id: &str, trial: &Trial) -> Result<(), StoreError> {
        let started = Instant::now();
        self.lock()?.execute(
            "INSERT OR REPLACE INTO trials (run_id, trial, params, mean, folds)
             SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM runs WHERE id = ?1 AND status = 'running')",
            params![id, trial.trial, json(&trial.params)?, json(&trial.mean)?, json(&trial.folds)?],
        )?;
        record_write(started);
        Ok(())
    }

    /// Ends a run that is queued or running; false when it had already ended.
    /// Records how a run ended, with `event` in the same transaction; returns the stored event,
    /// or `None` when the run had already ended.
    pub fn finish_run(
        &self,
        id: &str,
        end: &FinishedRun<'_>,
        event: Event,
    ) -> Result<Option<EventRecord>, StoreError> {
        let started = Instant::now();
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        let changed = tx.execute(
            "UPDATE runs SET status = ?2, params = ?3, metrics = ?4, gates_passed = ?5, gate_failures = ?6, artifact_hash = ?7,
                rows_train = ?8, rows_test = ?9, error = ?10, finished_ms = ?11
             WHERE id = ?1 AND status IN ('queued', 'running')",
            params![
                id,
                end.status.to_string(),
                end.params.map(json).transpose()?,
                end.metrics.map(json).transpose()?,
                end.gates_passed,
                json(&end.gate_failures)?,
                end.artifact_hash,
                end.rows.map(|r| r.0 as i64),
                end.rows.map(|r| r.1 as i64),
                end.error,
                end.finished_ms as i64
            ],
        )?;
        if changed == 0 {
            return Ok(None);
        }
        let record = insert_event(&tx, end.finished_ms, event)?;
        tx.commit()?;
        record_write(started);
        Ok(Some(record))
    }

    /// Records that run `id` trained the very model `version` (`model@N`) already holds, so it
    /// registers nothing new.
    pub fn set_same_model(&self, id: &str, version: &str) -> Result<(), StoreError> {
        let started = Instant::now();
        self.lock()?.execute(
            "UPDATE runs SET same_model_as = ?2 WHERE id = ?1",
            params![id, version],
        )?;
        record_write(started);
        Ok(())
    }

    /// How many runs are in each status.
    pub fn run_counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
        self.count_by("SELECT status, COUNT(*) FROM runs GROUP BY status")
    }

    /// How many model versions are in each stage.
    pub fn version_counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
        self.count_by("SELECT stage, COUNT(*) FROM model_versions GROUP BY stage")
    }

    /// `(key, count)` rows of a `GROUP BY` query.
    fn count_by(&self, sql: &str) -> Result<Vec<(String, u64)>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(sql)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Hands a running run to `agent` (the one refitting a spread search's best trial).
    pub fn reassign_run(&self, id: &str, agent: &str) -> Result<bool, StoreError> {
        let started = Instant::now();
        let changed = self.lock()?.execute(
            "UPDATE runs SET agent = ?2 WHERE id = ?1 AND status = 'running'",
            params![id, agent],
        )?;
        record_write(started);
        Ok(changed == 1)
    }

    /// Puts a running run back in the queue, forgetting its partial trials and their metric points.
    pub fn requeue_run(&self, id: &str) -> Result<bool, StoreError> {
        let started = Instant::now();
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        let changed = tx.execute(
            "UPDATE runs SET status = 'queued', agent = NULL, started_ms = NULL WHERE id = ?1 AND status = 'running'",
            [id],
        )?;
        tx.execute("DELETE FROM trials WHERE run_id = ?1", [id])?;
        tx.execute("DELETE FROM metric_points WHERE run_id = ?1", [id])?;
        tx.commit()?;
        record_write(started);
        Ok(changed == 1)
    }
}
