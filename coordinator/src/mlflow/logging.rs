//! The logging endpoints: params, tags and metrics of a run, one at a time or in a batch,
//! held to MLflow's limits before anything is stored.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use drover_protocol::types::unix_ms;
use serde::Deserialize;
use serde_json::json;

use super::Api;
use super::error::MlflowError;
use super::limits;
use super::logged_models::{ModelPoint, record_model_points};
use super::request::{Reply, RunRef, body, required};
use super::tracking::log_error;
use super::wire::{KeyValue, double, int64};
use crate::store::Point;

#[derive(Deserialize)]
struct LogKeyValue {
    #[serde(flatten)]
    run: RunRef,
    key: Option<String>,
    value: Option<String>,
}

pub async fn log_param(State(api): State<Api>, bytes: Bytes) -> Reply {
    api.blocking(move |api| {
        let req: LogKeyValue = body(&bytes)?;
        let pair = [(
            required(&req.key, "key")?.to_string(),
            req.value.unwrap_or_default(),
        )];
        limits::check(&pair, [], [])?;
        api.store
            .sync()
            .log_batch(req.run.id()?, &pair, &[], &[])
            .map_err(log_error)?;
        Ok(Json(json!({})))
    })
    .await
}

pub async fn set_tag(State(api): State<Api>, bytes: Bytes) -> Reply {
    api.blocking(move |api| {
        let req: LogKeyValue = body(&bytes)?;
        let pair = [(
            required(&req.key, "key")?.to_string(),
            req.value.unwrap_or_default(),
        )];
        limits::check([], &pair, [])?;
        api.store
            .sync()
            .log_batch(req.run.id()?, &[], &pair, &[])
            .map_err(log_error)?;
        Ok(Json(json!({})))
    })
    .await
}

/// `runs/delete-tag`: a tag the run does not have is `RESOURCE_DOES_NOT_EXIST`.
pub async fn delete_tag(State(api): State<Api>, bytes: Bytes) -> Reply {
    api.blocking(move |api| {
        let req: LogKeyValue = body(&bytes)?;
        let id = req.run.id()?;
        let key = required(&req.key, "key")?;
        if api.store.sync().run_experiment(id)?.is_none() {
            return Err(MlflowError::not_found(format!(
                "Run with id={id} not found"
            )));
        }
        if !api.store.sync().delete_run_tag(id, key)? {
            return Err(MlflowError::not_found(format!(
                "No tag with name: {key} in run with id {id}"
            )));
        }
        Ok(Json(json!({})))
    })
    .await
}

#[derive(Deserialize)]
struct MetricIn {
    key: Option<String>,
    #[serde(deserialize_with = "double")]
    value: f64,
    #[serde(default, deserialize_with = "int64")]
    timestamp: Option<i64>,
    #[serde(default, deserialize_with = "int64")]
    step: Option<i64>,
    /// MLflow 3: the logged model the value measures, and on which dataset.
    model_id: Option<String>,
    dataset_name: Option<String>,
    dataset_digest: Option<String>,
}

impl MetricIn {
    /// The point, and the logged model it also belongs to.
    fn point(self) -> Result<((String, Point), Option<ModelPoint>), MlflowError> {
        let key = required(&self.key, "key")?.to_string();
        limits::check([], [], [key.as_str()])?;
        let point = Point {
            value: self.value,
            at_ms: self.timestamp.unwrap_or_else(|| unix_ms() as i64),
            step: self.step.unwrap_or(0),
        };
        let model = self
            .model_id
            .filter(|m| !m.is_empty())
            .map(|model| ModelPoint {
                model,
                key: key.clone(),
                point,
                dataset_name: self.dataset_name.unwrap_or_default(),
                dataset_digest: self.dataset_digest.unwrap_or_default(),
            });
        Ok(((key, point), model))
    }
}

/// A run's metric points, by key.
type RunPoints = Vec<(String, Point)>;

/// Splits metrics into the run's points and those that also belong to a logged model.
fn points(metrics: Vec<MetricIn>) -> Result<(RunPoints, Vec<ModelPoint>), MlflowError> {
    let mut run = Vec::with_capacity(metrics.len());
    let mut models = Vec::new();
    for metric in metrics {
        let (point, model) = metric.point()?;
        run.push(point);
        models.extend(model);
    }
    Ok((run, models))
}

#[derive(Deserialize)]
struct LogMetric {
    #[serde(flatten)]
    run: RunRef,
    #[serde(flatten)]
    metric: MetricIn,
}

pub async fn log_metric(State(api): State<Api>, bytes: Bytes) -> Reply {
    api.blocking(move |api| {
        let req: LogMetric = body(&bytes)?;
        let id = req.run.id()?.to_string();
        let (point, models) = points(vec![req.metric])?;
        api.store
            .sync()
            .log_batch(&id, &[], &[], &point)
            .map_err(log_error)?;
        record_model_points(api, &id, models)?;
        Ok(Json(json!({})))
    })
    .await
}

#[derive(Deserialize)]
struct LogBatch {
    #[serde(flatten)]
    run: RunRef,
    #[serde(default)]
    metrics: Vec<MetricIn>,
    #[serde(default)]
    params: Vec<KeyValue>,
    #[serde(default)]
    tags: Vec<KeyValue>,
}

pub async fn log_batch(State(api): State<Api>, bytes: Bytes) -> Reply {
    api.blocking(move |api| {
        let req: LogBatch = body(&bytes)?;
        limits::batch(req.metrics.len(), req.params.len(), req.tags.len())?;
        let id = req.run.id()?.to_string();
        let (metrics, models) = points(req.metrics)?;
        let params: Vec<(String, String)> =
            req.params.into_iter().map(|p| (p.key, p.value)).collect();
        let tags: Vec<(String, String)> = req.tags.into_iter().map(|t| (t.key, t.value)).collect();
        limits::check(&params, &tags, [])?;
        api.store
            .sync()
            .log_batch(&id, &params, &tags, &metrics)
            .map_err(log_error)?;
        record_model_points(api, &id, models)?;
        Ok(Json(json!({})))
    })
    .await
}
