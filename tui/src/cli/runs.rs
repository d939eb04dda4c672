//! `drover train SPEC.toml [--follow]` and `drover runs list|show|cancel`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use drover_ml::metric;
use drover_protocol::conn::FramedRecv;
use drover_protocol::msg::{OperatorRequest, OperatorResponse};
use drover_protocol::run::{
    RunDetail, RunFilter, RunLineage, RunStatus, RunSummary, SAME_MODEL_TAG,
};
use drover_protocol::types::unix_ms;

use super::{age, table, with_client};
use crate::client::OperatorClient;
use crate::expect_response;
use crate::present::metrics::{self, MetricFilter, sort_by_metric};

/// Queues the run in `spec_path`; with `follow`, shows its progress until it ends.
pub async fn train(
    data_dir: &Path,
    address: Option<&str>,
    spec_path: &Path,
    follow: bool,
    json: bool,
) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(spec_path)
        .with_context(|| format!("reading {}", spec_path.display()))?;
    let spec = drover_ml::gates::parse_spec(&text)
        .map_err(|e| anyhow::anyhow!("{}: {e}", spec_path.display()))?;
    with_client(data_dir, address, async |c| {
        let events = if follow {
            Some(c.subscribe().await?)
        } else {
            None
        };
        let run = expect_response!(
            c.request(&OperatorRequest::SubmitRun(Box::new(spec)))
                .await?,
            OperatorResponse::RunQueued
        )?;
        if json && !follow {
            println!("{}", serde_json::to_string_pretty(&run)?);
        } else {
            eprintln!(
                "queued {} ({} on {}, {} trial(s))",
                run.id, run.algorithm, run.dataset, run.trials_total
            );
            if !follow {
                println!("{}", run.id);
            }
        }
        match events {
            Some(events) => follow_run(c, events, &run, json).await,
            None => Ok(()),
        }
    })
    .await
}

async fn follow_run(
    client: &OperatorClient,
    events: FramedRecv,
    run: &RunSummary,
    json: bool,
) -> anyhow::Result<()> {
    let done = super::follow::wait_for_end(client, events, run).await?;
    let s = &done.summary;
    if json {
        println!("{}", serde_json::to_string_pretty(&done)?);
    } else {
        let metrics: Vec<String> = s
            .metrics
            .iter()
            .map(|(k, v)| format!("{k} {}", metric::display(k, *v)))
            .collect();
        println!(
            "{} {}: {}",
            s.id,
            s.status,
            if metrics.is_empty() {
                s.error.clone().unwrap_or_default()
            } else {
                metrics.join(", ")
            }
        );
    }
    match (s.status, s.gates_passed) {
        (RunStatus::Succeeded, Some(true)) => Ok(()),
        (RunStatus::Succeeded, _) => bail!(
            "run {} succeeded but failed its gates: {}",
            s.id,
            done.gate_failures.join("; ")
        ),
        (status, _) => bail!(
            "run {} {status}: {}",
            s.id,
            s.error.as_deref().unwrap_or("no reason recorded")
        ),
    }
}

/// Prints runs, newest first.
pub async fn list(
    data_dir: &Path,
    address: Option<&str>,
    filter: RunFilter,
    condition: Option<&MetricFilter>,
    sort: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    let mut runs = with_client(data_dir, address, async |c| {
        expect_response!(
            c.request(&OperatorRequest::ListRuns(filter)).await?,
            OperatorResponse::Runs
        )
    })
    .await?;
    let named = condition.map(|c| c.metric.as_str()).into_iter().chain(sort);
    for metric in named {
        metrics::check_known(metric, &runs).map_err(super::UsageError)?;
    }
    if let Some(condition) = condition {
        runs.retain(|r| condition.matches(r));
    }
    if let Some(metric) = sort {
        sort_by_metric(&mut runs, metric);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&runs)?);
        return Ok(());
    }
    let now = unix_ms();
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            vec![
                r.id.clone(),
                r.experiment.clone(),
                r.algorithm.clone(),
                r.dataset.clone(),
                r.status.to_string(),
                format!("{}/{}", r.trials_done, r.trials_total),
                metrics::score(&r.metrics),
                match r.gates_passed {
                    Some(true) => "passed".into(),
                    Some(false) => "failed".into(),
                    None => "-".into(),
                },
                r.agent.clone().unwrap_or_else(|| "-".into()),
                age(Some(r.created_ms), now),
            ]
        })
        .collect();
    println!(
        "{}",
        table(
            &[
                "RUN",
                "EXPERIMENT",
                "ALGORITHM",
                "DATASET",
                "STATUS",
                "TRIALS",
                "SCORE",
                "GATES",
                "AGENT",
                "CREATED"
            ],
            &rows
        )
    );
    Ok(())
}

/// Prints one run with its lineage and trials.
pub async fn show(
    data_dir: &Path,
    address: Option<&str>,
    id: &str,
    json: bool,
) -> anyhow::Result<()> {
    let request = OperatorRequest::ShowRun { id: id.into() };
    let (run, waiting, lineage) = with_client(data_dir, address, async |c| {
        let run = expect_response!(c.request(&request).await?, OperatorResponse::Run)?;
        let waiting = match run.summary.status {
            RunStatus::Queued => Some(super::follow::why_waiting(c).await?),
            _ => None,
        };
        // What an MLflow script logged as inputs and models; a coordinator older than the
        // request answers an error, and the run shows without it.
        let lineage = match run.spec {
            None => match c
                .request(&OperatorRequest::RunLineage {
                    id: run.summary.id.clone(),
                })
                .await?
            {
                OperatorResponse::RunLineage(l) => Some(*l),
                _ => None,
            },
            Some(_) => None,
        };
        Ok((run, waiting, lineage))
    })
    .await?;
    if json {
        let mut value = serde_json::to_value(&run)?;
        if let Some(lineage) = &lineage {
            value["lineage"] = serde_json::to_value(lineage)?;
        }
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print!("{}", render(&run));
        if let Some(lineage) = &lineage {
            print!("{}", render_lineage(lineage));
        }
        println!();
        if let Some(reason) = waiting {
            println!("{}", crate::present::printable(&reason));
        }
    }
    Ok(())
}

/// The datasets an MLflow run logged as inputs and the models it logged.
pub fn render_lineage(l: &RunLineage) -> String {
    let mut out = String::new();
    for i in &l.inputs {
        let context = if i.context.is_empty() {
            String::new()
        } else {
            format!(" ({})", i.context)
        };
        let known = match &i.dataset {
            Some(d) => format!("  = drover dataset {d}"),
            None => String::new(),
        };
        out.push_str(&format!(
            "input{context}: {} digest {}{known}\n",
            i.name, i.digest
        ));
    }
    for m in &l.outputs {
        let registered = if m.registered.is_empty() {
            String::new()
        } else {
            format!("  registered as {}", m.registered.join(", "))
        };
        let hash = &m.artifact_hash[..m.artifact_hash.len().min(12)];
        out.push_str(&format!(
            "logged model {} {} {}  blake3 {hash}{registered}\n",
            m.model_id, m.name, m.status
        ));
    }
    out
}

/// The text `runs show` prints.
pub fn render(run: &RunDetail) -> String {
    let s = &run.summary;
    let mut out = if run.spec.is_none() {
        format!(
            "{}  {}  experiment {}\nlogged through the MLflow API  drover {}\n",
            s.id, s.status, s.experiment, run.drover_version
        )
    } else {
        lineage(run)
    };
    render_rest(run, &mut out);
    out
}

/// The header of a run drover trained: what it trained from.
fn lineage(run: &RunDetail) -> String {
    let s = &run.summary;
    format!(
        "{}  {}  experiment {}  model {}\nalgorithm {}  dataset {} (blake3 {})  seed {}\nspec blake3 {}  drover {}  agent {}\n",
        s.id,
        s.status,
        s.experiment,
        s.model,
        s.algorithm,
        s.dataset,
        &run.dataset_hash[..run.dataset_hash.len().min(12)],
        run.seed,
        &run.spec_hash[..run.spec_hash.len().min(12)],
        run.drover_version,
        s.agent.as_deref().unwrap_or("-"),
    )
}

/// Tags, outcome, model and metrics: the same for every run.
fn render_rest(run: &RunDetail, out: &mut String) {
    let s = &run.summary;
    let tags: Vec<String> = run
        .tags
        .iter()
        .filter(|(k, _)| k.as_str() != SAME_MODEL_TAG)
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if !tags.is_empty() {
        out.push_str(&format!("tags: {}\n", tags.join(", ")));
    }
    if let Some(error) = &s.error {
        out.push_str(&format!("error: {error}\n"));
    }
    match (&run.registered, run.tags.get(SAME_MODEL_TAG)) {
        (_, Some(same)) => out.push_str(&format!(
            "same model as {same}, byte for byte: no new version registered\n"
        )),
        (Some(version), None) => out.push_str(&format!("registered as {version}\n")),
        (None, None) => {}
    }
    if let Some(hash) = &run.artifact_hash {
        out.push_str(&format!("model artifact blake3 {hash}\n"));
    }
    if let (Some(train), Some(test)) = (run.rows_train, run.rows_test) {
        out.push_str(&format!("rows: {train} train, {test} held out\n"));
    }
    if !s.metrics.is_empty() {
        let params: Vec<String> = run.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let (label, metrics) = if run.spec.is_none() {
            ("params", "logged metrics (latest values)")
        } else {
            ("best params", "test metrics")
        };
        out.push_str(&format!(
            "{label}: {}\n{metrics}:\n",
            if params.is_empty() {
                "defaults".into()
            } else {
                params.join(", ")
            }
        ));
        s.metrics
            .iter()
            .for_each(|(k, v)| out.push_str(&format!("  {k:<10} {}\n", metric::display(k, *v))));
        match s.gates_passed {
            Some(true) => out.push_str("gates: passed\n"),
            _ => run
                .gate_failures
                .iter()
                .for_each(|f| out.push_str(&format!("gate failed: {f}\n"))),
        }
    }
    if !run.trials.is_empty() {
        let names: Vec<String> = run.trials[0].mean.keys().cloned().collect();
        let mut headers = vec!["TRIAL".to_string(), "PARAMS".to_string()];
        headers.extend(names.iter().map(|n| format!("CV {}", n.to_uppercase())));
        let rows: Vec<Vec<String>> = run
            .trials
            .iter()
            .map(|t| {
                let mut row = vec![
                    t.trial.to_string(),
                    t.params
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(" "),
                ];
                row.extend(names.iter().map(|n| {
                    t.mean
                        .get(n)
                        .map_or_else(|| "-".into(), |v| metric::display(n, *v))
                }));
                row
            })
            .collect();
        let header_refs: Vec<&str> = headers.iter().map(String::as_str).collect();
        out.push('\n');
        out.push_str(&table(&header_refs, &rows));
    }
}

/// Cancels a queued or running run.
pub async fn cancel(data_dir: &Path, address: Option<&str>, id: &str) -> anyhow::Result<()> {
    let request = OperatorRequest::CancelRun { id: id.into() };
    let id = with_client(data_dir, address, async |c| {
        expect_response!(c.request(&request).await?, OperatorResponse::RunCancelled)
    })
    .await?;
    println!("cancelled {id}");
    Ok(())
}

/// `drover train SPEC.toml`: queue a training run from a spec file.
#[derive(Args)]
pub struct TrainArgs {
    spec: PathBuf,
    /// Show progress until the run ends; exit 0 only if it succeeded and passed its gates.
    #[arg(long)]
    follow: bool,
    #[arg(long)]
    json: bool,
}

impl TrainArgs {
    pub async fn run(self, ctx: &super::Ctx) -> anyhow::Result<()> {
        train(
            &ctx.data_dir,
            ctx.address(),
            &self.spec,
            self.follow,
            self.json,
        )
        .await
    }
}

#[derive(Subcommand)]
pub enum RunsCmd {
    /// Runs, newest first.
    List {
        #[arg(long)]
        experiment: Option<String>,
        /// queued, running, succeeded, failed or cancelled.
        #[arg(long)]
        status: Option<String>,
        /// Keep runs whose test metric satisfies METRIC OP VALUE, e.g. accuracy>0.8.
        #[arg(long = "where")]
        condition: Option<MetricFilter>,
        /// Order by a test metric, best first.
        #[arg(long)]
        sort: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Runs side by side: settings that differ, metrics with the best marked.
    Compare {
        #[arg(num_args = 2.., required = true)]
        ids: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Retrain a run from its recorded lineage and check the model is identical.
    Reproduce { id: String },
    /// One run: lineage, metrics, gates and trials.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Cancel a queued or running run.
    Cancel { id: String },
}

impl RunsCmd {
    pub async fn run(self, ctx: &super::Ctx) -> anyhow::Result<()> {
        let (data_dir, address) = (&ctx.data_dir, ctx.address());
        match self {
            RunsCmd::List {
                experiment,
                status,
                condition,
                sort,
                json,
            } => {
                let status = match status {
                    Some(s) => Some(RunStatus::parse(&s).ok_or_else(|| {
                        anyhow::anyhow!(
                            "--status {s:?}: use queued, running, succeeded, failed or cancelled"
                        )
                    })?),
                    None => None,
                };
                let filter = RunFilter { experiment, status };
                list(
                    data_dir,
                    address,
                    filter,
                    condition.as_ref(),
                    sort.as_deref(),
                    json,
                )
                .await
            }
            RunsCmd::Show { id, json } => show(data_dir, address, &id, json).await,
            RunsCmd::Cancel { id } => cancel(data_dir, address, &id).await,
            RunsCmd::Compare { ids, json } => {
                super::compare::compare(data_dir, address, &ids, json).await
            }
            RunsCmd::Reproduce { id } => super::compare::reproduce(data_dir, address, &id).await,
        }
    }
}
