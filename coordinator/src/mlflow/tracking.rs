//! The tracking endpoints under `/api/2.0/mlflow` for runs, metric histories and search,
//! answered from drover's store. Experiments are in [`super::experiments`]; logging params,
//! tags and metrics in [`super::logging`]; reading requests in [`super::request`].

use std::cmp::Ordering;
use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::Uri;
use drover_protocol::run::RunStatus;
use drover_protocol::types::unix_ms;
use rand::RngCore;
use serde::Deserialize;
use serde_json::{Value, json};

use super::Api;
use super::error::MlflowError;
use super::filter::{Attribute, Entity, OrderBy, RUN_ATTRIBUTES, Searchable};
use super::limits;
use super::request::{
    Reply, RunRef, body, experiment_id, offset, page, query, required, search_terms, view_matches,
};
use super::wire::{KeyValue, int64, number, pairs};
use crate::store::{Keys, LogError, NewTrackedRun, Point, TrackedRun};

/// MLflow's name for a run status.
fn status_name(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Queued => "SCHEDULED",
        RunStatus::Running => "RUNNING",
        RunStatus::Succeeded => "FINISHED",
        RunStatus::Failed => "FAILED",
        RunStatus::Cancelled => "KILLED",
    }
}

fn parse_status(name: &str) -> Result<RunStatus, MlflowError> {
    match name {
        "SCHEDULED" => Ok(RunStatus::Queued),
        "RUNNING" => Ok(RunStatus::Running),
        "FINISHED" => Ok(RunStatus::Succeeded),
        "FAILED" => Ok(RunStatus::Failed),
        "KILLED" => Ok(RunStatus::Cancelled),
        other => Err(MlflowError::invalid(format!(
            "invalid run status {other:?}"
        ))),
    }
}

fn info_json(run: &TrackedRun) -> Value {
    let mut info = json!({
        "run_id": run.id,
        "run_uuid": run.id,
        "experiment_id": run.experiment_id.to_string(),
        "run_name": run.run_name,
        "user_id": run.user_id,
        "status": status_name(run.status),
        "start_time": run.start_ms,
        "artifact_uri": format!("mlflow-artifacts:/{}/{}/artifacts", run.experiment_id, run.id),
        "lifecycle_stage": if run.deleted { "deleted" } else { "active" },
    });
    if let Some(end) = run.end_ms {
        info["end_time"] = json!(end);
    }
    info
}

fn point_json(key: &str, p: &Point) -> Value {
    json!({"key": key, "value": number(p.value), "timestamp": p.at_ms, "step": p.step})
}

fn run_json(run: &TrackedRun) -> Value {
    let metrics: Vec<Value> = run.metrics.iter().map(|(k, p)| point_json(k, p)).collect();
    json!({
        "info": info_json(run),
        "data": {"metrics": metrics, "params": pairs(&run.params), "tags": pairs(&run.tags)},
        "inputs": {},
    })
}

/// A store refusal as MLflow's error.
pub(super) fn log_error(e: LogError) -> MlflowError {
    match e {
        LogError::Store(e) => e.into(),
        LogError::UnknownRun(id) => MlflowError::not_found(format!("Run with id={id} not found")),
        other => MlflowError::invalid(other.to_string()),
    }
}

impl Searchable for TrackedRun {
    fn metric(&self, key: &str) -> Option<f64> {
        self.metrics.get(key).map(|p| p.value)
    }
    fn param(&self, key: &str) -> Option<&str> {
        self.params.get(key).map(String::as_str)
    }
    fn tag(&self, key: &str) -> Option<&str> {
        self.tags.get(key).map(String::as_str)
    }
    fn attribute(&self, name: &str) -> Option<Attribute> {
        match name {
            "status" => Some(Attribute::Text(status_name(self.status).into())),
            "run_name" => Some(Attribute::Text(self.run_name.clone())),
            "run_id" => Some(Attribute::Text(self.id.clone())),
            "start_time" => Some(Attribute::Number(self.start_ms as f64)),
            "end_time" => self.end_ms.map(|v| Attribute::Number(v as f64)),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
struct CreateRun {
    experiment_id: Option<String>,
    user_id: Option<String>,
    #[serde(default, deserialize_with = "int64")]
    start_time: Option<i64>,
    run_name: Option<String>,
    #[serde(default)]
    tags: Vec<KeyValue>,
}

pub async fn create_run(State(api): State<Api>, bytes: Bytes) -> Reply {
    api.blocking(move |api| {
        let req: CreateRun = body(&bytes)?;
        let id = experiment_id(req.experiment_id.as_deref().unwrap_or("0"))?;
        let experiment =
            api.store.sync().experiment(id)?.ok_or_else(|| {
                MlflowError::not_found(format!("No Experiment with id={id} exists"))
            })?;
        if experiment.lifecycle == "deleted" {
            return Err(MlflowError::invalid(format!(
                "The experiment {id} must be in the 'active' state."
            )));
        }
        let mut raw = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut raw);
        let run_id = drover_protocol::pki::hex(&raw);
        let run_name = req
            .run_name
            .clone()
            .or_else(|| {
                req.tags
                    .iter()
                    .find(|t| t.key == "mlflow.runName")
                    .map(|t| t.value.clone())
            })
            .unwrap_or_else(|| format!("run-{}", &run_id[..8]));
        let mut tags: Vec<(String, String)> =
            req.tags.into_iter().map(|t| (t.key, t.value)).collect();
        if !tags.iter().any(|(k, _)| k == "mlflow.runName") {
            tags.push(("mlflow.runName".into(), run_name.clone()));
        }
        limits::check([], &tags, [])?;
        let start = req.start_time.unwrap_or_else(|| unix_ms() as i64).max(0) as u64;
        api.store.sync().create_tracked_run(&NewTrackedRun {
            id: &run_id,
            experiment: &experiment,
            run_name: &run_name,
            user_id: req.user_id.as_deref().unwrap_or(""),
            start_ms: start,
            tags: &tags,
        })?;
        let run = api
            .store
            .sync()
            .tracked_run(&run_id)?
            .ok_or_else(|| MlflowError::not_found(format!("Run with id={run_id} not found")))?;
        Ok(Json(json!({ "run": run_json(&run) })))
    })
    .await
}

fn load_run(api: &Api, id: &str) -> Result<TrackedRun, MlflowError> {
    api.store
        .sync()
        .tracked_run(id)?
        .ok_or_else(|| MlflowError::not_found(format!("Run with id={id} not found")))
}

/// `runs/get`: the run with its inputs and outputs (a search answers runs without them).
pub async fn get_run(State(api): State<Api>, uri: Uri) -> Reply {
    api.blocking(move |api| {
        let q: RunRef = query(&uri)?;
        let run = load_run(api, q.id()?)?;
        let mut reply = run_json(&run);
        let (inputs, outputs) = super::inputs::run_io(api, &run.id)?;
        reply["inputs"] = inputs;
        reply["outputs"] = outputs;
        Ok(Json(json!({ "run": reply })))
    })
    .await
}

#[derive(Deserialize)]
struct UpdateRun {
    #[serde(flatten)]
    run: RunRef,
    status: Option<String>,
    #[serde(default, deserialize_with = "int64")]
    end_time: Option<i64>,
    run_name: Option<String>,
}

pub async fn update_run(State(api): State<Api>, bytes: Bytes) -> Reply {
    api.blocking(move |api| {
        let req: UpdateRun = body(&bytes)?;
        let id = req.run.id()?;
        let status = req.status.as_deref().map(parse_status).transpose()?;
        let end = req.end_time.map(|v| v.max(0) as u64);
        if !api
            .store
            .sync()
            .update_tracked_run(id, status, end, req.run_name.as_deref())?
        {
            return Err(MlflowError::not_found(format!(
                "Run with id={id} not found"
            )));
        }
        if let Some(name) = &req.run_name {
            let tag = [("mlflow.runName".to_string(), name.clone())];
            api.store
                .sync()
                .log_batch(id, &[], &tag, &[])
                .map_err(log_error)?;
        }
        let run = load_run(api, id)?;
        Ok(Json(json!({ "run_info": info_json(&run) })))
    })
    .await
}

#[derive(Deserialize)]
struct History {
    #[serde(flatten)]
    run: RunRef,
    metric_key: Option<String>,
    #[serde(default, deserialize_with = "int64")]
    max_results: Option<i64>,
    page_token: Option<String>,
}

pub async fn metric_history(State(api): State<Api>, uri: Uri) -> Reply {
    api.blocking(move |api| {
        let q: History = query(&uri)?;
        let id = q.run.id()?;
        let key = required(&q.metric_key, "metric_key")?;
        load_run(api, id)?;
        let max = q.max_results.unwrap_or(25_000).clamp(1, 100_000) as usize;
        let offset = offset(q.page_token.as_deref())?;
        let points = api.store.sync().metric_points(id, key, offset, max + 1)?;
        let more = points.len() > max;
        let metrics: Vec<Value> = points
            .iter()
            .take(max)
            .map(|p| point_json(key, p))
            .collect();
        let mut reply = json!({});
        if !metrics.is_empty() {
            reply["metrics"] = json!(metrics);
        }
        if more {
            reply["next_page_token"] = json!((offset + max).to_string());
        }
        Ok(Json(reply))
    })
    .await
}

#[derive(Deserialize)]
struct SearchRuns {
    #[serde(default)]
    experiment_ids: Vec<String>,
    filter: Option<String>,
    run_view_type: Option<String>,
    #[serde(default, deserialize_with = "int64")]
    max_results: Option<i64>,
    #[serde(default)]
    order_by: Vec<String>,
    page_token: Option<String>,
}

pub async fn search_runs(State(api): State<Api>, bytes: Bytes) -> Reply {
    api.blocking(move |api| {
        let req: SearchRuns = body(&bytes)?;
        let (filter, order) = search_terms(
            req.filter.as_deref(),
            req.order_by.iter().map(String::as_str),
            RUN_ATTRIBUTES,
        )?;
        let ids = req
            .experiment_ids
            .iter()
            .map(|id| experiment_id(id))
            .collect::<Result<Vec<_>, _>>()?;
        // Filter and sort on only the keys they read, then load the page whole.
        let mut keys = Keys::default();
        let read = filter
            .keys()
            .chain(order.iter().map(|o| (o.entity, o.key.as_str())));
        for (entity, key) in read {
            let list = match entity {
                Entity::Metric => &mut keys.metrics,
                Entity::Param => &mut keys.params,
                Entity::Tag => &mut keys.tags,
                Entity::Attribute => continue,
            };
            if !list.iter().any(|k| k == key) {
                list.push(key.to_string());
            }
        }
        let mut runs = Vec::new();
        let partial = api.store.sync().tracked_runs(&ids, Some(&keys))?;
        let scanned = partial.len();
        for run in partial {
            if view_matches(req.run_view_type.as_deref(), run.deleted)? && filter.matches(&run) {
                runs.push(run);
            }
        }
        let by_start = order.iter().any(|o| o.key == "start_time");
        runs.sort_by(|a, b| {
            OrderBy::compare_all(&order, a, b)
                .then_with(|| {
                    if by_start {
                        Ordering::Equal
                    } else {
                        b.start_ms.cmp(&a.start_ms)
                    }
                })
                .then_with(|| a.id.cmp(&b.id))
        });
        let max = req.max_results.unwrap_or(1000).clamp(1, 50_000) as usize;
        let (runs, next) = page(runs, req.page_token.as_deref(), max)?;
        // A small page is loaded by id; a large one with its experiments (one scan, no id list).
        let whole = if runs.len() * 4 < scanned {
            let ids: Vec<&str> = runs.iter().map(|r| r.id.as_str()).collect();
            api.store.sync().tracked_runs_by_id(&ids)?
        } else {
            api.store.sync().tracked_runs(&ids, None)?
        };
        let mut whole: HashMap<String, TrackedRun> =
            whole.into_iter().map(|r| (r.id.clone(), r)).collect();
        let runs: Vec<TrackedRun> = runs.iter().filter_map(|r| whole.remove(&r.id)).collect();
        let mut reply = json!({});
        if !runs.is_empty() {
            reply["runs"] = json!(runs.iter().map(run_json).collect::<Vec<_>>());
        }
        if let Some(token) = next {
            reply["next_page_token"] = json!(token);
        }
        Ok(Json(reply))
    })
    .await
}

pub async fn delete_run(State(api): State<Api>, bytes: Bytes) -> Reply {
    api.blocking(move |api| set_deleted(api, bytes, true)).await
}

pub async fn restore_run(State(api): State<Api>, bytes: Bytes) -> Reply {
    api.blocking(move |api| set_deleted(api, bytes, false))
        .await
}

fn set_deleted(api: &Api, bytes: Bytes, deleted: bool) -> Reply {
    let req: RunRef = body(&bytes)?;
    let id = req.id()?;
    if !api.store.sync().set_run_deleted(id, deleted)? {
        return Err(MlflowError::not_found(format!(
            "Run with id={id} not found"
        )));
    }
    Ok(Json(json!({})))
}
