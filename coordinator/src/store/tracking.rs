//! Runs as a tracking client sees them: runs logged from outside (through the
//! MLflow API) live in the same `runs` table as runs drover's agents trained, with string
//! params and tags beside them and the latest value of each metric kept for search.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use drover_protocol::run::RunStatus;
use drover_protocol::spec::{Params, TrainSpec};
use rusqlite::{OptionalExtension, params, params_from_iter};

use super::experiments::Experiment;
use super::metrics::MetricValue;
use super::{Store, StoreError, record_write};

/// One point of a metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub value: f64,
    pub at_ms: i64,
    pub step: i64,
}

/// A run with everything a tracking client reads.
#[derive(Debug, Clone)]
pub struct TrackedRun {
    pub id: String,
    pub experiment_id: i64,
    pub run_name: String,
    pub user_id: String,
    pub status: RunStatus,
    pub start_ms: u64,
    pub end_ms: Option<u64>,
    pub deleted: bool,
    pub params: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    /// The latest point of each metric (highest step, then time, then value).
    pub metrics: BTreeMap<String, Point>,
}

/// The params, tags and metrics a search reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Keys {
    pub params: Vec<String>,
    pub tags: Vec<String>,
    pub metrics: Vec<String>,
}

/// A run started by a tracking client.
pub struct NewTrackedRun<'a> {
    pub id: &'a str,
    pub experiment: &'a Experiment,
    pub run_name: &'a str,
    pub user_id: &'a str,
    pub start_ms: u64,
    pub tags: &'a [(String, String)],
}

/// Why logging to a run was refused.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("no run with id {0}")]
    UnknownRun(String),
    #[error(
        "changing param values is not allowed: param {key} was already logged with value {old:?} for run {run}; attempted to log {new:?}"
    )]
    ParamChanged {
        run: String,
        key: String,
        old: String,
        new: String,
    },
    #[error("run {0} is not active (deleted)")]
    Deleted(String),
}

impl From<rusqlite::Error> for LogError {
    fn from(e: rusqlite::Error) -> Self {
        LogError::Store(e.into())
    }
}

const RUN_COLUMNS: &str = "SELECT r.id, e.id, COALESCE(r.run_name, r.id), r.user_id, r.status,
    r.created_ms, r.started_ms, r.finished_ms, r.deleted, r.source, r.params, r.spec, r.metrics";

const RUN_FROM: &str = "FROM runs r JOIN experiments e ON e.name = r.experiment";

/// The columns of [`RUN_COLUMNS`] before params, tags and latest metrics are attached.
fn run_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TrackedRun> {
    let status: String = r.get(4)?;
    let source: String = r.get(9)?;
    let mut run = TrackedRun {
        id: r.get(0)?,
        experiment_id: r.get(1)?,
        run_name: r.get(2)?,
        user_id: r.get(3)?,
        status: RunStatus::parse(&status).unwrap_or(RunStatus::Failed),
        start_ms: r.get::<_, Option<i64>>(6)?.unwrap_or(r.get::<_, i64>(5)?) as u64,
        end_ms: r.get::<_, Option<i64>>(7)?.map(|v| v as u64),
        deleted: r.get::<_, i64>(8)? != 0,
        params: BTreeMap::new(),
        tags: BTreeMap::new(),
        metrics: BTreeMap::new(),
    };
    if source == "drover" {
        // Runs drover trained: the chosen params, the spec's tags, the test metrics.
        let params: Params = r
            .get::<_, Option<String>>(10)?
            .and_then(|p| serde_json::from_str(&p).ok())
            .unwrap_or_default();
        run.params = params
            .iter()
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect();
        if let Some(spec) = serde_json::from_str::<Option<TrainSpec>>(&r.get::<_, String>(11)?)
            .ok()
            .flatten()
        {
            run.tags = spec.tags;
            run.tags
                .insert("drover.algorithm".into(), spec.algorithm.to_string());
            run.tags.insert("drover.dataset".into(), spec.dataset);
        }
        let metrics: BTreeMap<String, f64> = r
            .get::<_, Option<String>>(12)?
            .and_then(|m| serde_json::from_str(&m).ok())
            .unwrap_or_default();
        let at_ms = run.end_ms.unwrap_or(run.start_ms) as i64;
        run.metrics = metrics
            .into_iter()
            .map(|(k, value)| {
                let point = Point {
                    value,
                    at_ms,
                    step: 0,
                };
                (k, point)
            })
            .collect();
    }
    Ok(run)
}

impl Store {
    /// Starts a run logged from outside drover, with its first tags.
    pub fn create_tracked_run(&self, run: &NewTrackedRun<'_>) -> Result<(), StoreError> {
        let started = Instant::now();
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO runs (id, experiment, model, status, spec, spec_hash, dataset_name, dataset_version,
                dataset_hash, dataset_size, seed, drover_version, trials_total, created_ms, started_ms,
                source, run_name, user_id)
             VALUES (?1, ?2, '', 'running', 'null', '', '', 0, '', 0, 0, ?3, 0, ?4, ?4, 'mlflow', ?5, ?6)",
            params![
                run.id,
                run.experiment.name,
                drover_protocol::DROVER_VERSION,
                run.start_ms as i64,
                run.run_name,
                run.user_id
            ],
        )?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT OR REPLACE INTO run_tags (run_id, key, value) VALUES (?1, ?2, ?3)",
            )?;
            for (key, value) in run.tags {
                stmt.execute(params![run.id, key, value])?;
            }
        }
        tx.commit()?;
        record_write(started);
        Ok(())
    }

    /// One run as a tracking client sees it.
    pub fn tracked_run(&self, id: &str) -> Result<Option<TrackedRun>, StoreError> {
        let mut runs = self.tracked_runs_where("r.id = ?", &[id], None)?;
        Ok(runs.pop())
    }

    /// Every run of the experiments with `ids`; with `keys`, only those params, tags and
    /// metrics are loaded (enough to filter and sort before loading a page whole).
    pub fn tracked_runs(
        &self,
        experiment_ids: &[i64],
        keys: Option<&Keys>,
    ) -> Result<Vec<TrackedRun>, StoreError> {
        if experiment_ids.is_empty() {
            return Ok(Vec::new());
        }
        let marks = vec!["?"; experiment_ids.len()].join(", ");
        let ids: Vec<String> = experiment_ids.iter().map(i64::to_string).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        self.tracked_runs_where(&format!("e.id IN ({marks})"), &ids, keys)
    }

    /// The runs with `ids`, whole, in no particular order.
    pub fn tracked_runs_by_id(&self, ids: &[&str]) -> Result<Vec<TrackedRun>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let marks = vec!["?"; ids.len()].join(", ");
        self.tracked_runs_where(&format!("r.id IN ({marks})"), ids, None)
    }

    fn tracked_runs_where(
        &self,
        condition: &str,
        args: &[&str],
        keys: Option<&Keys>,
    ) -> Result<Vec<TrackedRun>, StoreError> {
        let conn = self.read()?;
        let mut stmt =
            conn.prepare_cached(&format!("{RUN_COLUMNS} {RUN_FROM} WHERE {condition}"))?;
        let mut runs: Vec<TrackedRun> = stmt
            .query_map(params_from_iter(args), run_row)?
            .collect::<Result<_, _>>()?;
        let index: HashMap<String, usize> = runs
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id.clone(), i))
            .collect();
        for (table, is_param) in [("run_params", true), ("run_tags", false)] {
            let wanted = keys.map(|k| if is_param { &k.params } else { &k.tags });
            if wanted.is_some_and(Vec::is_empty) {
                continue;
            }
            let (sql, all) = keyed(table, "t.value", condition, args, wanted);
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(params_from_iter(all), |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })?;
            for row in rows {
                let (run, key, value) = row?;
                if let Some(&i) = index.get(&run) {
                    let map = if is_param {
                        &mut runs[i].params
                    } else {
                        &mut runs[i].tags
                    };
                    map.insert(key, value);
                }
            }
        }
        let wanted = keys.map(|k| &k.metrics);
        if !wanted.is_some_and(Vec::is_empty) {
            let (sql, all) = keyed(
                "metric_latest",
                "t.value, t.at_ms, t.step",
                condition,
                args,
                wanted,
            );
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(params_from_iter(all), |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    Point {
                        value: r.get::<_, MetricValue>(2)?.0,
                        at_ms: r.get(3)?,
                        step: r.get(4)?,
                    },
                ))
            })?;
            for row in rows {
                let (run, key, point) = row?;
                if let Some(&i) = index.get(&run) {
                    runs[i].metrics.insert(key, point);
                }
            }
        }
        Ok(runs)
    }

    /// Changes a logged run's status, end time or name; false when there is no such run.
    pub fn update_tracked_run(
        &self,
        id: &str,
        status: Option<RunStatus>,
        end_ms: Option<u64>,
        run_name: Option<&str>,
    ) -> Result<bool, StoreError> {
        let started = Instant::now();
        let changed = self.lock()?.execute(
            "UPDATE runs SET status = COALESCE(?2, status), finished_ms = COALESCE(?3, finished_ms),
                run_name = COALESCE(?4, run_name) WHERE id = ?1",
            params![
                id,
                status.map(|s| s.to_string()),
                end_ms.map(|v| v as i64),
                run_name
            ],
        )?;
        record_write(started);
        Ok(changed == 1)
    }

    /// Marks a run deleted or active again; false when there is no such run.
    pub fn set_run_deleted(&self, id: &str, deleted: bool) -> Result<bool, StoreError> {
        let started = Instant::now();
        let changed = self.lock()?.execute(
            "UPDATE runs SET deleted = ?2 WHERE id = ?1",
            params![id, deleted as i64],
        )?;
        record_write(started);
        Ok(changed == 1)
    }

    /// Removes one tag of a run; false when the run has no such tag.
    pub fn delete_run_tag(&self, id: &str, key: &str) -> Result<bool, StoreError> {
        let started = Instant::now();
        let changed = self.lock()?.execute(
            "DELETE FROM run_tags WHERE run_id = ?1 AND key = ?2",
            params![id, key],
        )?;
        record_write(started);
        Ok(changed == 1)
    }

    /// Logs params (immutable: the same value again is fine), tags (overwritten) and metric
    /// points to a run in one transaction; nothing is stored if anything is refused.
    pub fn log_batch(
        &self,
        run: &str,
        params: &[(String, String)],
        tags: &[(String, String)],
        metrics: &[(String, Point)],
    ) -> Result<(), LogError> {
        let started = Instant::now();
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        let deleted: Option<i64> = tx
            .query_row("SELECT deleted FROM runs WHERE id = ?1", [run], |r| {
                r.get(0)
            })
            .optional()?;
        match deleted {
            None => return Err(LogError::UnknownRun(run.into())),
            Some(d) if d != 0 => return Err(LogError::Deleted(run.into())),
            Some(_) => {}
        }
        {
            let mut existing =
                tx.prepare_cached("SELECT value FROM run_params WHERE run_id = ?1 AND key = ?2")?;
            let mut insert = tx.prepare_cached(
                "INSERT OR IGNORE INTO run_params (run_id, key, value) VALUES (?1, ?2, ?3)",
            )?;
            for (key, value) in params {
                let old: Option<String> = existing
                    .query_row(params![run, key], |r| r.get(0))
                    .optional()?;
                match old {
                    Some(old) if &old != value => {
                        return Err(LogError::ParamChanged {
                            run: run.into(),
                            key: key.clone(),
                            old,
                            new: value.clone(),
                        });
                    }
                    Some(_) => {}
                    None => {
                        insert.execute(params![run, key, value])?;
                    }
                }
            }
            let mut tag = tx.prepare_cached(
                "INSERT OR REPLACE INTO run_tags (run_id, key, value) VALUES (?1, ?2, ?3)",
            )?;
            for (key, value) in tags {
                tag.execute(params![run, key, value])?;
                if key == "mlflow.runName" {
                    tx.execute(
                        "UPDATE runs SET run_name = ?2 WHERE id = ?1",
                        params![run, value],
                    )?;
                }
            }
            let mut point = tx.prepare_cached(
                "INSERT INTO metric_points (run_id, key, step, value, at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            let mut latest: BTreeMap<&str, Point> = BTreeMap::new();
            for (key, p) in metrics {
                point.execute(params![run, key, p.step, MetricValue(p.value), p.at_ms])?;
                let newer = latest.get(key.as_str()).is_none_or(|l| later(p, l));
                if newer {
                    latest.insert(key, *p);
                }
            }
            let mut current = tx.prepare_cached(
                "SELECT value, at_ms, step FROM metric_latest WHERE run_id = ?1 AND key = ?2",
            )?;
            let mut upsert = tx.prepare_cached(
                "INSERT OR REPLACE INTO metric_latest (run_id, key, step, at_ms, value) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for (key, p) in latest {
                let stored: Option<Point> = current
                    .query_row(params![run, key], |r| {
                        Ok(Point {
                            value: r.get::<_, MetricValue>(0)?.0,
                            at_ms: r.get(1)?,
                            step: r.get(2)?,
                        })
                    })
                    .optional()?;
                if stored.is_none_or(|s| later(&p, &s)) {
                    upsert.execute(params![run, key, p.step, p.at_ms, MetricValue(p.value)])?;
                }
            }
        }
        tx.commit()?;
        record_write(started);
        Ok(())
    }

    /// The experiment of run `id`, if the run exists.
    pub fn run_experiment(&self, id: &str) -> Result<Option<i64>, StoreError> {
        let conn = self.read()?;
        let sql = format!("SELECT e.id {RUN_FROM} WHERE r.id = ?1");
        Ok(conn.query_row(&sql, [id], |r| r.get(0)).optional()?)
    }

    /// A page of one metric's points, in the order they were logged.
    pub fn metric_points(
        &self,
        run: &str,
        key: &str,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<Point>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(
            "SELECT value, at_ms, step FROM metric_points WHERE run_id = ?1 AND key = ?2
             ORDER BY rowid LIMIT ?3 OFFSET ?4",
        )?;
        let rows = stmt
            .query_map(params![run, key, limit as i64, offset as i64], |r| {
                Ok(Point {
                    value: r.get::<_, MetricValue>(0)?.0,
                    at_ms: r.get(1)?,
                    step: r.get(2)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}

/// A query of the rows of `table` (aliased `t`) belonging to the runs matching `condition`,
/// joined run by run rather than through a subquery; restricted to the `wanted` keys when given.
fn keyed<'a>(
    table: &str,
    columns: &str,
    condition: &str,
    args: &[&'a str],
    wanted: Option<&'a Vec<String>>,
) -> (String, Vec<&'a str>) {
    let mut sql = format!(
        "SELECT t.run_id, t.key, {columns} {RUN_FROM} JOIN {table} t ON t.run_id = r.id WHERE ({condition})"
    );
    let mut all: Vec<&str> = args.to_vec();
    if let Some(wanted) = wanted {
        sql.push_str(&format!(
            " AND t.key IN ({})",
            vec!["?"; wanted.len()].join(", ")
        ));
        all.extend(wanted.iter().map(String::as_str));
    }
    (sql, all)
}

/// Whether `a` supersedes `b` as a metric's latest value: higher step, then later time, then
/// larger value (NaN counts as the largest, as in MLflow).
fn later(a: &Point, b: &Point) -> bool {
    (a.step, a.at_ms)
        .cmp(&(b.step, b.at_ms))
        .then_with(|| a.value.total_cmp(&b.value))
        .is_gt()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("drover.db")).expect("opens");
        (dir, store)
    }

    fn point(value: f64, step: i64) -> Point {
        Point {
            value,
            at_ms: 10,
            step,
        }
    }

    #[test]
    fn params_are_immutable_and_metrics_keep_exact_values_and_the_latest() {
        let (_dir, store) = store();
        let experiment = store.experiment(0).expect("reads").expect("default");
        let tags = vec![("mlflow.user".to_string(), "ana".to_string())];
        store
            .create_tracked_run(&NewTrackedRun {
                id: "r1",
                experiment: &experiment,
                run_name: "first",
                user_id: "ana",
                start_ms: 100,
                tags: &tags,
            })
            .expect("creates");
        let lr = vec![("lr".to_string(), "0.1".to_string())];
        let third = 0.1 + 0.2;
        let metrics = vec![
            ("loss".to_string(), point(third, 2)),
            ("loss".to_string(), point(f64::NAN, 1)),
            ("loss".to_string(), point(f64::INFINITY, 3)),
            ("acc".to_string(), point(f64::NEG_INFINITY, 0)),
        ];
        store.log_batch("r1", &lr, &[], &metrics).expect("logs");
        store
            .log_batch("r1", &lr, &[], &[])
            .expect("same value again");
        let changed = vec![("lr".to_string(), "0.2".to_string())];
        let err = store
            .log_batch("r1", &changed, &[], &[("x".into(), point(1.0, 0))])
            .expect_err("changed");
        assert!(err.to_string().contains("param lr"), "{err}");
        assert!(matches!(
            store.log_batch("nope", &[], &[], &[]),
            Err(LogError::UnknownRun(_))
        ));

        let run = store.tracked_run("r1").expect("reads").expect("there");
        assert_eq!(run.params["lr"], "0.1");
        assert_eq!(run.tags["mlflow.user"], "ana");
        assert_eq!(run.metrics["loss"].value, f64::INFINITY);
        assert!(
            !run.metrics.contains_key("x"),
            "nothing of a refused batch is stored"
        );
        let history = store.metric_points("r1", "loss", 0, 10).expect("reads");
        assert_eq!(history[0].value.to_bits(), third.to_bits());
        assert!(history[1].value.is_nan());
        assert_eq!(
            store
                .metric_points("r1", "loss", 2, 10)
                .expect("reads")
                .len(),
            1
        );
        assert_eq!(store.tracked_runs(&[0], None).expect("reads").len(), 1);
        let only_loss = Keys {
            metrics: vec!["loss".into()],
            ..Keys::default()
        };
        let partial = store.tracked_runs(&[0], Some(&only_loss)).expect("reads");
        assert_eq!(partial[0].metrics.keys().collect::<Vec<_>>(), vec!["loss"]);
        assert!(partial[0].params.is_empty() && partial[0].tags.is_empty());
    }
}
