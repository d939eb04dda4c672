//! `drover train SPEC.toml [--follow]` and `drover runs list|show|cancel`.

use std::io::{IsTerminal, Write};
use std::path::Path;

use anyhow::{Context, bail};
use drover_protocol::conn::FramedRecv;
use drover_protocol::msg::{Event, OperatorRequest, OperatorResponse};
use drover_protocol::run::{RunDetail, RunFilter, RunStatus, RunSummary};
use drover_protocol::types::unix_ms;

use super::compare::{MetricFilter, sort_by_metric};
use super::{age, table, with_client};
use crate::client::OperatorClient;
use crate::expect_response;

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
    let done = wait_for_end(client, events, run).await?;
    let s = &done.summary;
    if json {
        println!("{}", serde_json::to_string_pretty(&done)?);
    } else {
        let metrics: Vec<String> = s
            .metrics
            .iter()
            .map(|(k, v)| format!("{k} {v:.4}"))
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

/// Shows a run's progress from the event stream until it ends, then returns it.
pub async fn wait_for_end(
    client: &OperatorClient,
    mut events: FramedRecv,
    run: &RunSummary,
) -> anyhow::Result<RunDetail> {
    let tty = std::io::stderr().is_terminal();
    loop {
        let Some(OperatorResponse::Event(record)) = events.recv::<OperatorResponse>().await? else {
            bail!(
                "the coordinator closed the event stream before {} ended",
                run.id
            );
        };
        match record.event {
            Event::RunStarted { id, agent } if id == run.id => eprintln!("started on {agent}"),
            Event::RunRequeued { id, reason } if id == run.id => {
                eprintln!("queued again: {reason}")
            }
            Event::TrialFinished {
                id,
                trial,
                total,
                metric,
                value,
            } if id == run.id => {
                let width = 24;
                let done = (trial as usize * width) / total.max(1) as usize;
                let bar = format!("[{}{}]", "#".repeat(done), "-".repeat(width - done));
                if tty {
                    eprint!("\r{bar} trial {trial}/{total}  cv {metric} {value:.4}   ");
                    let _ = std::io::stderr().flush();
                } else {
                    eprintln!("{bar} trial {trial}/{total}  cv {metric} {value:.4}");
                }
            }
            Event::RunFinished { id, .. } if id == run.id => {
                if tty {
                    eprintln!();
                }
                return registered(client, &mut events, id).await;
            }
            _ => {}
        }
    }
}

/// Longest wait, after a run that passed its gates ended, for its model's registration.
const REGISTRATION_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// The ended run `id`; when it passed its gates, once its model is registered (a reaction the
/// coordinator runs just after the run ends), or after [`REGISTRATION_WAIT`].
async fn registered(
    client: &OperatorClient,
    events: &mut FramedRecv,
    id: String,
) -> anyhow::Result<RunDetail> {
    let deadline = tokio::time::Instant::now() + REGISTRATION_WAIT;
    loop {
        let run = *expect_response!(
            client
                .request(&OperatorRequest::ShowRun { id: id.clone() })
                .await?,
            OperatorResponse::Run
        )?;
        if run.summary.gates_passed != Some(true) || run.registered.is_some() {
            return Ok(run);
        }
        loop {
            let next = tokio::time::timeout_at(deadline, events.recv::<OperatorResponse>()).await;
            match next {
                Err(_) | Ok(Ok(None)) => return Ok(run),
                Ok(Ok(Some(OperatorResponse::Event(record)))) => match record.event {
                    Event::ModelRegistered { run_id, .. } if run_id == id => break,
                    _ => {}
                },
                Ok(Ok(Some(_))) => {}
                Ok(Err(e)) => return Err(e.into()),
            }
        }
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
                score(r),
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

/// The selection metric of a finished run: accuracy for classifiers, RMSE for regressors.
fn score(run: &RunSummary) -> String {
    match (run.metrics.get("accuracy"), run.metrics.get("rmse")) {
        (Some(v), _) => format!("accuracy {v:.4}"),
        (None, Some(v)) => format!("rmse {v:.4}"),
        (None, None) => "-".into(),
    }
}

/// Prints one run with its lineage and trials.
pub async fn show(
    data_dir: &Path,
    address: Option<&str>,
    id: &str,
    json: bool,
) -> anyhow::Result<()> {
    let request = OperatorRequest::ShowRun { id: id.into() };
    let run = with_client(data_dir, address, async |c| {
        expect_response!(c.request(&request).await?, OperatorResponse::Run)
    })
    .await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&run)?);
    } else {
        println!("{}", render(&run));
    }
    Ok(())
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
    if !run.tags.is_empty() {
        let tags: Vec<String> = run.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
        out.push_str(&format!("tags: {}\n", tags.join(", ")));
    }
    if let Some(error) = &s.error {
        out.push_str(&format!("error: {error}\n"));
    }
    if let Some(version) = &run.registered {
        out.push_str(&format!("registered as {version}\n"));
    }
    if let Some(hash) = &run.artifact_hash {
        out.push_str(&format!("model artifact blake3 {hash}\n"));
    }
    if let (Some(train), Some(test)) = (run.rows_train, run.rows_test) {
        out.push_str(&format!("rows: {train} train, {test} held out\n"));
    }
    if !s.metrics.is_empty() {
        let params: Vec<String> = run.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        out.push_str(&format!(
            "best params: {}\ntest metrics:\n",
            if params.is_empty() {
                "defaults".into()
            } else {
                params.join(", ")
            }
        ));
        s.metrics
            .iter()
            .for_each(|(k, v)| out.push_str(&format!("  {k:<10} {v:.4}\n")));
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
                        .map_or_else(|| "-".into(), |v| format!("{v:.4}"))
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
