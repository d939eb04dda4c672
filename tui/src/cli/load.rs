//! `drover load`: a load generator for the prediction API. Rows of a dataset (or one
//! synthetic row built from the model's metadata) are sent as Open Inference Protocol or
//! MLflow requests over keep-alive HTTP/1.1 connections, at a fixed rate or as fast as a
//! number of connections allows; it reports throughput, latency percentiles, errors by status
//! and the versions that answered.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::{Args, ValueEnum};
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde_json::{Value, json};

use super::Ctx;

/// Most requests whose latency is kept (about 40 MB).
const MAX_SAMPLES: usize = 10_000_000;

/// The request format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// `POST /v2/models/{model}/infer`: one `[1, k]` tensor of numbers, or one tensor per
    /// input when some are categories.
    Oip,
    /// `POST /invocations` with `dataframe_split`.
    Mlflow,
}

/// `drover load`.
#[derive(Args)]
pub struct LoadArgs {
    /// The serving agent, e.g. http://127.0.0.1:7500.
    url: String,
    /// The model to ask.
    #[arg(long)]
    model: String,
    /// Requests per second in total (default: as fast as the connections go).
    #[arg(long)]
    rps: Option<u32>,
    /// Connections, each with one request in flight.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Replay the rows of this dataset version (NAME@N) from the coordinator's data dir.
    #[arg(long)]
    data: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Oip)]
    format: Format,
    /// Send an `x-drover-key` header per row, so each row sticks to one version.
    #[arg(long)]
    key_header: bool,
    /// After each answer, post the row's true label (from --data) as feedback, so the agent
    /// counts live accuracy; the report gives the share the model got right.
    #[arg(long, requires = "data")]
    feedback: bool,
    #[arg(long)]
    json: bool,
}

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

/// One prepared request.
#[derive(Clone)]
pub struct Prepared {
    path: String,
    body: Bytes,
    key: Option<String>,
    /// The row's true label, posted as feedback after the answer.
    label: Option<String>,
}

/// What one connection saw.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    statuses: BTreeMap<u16, u64>,
    versions: BTreeMap<String, u64>,
    feedback: Feedback,
}

impl LoadArgs {
    pub async fn run(self, ctx: &Ctx) -> anyhow::Result<()> {
        let report = run(&self, ctx).await?;
        super::emit(&report, self.json, print)
    }
}

/// The `host:port` of an `http://` URL.
fn authority(url: &str) -> anyhow::Result<String> {
    let rest = url
        .strip_prefix("http://")
        .context("the URL must start with http:// (TLS listeners are not load-tested yet)")?;
    Ok(rest.trim_end_matches('/').to_string())
}

/// One GET over a fresh connection; the JSON body.
async fn get_json(address: &str, path: &str) -> anyhow::Result<Value> {
    let stream = tokio::net::TcpStream::connect(address)
        .await
        .with_context(|| format!("connecting to {address}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let request = Request::get(path)
        .header("host", address)
        .body(Full::new(Bytes::new()))?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    if !status.is_success() {
        bail!("GET {path}: {status}: {}", String::from_utf8_lossy(&body));
    }
    Ok(serde_json::from_slice(&body)?)
}

/// What the model's metadata says: its inputs (name, and whether numeric), and the column it
/// predicts.
struct Metadata {
    inputs: Vec<(String, bool)>,
    target: Option<String>,
}

async fn metadata(address: &str, model: &str) -> anyhow::Result<Metadata> {
    let metadata = get_json(address, &format!("/v2/models/{model}")).await?;
    let inputs = metadata["inputs"]
        .as_array()
        .context("the model's metadata lists no inputs")?
        .iter()
        .map(|i| {
            let name = i["name"].as_str().context("an input without a name")?;
            Ok((name.to_string(), i["datatype"] != "BYTES"))
        })
        .collect::<anyhow::Result<_>>()?;
    let target = metadata["parameters"]["target"]
        .as_str()
        .map(str::to_string);
    Ok(Metadata { inputs, target })
}

/// Rows to send, each with its true label when `target` is given.
type Labelled = Vec<(Vec<Value>, Option<String>)>;

/// Rows to send: the dataset's (with the `target` column's labels, when given), or one
/// synthetic row.
async fn rows(
    ctx: &Ctx,
    data: Option<&str>,
    inputs: &[(String, bool)],
    target: Option<&str>,
) -> anyhow::Result<Labelled> {
    let Some(reference) = data else {
        let row = inputs
            .iter()
            .map(|(_, numeric)| if *numeric { json!(0.0) } else { json!("a") })
            .collect();
        return Ok(vec![(row, None)]);
    };
    use drover_protocol::msg::{OperatorRequest, OperatorResponse};
    let request = OperatorRequest::ShowDataset(reference.parse().map_err(anyhow::Error::msg)?);
    let version = super::with_client(&ctx.data_dir, ctx.address(), async |c| {
        crate::expect_response!(c.request(&request).await?, OperatorResponse::Dataset)
    })
    .await?;
    let hash = drover_protocol::hash::ContentHash::parse(&version.hash)?;
    let path = drover_coordinator::artifacts::Artifacts::open(&ctx.data_dir)?.path(&hash);
    let bytes = std::fs::read(&path).with_context(|| {
        format!(
            "reading {} (--data replays datasets of a coordinator on this machine)",
            path.display()
        )
    })?;
    let table = drover_ml::table::parse(&bytes)?;
    let column = |name: &str| {
        table
            .schema
            .columns
            .iter()
            .position(|c| c.name == name)
            .with_context(|| format!("{reference} has no column {name}"))
    };
    let columns: Vec<usize> = inputs
        .iter()
        .map(|(name, _)| column(name))
        .collect::<anyhow::Result<_>>()?;
    let target = target.map(column).transpose()?;
    use drover_ml::table::ColumnData;
    let value = |c: usize, r: usize| match &table.columns[c] {
        ColumnData::Numeric(v) => v[r].map_or(Value::Null, Value::from),
        ColumnData::Categorical(v) => v[r].as_deref().map_or(Value::Null, Value::from),
    };
    // Labels are written as training named the classes: a number as Rust prints it.
    let label = |c: usize, r: usize| match &table.columns[c] {
        ColumnData::Numeric(v) => v[r].map(|x| x.to_string()),
        ColumnData::Categorical(v) => v[r].clone(),
    };
    Ok((0..table.rows.min(10_000))
        .map(|r| {
            let row = columns.iter().map(|&c| value(c, r)).collect();
            (row, target.and_then(|t| label(t, r)))
        })
        .collect())
}

/// The request for one row: for OIP one `[1, k]` tensor when every input is a number, one
/// tensor per input otherwise.
pub fn prepare(
    format: Format,
    model: &str,
    inputs: &[(String, bool)],
    row: &[Value],
    key: Option<String>,
) -> Prepared {
    let (path, body) = match format {
        Format::Oip
            if inputs.iter().all(|(_, numeric)| *numeric) && row.iter().all(Value::is_number) =>
        {
            (
                format!("/v2/models/{model}/infer"),
                json!({ "inputs": [{
                    "name": "input-0",
                    "shape": [1, inputs.len()],
                    "datatype": "FP64",
                    "data": row,
                }]}),
            )
        }
        Format::Oip => {
            let tensors: Vec<Value> = inputs
                .iter()
                .zip(row)
                .map(|((name, numeric), value)| {
                    json!({
                        "name": name,
                        "shape": [1],
                        "datatype": if *numeric { "FP64" } else { "BYTES" },
                        "data": [value],
                    })
                })
                .collect();
            (
                format!("/v2/models/{model}/infer"),
                json!({ "inputs": tensors }),
            )
        }
        Format::Mlflow => {
            let columns: Vec<&str> = inputs.iter().map(|(n, _)| n.as_str()).collect();
            (
                "/invocations".to_string(),
                json!({ "dataframe_split": { "columns": columns, "data": [row] } }),
            )
        }
    };
    Prepared {
        path,
        body: Bytes::from(body.to_string()),
        key,
        label: None,
    }
}

impl Prepared {
    /// The same request, followed by feedback with `label`.
    fn labelled(self, label: Option<String>) -> Self {
        Self { label, ..self }
    }
}

/// Runs one connection until `deadline`, taking a permit from `pace` before each request
/// when the rate is fixed.
async fn connection(
    address: String,
    model: String,
    requests: Arc<Vec<Prepared>>,
    start: usize,
    deadline: Instant,
    pace: Option<Arc<tokio::sync::Semaphore>>,
    sent: Arc<AtomicU64>,
) -> Tally {
    let mut tally = Tally::default();
    let mut next = start;
    'reconnect: while Instant::now() < deadline {
        let Ok(stream) = tokio::net::TcpStream::connect(&address).await else {
            *tally.statuses.entry(0).or_default() += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let Ok((mut sender, conn)) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
        else {
            continue;
        };
        tokio::spawn(conn);
        while Instant::now() < deadline {
            if let Some(pace) = &pace {
                match tokio::time::timeout_at(deadline.into(), pace.acquire()).await {
                    Ok(Ok(permit)) => permit.forget(),
                    _ => break 'reconnect,
                }
            }
            let prepared = &requests[next % requests.len()];
            next += 1;
            let mut request = Request::post(prepared.path.as_str())
                .header("host", address.as_str())
                .header("content-type", "application/json")
                .header("x-drover-model", model.as_str());
            if let Some(key) = &prepared.key {
                request = request.header("x-drover-key", key.as_str());
            }
            let Ok(request) = request.body(Full::new(prepared.body.clone())) else {
                continue;
            };
            let started = Instant::now();
            let response = match sender.send_request(request).await {
                Ok(response) => response,
                Err(_) => {
                    *tally.statuses.entry(0).or_default() += 1;
                    continue 'reconnect;
                }
            };
            let status = response.status().as_u16();
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            let (version, id) = (header("x-drover-version"), header("x-request-id"));
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
                *tally.versions.entry(version).or_default() += 1;
            }
            sent.fetch_add(1, Ordering::Relaxed);
            if let (200, Some(id), Some(label)) = (status, id, &prepared.label) {
                let body = json!({ "id": id, "label": label }).to_string();
                let request = Request::post(format!("/v2/models/{model}/feedback"))
                    .header("host", address.as_str())
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
    /// `host:port`.
    pub address: String,
    pub model: String,
    pub requests: Vec<Prepared>,
    pub concurrency: usize,
    pub rps: Option<u32>,
    pub duration: Duration,
    /// Print progress every second.
    pub progress: bool,
}

/// Runs the load `args` ask for and measures it.
pub async fn run(args: &LoadArgs, ctx: &Ctx) -> anyhow::Result<LoadReport> {
    let address = authority(&args.url)?;
    let Metadata { inputs, target } = metadata(&address, &args.model).await?;
    let target = match (args.feedback, target) {
        (false, _) => None,
        (true, Some(target)) => Some(target),
        (true, None) => bail!(
            "the agent does not say which column the model predicts; upgrade it to use --feedback"
        ),
    };
    let rows = rows(ctx, args.data.as_deref(), &inputs, target.as_deref()).await?;
    let requests: Vec<Prepared> = rows
        .into_iter()
        .enumerate()
        .map(|(i, (row, label))| {
            let key = args.key_header.then(|| format!("row-{i}"));
            prepare(args.format, &args.model, &inputs, &row, key).labelled(label)
        })
        .collect();
    drive(Load {
        address,
        model: args.model.clone(),
        requests,
        concurrency: args.concurrency,
        rps: args.rps,
        duration: args.duration,
        progress: std::io::IsTerminal::is_terminal(&std::io::stderr()) && !args.json,
    })
    .await
}

/// Sends `load`'s requests and measures the answers.
pub async fn drive(load: Load) -> anyhow::Result<LoadReport> {
    anyhow::ensure!(!load.requests.is_empty(), "nothing to send");
    let with_labels = load.requests.iter().any(|r| r.label.is_some());
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
                load.address.clone(),
                load.model.clone(),
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
    for worker in workers {
        let tally = worker.await?;
        total.latencies_us.extend(tally.latencies_us);
        for (status, n) in tally.statuses {
            *total.statuses.entry(status).or_default() += n;
        }
        for (version, n) in tally.versions {
            *total.versions.entry(version).or_default() += n;
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
        versions: total.versions,
        feedback: with_labels.then_some(total.feedback),
    })
}

/// Prints a report.
pub fn print(r: &LoadReport) {
    println!(
        "{} requests in {:.1}s: {:.0} per second",
        r.requests, r.seconds, r.requests_per_second
    );
    println!(
        "latency  p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        r.latency.p50_ms, r.latency.p90_ms, r.latency.p99_ms, r.latency.max_ms
    );
    let statuses: Vec<String> = r
        .statuses
        .iter()
        .map(|(s, n)| match s {
            0 => format!("connection failed {n}"),
            s => format!("{s} {n}"),
        })
        .collect();
    println!("status   {}", statuses.join(", "));
    let versions: Vec<String> = r.versions.iter().map(|(v, n)| format!("{v} {n}")).collect();
    println!("versions {}", versions.join(", "));
    if let Some(f) = &r.feedback {
        let refused: u64 = f.refused.values().sum();
        println!(
            "feedback {} judged, {} right ({:.1}% live accuracy), {refused} refused",
            f.judged,
            f.correct,
            100.0 * f.correct as f64 / f.judged.max(1) as f64
        );
    }
}
