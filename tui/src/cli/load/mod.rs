//! `drover load`: a load generator for the prediction API. Rows of a dataset (or one
//! synthetic row built from the model's metadata) are sent as Open Inference Protocol or
//! MLflow requests over keep-alive HTTP/1.1 connections, at a fixed rate or as fast as a
//! number of connections allows; it reports throughput, latency percentiles, errors by status
//! and the versions that answered.

mod drive;
mod request;
mod target;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use serde_json::{Value, json};

pub use drive::{Feedback, Latency, Load, LoadReport, drive};
pub use request::{Format, Prepared, prepare};
pub use target::Target;

use super::Ctx;

/// `drover load`.
#[derive(Args)]
pub struct LoadArgs {
    /// The serving agent, e.g. http://127.0.0.1:7500 (or https://, with --ca).
    url: String,
    /// For https://: the PEM certificate of the CA that signed the agent's.
    #[arg(long)]
    ca: Option<PathBuf>,
    /// The agent's bearer token (its state dir's http.token), when it requires one.
    #[arg(long, env = "DROVER_AGENT_TOKEN", hide_env_values = true)]
    token: Option<String>,
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
    /// counts live accuracy; the report gives the share the model got right. Needs the
    /// agent's feedback token (--feedback-token).
    #[arg(long, requires = "data")]
    feedback: bool,
    /// The agent's feedback token (its state dir's feedback.token), which feedback requires.
    #[arg(long, env = "DROVER_FEEDBACK_TOKEN", hide_env_values = true)]
    feedback_token: Option<String>,
    #[arg(long)]
    json: bool,
}

impl LoadArgs {
    pub async fn run(self, ctx: &Ctx) -> anyhow::Result<()> {
        let report = run(&self, ctx).await?;
        super::emit(&report, self.json, print)
    }
}

/// What the model's metadata says: its inputs (name, and whether numeric), and the column it
/// predicts.
struct Metadata {
    inputs: Vec<(String, bool)>,
    target: Option<String>,
}

async fn metadata(target: &Target, model: &str) -> anyhow::Result<Metadata> {
    let metadata = target.get_json(&format!("/v2/models/{model}")).await?;
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

/// Runs the load `args` ask for and measures it.
pub async fn run(args: &LoadArgs, ctx: &Ctx) -> anyhow::Result<LoadReport> {
    let mut agent = Target::from_url(&args.url, args.ca.as_deref(), args.token.as_deref())?;
    match (&args.feedback_token, args.feedback) {
        (Some(token), _) => agent = agent.with_feedback_token(token)?,
        (None, true) => bail!(
            "--feedback needs the agent's feedback token: --feedback-token TOKEN or DROVER_FEEDBACK_TOKEN (the agent's state dir's feedback.token)"
        ),
        (None, false) => {}
    }
    let requests = requests(
        ctx,
        &agent,
        &Ask {
            model: &args.model,
            data: args.data.as_deref(),
            format: args.format,
            key_header: args.key_header,
            feedback: args.feedback,
        },
    )
    .await?;
    drive(Load {
        target: Arc::new(agent),
        model: args.model.clone(),
        requests,
        concurrency: args.concurrency,
        rps: args.rps,
        duration: args.duration,
        progress: std::io::IsTerminal::is_terminal(&std::io::stderr()) && !args.json,
    })
    .await
}

/// What to send: to which model, which rows, in which format, with keys and feedback.
pub struct Ask<'a> {
    pub model: &'a str,
    /// A dataset version `NAME@N` of the coordinator on `ctx`, or one synthetic row.
    pub data: Option<&'a str>,
    pub format: Format,
    pub key_header: bool,
    /// Attach each row's true label (needs `data`).
    pub feedback: bool,
}

/// The requests `ask` describes, for the model as `agent` describes it.
pub async fn requests(ctx: &Ctx, agent: &Target, ask: &Ask<'_>) -> anyhow::Result<Vec<Prepared>> {
    let Metadata { inputs, target } = metadata(agent, ask.model).await?;
    let target = match (ask.feedback, target) {
        (false, _) => None,
        (true, Some(target)) => Some(target),
        (true, None) => bail!(
            "the agent does not say which column the model predicts; upgrade it to use --feedback"
        ),
    };
    let rows = rows(ctx, ask.data, &inputs, target.as_deref()).await?;
    Ok(rows
        .into_iter()
        .enumerate()
        .map(|(i, (row, label))| {
            let key = ask.key_header.then(|| format!("row-{i}"));
            prepare(ask.format, ask.model, &inputs, &row, key).labelled(label)
        })
        .collect())
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
