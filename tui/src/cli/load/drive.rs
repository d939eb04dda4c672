//! The engine of `drover load`: keep-alive connections, each with one request in flight, at
//! a fixed rate or as fast as they go, posting feedback after answers when rows carry labels;
//! and what they measured.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use drover_protocol::types::unix_ms;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::http::{HeaderName, HeaderValue, Method, header};
use serde::Serialize;
use serde_json::{Value, json};

use super::request::Prepared;
use super::target::Target;

const JSON: HeaderValue = HeaderValue::from_static("application/json");
const MODEL: HeaderName = HeaderName::from_static("x-drover-model");
const KEY: HeaderName = HeaderName::from_static("x-drover-key");
const VERSION: HeaderName = HeaderName::from_static("x-drover-version");
const PREDICTION: HeaderName = HeaderName::from_static("x-drover-prediction");

/// Most requests whose latency is kept (about 40 MB).
const MAX_SAMPLES: usize = 10_000_000;

/// Percentiles of the latencies, milliseconds.
#[derive(Debug, Serialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// What a load run measured.
#[derive(Debug, Serialize)]
pub struct LoadReport {
    pub requests: u64,
    pub seconds: f64,
    pub requests_per_second: f64,
    pub latency: Latency,
    /// Answers by HTTP status (0: the connection failed).
    pub statuses: BTreeMap<u16, u64>,
    /// Successful answers by the version that gave them (`x-drover-version`).
    pub versions: BTreeMap<String, u64>,
    /// When each version last answered, Unix milliseconds.
    pub last_answered_ms: BTreeMap<String, u64>,
    /// With `--feedback`: the labels posted and what came of them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feedback: Option<Feedback>,
}

/// Feedback posted after answers.
#[derive(Debug, Default, Serialize)]
pub struct Feedback {
    /// Labels the agent judged.
    pub judged: u64,
    /// Of those, the ones the model had right.
    pub correct: u64,
    /// Feedback the agent refused (by status; 0: the connection failed).
    pub refused: BTreeMap<u16, u64>,
}

/// What one connection saw.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    statuses: BTreeMap<u16, u64>,
    /// Answers by `x-drover-version` (a handful, so a list), and the Unix ms of the last.
    versions: Vec<(HeaderValue, u64, u64)>,
    feedback: Feedback,
}

/// Runs one connection until `deadline`, taking a permit from `pace` before each request
/// when the rate is fixed.
async fn connection(
    target: Arc<Target>,
    model: HeaderValue,
    requests: Arc<Vec<Prepared>>,
    start: usize,
    deadline: Instant,
    pace: Option<Arc<tokio::sync::Semaphore>>,
    sent: Arc<AtomicU64>,
) -> Tally {
    let mut tally = Tally::default();
    let mut next = start;
    let feedback = format!(
        "/v2/models/{}/feedback",
        String::from_utf8_lossy(model.as_bytes())
    );
    'reconnect: while Instant::now() < deadline {
        let Ok(mut sender) = target.connect().await else {
            *tally.statuses.entry(0).or_default() += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        while Instant::now() < deadline {
            if let Some(pace) = &pace {
                match tokio::time::timeout_at(deadline.into(), pace.acquire()).await {
                    Ok(Ok(permit)) => permit.forget(),
                    _ => break 'reconnect,
                }
            }
            let prepared = &requests[next % requests.len()];
            next += 1;
            let mut request = Request::new(Full::new(prepared.body.clone()));
            *request.method_mut() = Method::POST;
            *request.uri_mut() = prepared.uri.clone();
            let headers = request.headers_mut();
            target.stamp(headers);
            headers.insert(header::CONTENT_TYPE, JSON.clone());
            headers.insert(MODEL, model.clone());
            if let Some(key) = &prepared.key {
                headers.insert(KEY, key.clone());
            }
            let started = Instant::now();
            let response = match sender.send_request(request).await {
                Ok(response) => response,
                Err(_) => {
                    *tally.statuses.entry(0).or_default() += 1;
                    continue 'reconnect;
                }
            };
            let status = response.status().as_u16();
            let version = response.headers().get(VERSION).cloned();
            let id = prepared
                .label
                .as_ref()
                .and_then(|_| response.headers().get(PREDICTION)?.to_str().ok())
                .map(str::to_string);
            if response.into_body().collect().await.is_err() {
                *tally.statuses.entry(0).or_default() += 1;
                continue 'reconnect;
            }
            if tally.latencies_us.len() < MAX_SAMPLES {
                tally
                    .latencies_us
                    .push(started.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
            }
            *tally.statuses.entry(status).or_default() += 1;
            if let (200, Some(version)) = (status, version) {
                let now = unix_ms();
                match tally.versions.iter_mut().find(|(v, _, _)| *v == version) {
                    Some((_, n, last)) => (*n, *last) = (*n + 1, now),
                    None => tally.versions.push((version, 1, now)),
                }
            }
            sent.fetch_add(1, Ordering::Relaxed);
            if let (200, Some(id), Some(label)) = (status, id, &prepared.label) {
                let body = json!({ "id": id, "label": label }).to_string();
                let request = target
                    .feedback(&feedback)
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from(body)));
                let Ok(request) = request else { continue };
                match judged(&mut sender, request).await {
                    Ok(Some(correct)) => {
                        tally.feedback.judged += 1;
                        tally.feedback.correct += u64::from(correct);
                    }
                    Ok(None) => {}
                    Err(status) => {
                        *tally.feedback.refused.entry(status).or_default() += 1;
                        if status == 0 {
                            continue 'reconnect;
                        }
                    }
                }
            }
        }
    }
    tally
}

/// Posts one feedback request: whether the model had the row right (`None` when the answer
/// does not say), or the status that refused it (0: the connection failed).
async fn judged(
    sender: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    request: Request<Full<Bytes>>,
) -> Result<Option<bool>, u16> {
    let response = sender.send_request(request).await.map_err(|_| 0u16)?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.map_err(|_| 0u16)?;
    if status != 200 {
        return Err(status);
    }
    let answer: Value = serde_json::from_slice(&body.to_bytes()).unwrap_or_default();
    Ok(answer["correct"].as_u64().map(|n| n > 0))
}

/// How to load a server.
pub struct Load {
    pub target: Arc<Target>,
    pub model: String,
    pub requests: Vec<Prepared>,
    pub concurrency: usize,
    pub rps: Option<u32>,
    pub duration: Duration,
    /// Print progress every second.
    pub progress: bool,
}

/// Sends `load`'s requests and measures the answers.
pub async fn drive(load: Load) -> anyhow::Result<LoadReport> {
    anyhow::ensure!(!load.requests.is_empty(), "nothing to send");
    let with_labels = load.requests.iter().any(|r| r.label.is_some());
    let model = HeaderValue::try_from(load.model.as_str())
        .with_context(|| format!("{:?} cannot be a model name", load.model))?;
    let requests = Arc::new(load.requests);
    let concurrency = load.concurrency.clamp(1, 4096);
    let started = Instant::now();
    let deadline = started + load.duration;
    let pace = load.rps.map(|rps| {
        let pace = Arc::new(tokio::sync::Semaphore::new(0));
        let feeder = pace.clone();
        tokio::spawn(async move {
            let per_tick = (u64::from(rps) / 100).max(1) as usize;
            let every = Duration::from_secs_f64(per_tick as f64 / f64::from(rps.max(1)));
            let mut tick = tokio::time::interval(every);
            while Instant::now() < deadline {
                tick.tick().await;
                if feeder.available_permits() < concurrency * 4 {
                    feeder.add_permits(per_tick);
                }
            }
        });
        pace
    });
    let sent = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..concurrency)
        .map(|i| {
            tokio::spawn(connection(
                load.target.clone(),
                model.clone(),
                requests.clone(),
                i * 7919,
                deadline,
                pace.clone(),
                sent.clone(),
            ))
        })
        .collect();
    if load.progress {
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let n = sent.load(Ordering::Relaxed);
            eprint!(
                "\r{n} requests, {:.0}/s   ",
                n as f64 / started.elapsed().as_secs_f64()
            );
        }
        eprintln!();
    }
    let mut total = Tally::default();
    let mut versions = BTreeMap::new();
    let mut last_answered_ms: BTreeMap<String, u64> = BTreeMap::new();
    for worker in workers {
        let tally = worker.await?;
        total.latencies_us.extend(tally.latencies_us);
        for (status, n) in tally.statuses {
            *total.statuses.entry(status).or_default() += n;
        }
        for (version, n, last) in tally.versions {
            let version = String::from_utf8_lossy(version.as_bytes()).into_owned();
            *versions.entry(version.clone()).or_default() += n;
            let latest = last_answered_ms.entry(version).or_default();
            *latest = (*latest).max(last);
        }
        total.feedback.judged += tally.feedback.judged;
        total.feedback.correct += tally.feedback.correct;
        for (status, n) in tally.feedback.refused {
            *total.feedback.refused.entry(status).or_default() += n;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let requests_total: u64 = total.statuses.values().sum();
    total.latencies_us.sort_unstable();
    let at = |q: f64| {
        let samples = &total.latencies_us;
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples.get(i).map_or(0.0, |us| f64::from(*us) / 1000.0)
    };
    Ok(LoadReport {
        requests: requests_total,
        seconds,
        requests_per_second: requests_total as f64 / seconds,
        latency: Latency {
            p50_ms: at(0.5),
            p90_ms: at(0.9),
            p99_ms: at(0.99),
            max_ms: at(1.0),
        },
        statuses: total.statuses,
        versions,
        last_answered_ms,
        feedback: with_labels.then_some(total.feedback),
    })
}
