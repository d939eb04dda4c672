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
use super::tracking::{Reply, RunRef, body, log_error, required};
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

#[derive(Deserialize)]
struct MetricIn {
    key: Option<String>,
    #[serde(deserialize_with = "double")]
    value: f64,
    #[serde(default, deserialize_with = "int64")]
    timestamp: Option<i64>,
    #[serde(default, deserialize_with = "int64")]
    step: Option<i64>,
}

impl MetricIn {
    fn point(self) -> Result<(String, Point), MlflowError> {
        let key = required(&self.key, "key")?.to_string();
        limits::check([], [], [key.as_str()])?;
        Ok((
            key,
            Point {
                value: self.value,
                at_ms: self.timestamp.unwrap_or_else(|| unix_ms() as i64),
                step: self.step.unwrap_or(0),
            },
        ))
    }
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
        let point = [req.metric.point()?];
        api.store
            .sync()
            .log_batch(&id, &[], &[], &point)
            .map_err(log_error)?;
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
        let metrics = req
            .metrics
            .into_iter()
            .map(MetricIn::point)
            .collect::<Result<Vec<_>, _>>()?;
        let params: Vec<(String, String)> =
            req.params.into_iter().map(|p| (p.key, p.value)).collect();
        let tags: Vec<(String, String)> = req.tags.into_iter().map(|t| (t.key, t.value)).collect();
        limits::check(&params, &tags, [])?;
        api.store
            .sync()
            .log_batch(&id, &params, &tags, &metrics)
            .map_err(log_error)?;
        Ok(Json(json!({})))
    })
    .await
}
