//! `drover bench rollback`: how soon a rollback takes effect. A real coordinator and serving
//! agent in this process serve a good model at a fixed rate; a canary of a model trained on
//! shuffled labels is started and rolled back by the analysis; the time from the rollback
//! decision (as stored) to the last answer the load generator got from the candidate is
//! measured, run after run, with every request's status.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use drover_protocol::msg::{Event, OperatorRequest};
use drover_protocol::registry::Selector;
use drover_protocol::rollout::{Action, RolloutSpec};
use serde::Serialize;

use super::demo::cluster::Cluster;
use super::demo::story::{self, Scene};
use super::load::{self, Ask, Format, Load, Target};

/// A canary that gives the candidate half the traffic and decides on predictions quickly.
const SPEC: &str = r#"
steps = [50, 100]
step_duration = "1s"
step_samples = 200
step_deadline = "1m"
"#;

/// What the benchmark measured.
#[derive(Debug, Serialize)]
pub struct RollbackReport {
    pub rps_asked: u32,
    /// Requests per second the load generator achieved, per run.
    pub rps: Vec<f64>,
    /// Milliseconds from each rollback decision to the candidate's last answer.
    pub decision_to_last_answer_ms: Vec<i64>,
    /// Requests not answered 200, over every run.
    pub failed: u64,
    pub requests: u64,
}

/// Runs `runs` rollbacks under `rps` requests a second.
pub async fn run(rps: u32, runs: u32) -> anyhow::Result<RollbackReport> {
    let dir = tempfile::tempdir()?;
    let cluster = Cluster::start(
        &dir.path().join("data"),
        Duration::from_millis(500),
        Default::default(),
    )
    .await?;
    let result = measure(&cluster, rps, runs).await;
    cluster.stop().await;
    result
}

async fn measure(cluster: &Cluster, rps: u32, runs: u32) -> anyhow::Result<RollbackReport> {
    let handle = cluster.handle();
    let scene = Scene {
        handle: &handle,
        ctx: &cluster.ctx,
        http: cluster.http,
        feedback_token: &cluster.feedback_token,
        rps,
        say: Arc::new(|line| eprintln!("{line}")),
    };
    story::customers(&scene).await?;
    story::train(&scene, "gaussian_nb", "churn").await?;
    story::train(&scene, "gaussian_nb", "churn-shuffled").await?;
    story::request(
        &scene,
        OperatorRequest::Deploy {
            model: story::version(1),
            selector: drover_protocol::types::parse_labels("role=serve")
                .map_err(anyhow::Error::msg)?,
        },
    )
    .await?;
    story::served(&scene).await?;
    let target = Arc::new(Target::plain(cluster.http.to_string())?);
    let ask = Ask {
        model: "churn",
        data: Some("churn@1"),
        format: Format::Oip,
        key_header: false,
        feedback: false,
    };
    let requests = load::requests(&cluster.ctx, &target, &ask).await?;
    let spec = RolloutSpec::parse(SPEC).map_err(anyhow::Error::msg)?;
    let mut report = RollbackReport {
        rps_asked: rps,
        rps: Vec::new(),
        decision_to_last_answer_ms: Vec::new(),
        failed: 0,
        requests: 0,
    };
    for run in 1..=runs {
        let traffic = tokio::spawn(load::drive(Load {
            target: target.clone(),
            model: "churn".into(),
            requests: requests.clone(),
            concurrency: 64,
            rps: Some(rps),
            duration: Duration::from_secs(12),
            progress: false,
        }));
        tokio::time::sleep(Duration::from_secs(1)).await;
        let mut events = handle.subscribe();
        story::request(
            &scene,
            OperatorRequest::StartRollout {
                model: "churn".into(),
                candidate: Selector::Number(2),
                spec: Box::new(spec.clone()),
            },
        )
        .await?;
        let decided = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let Ok(record) = events.recv().await else {
                    continue;
                };
                if let Event::RolloutDecided { decision, .. } = record.event {
                    match decision.action {
                        Action::RolledBack => return Ok(decision.at_ms),
                        Action::Started => {}
                        other => bail!("run {run}: the shuffled candidate was {other}"),
                    }
                }
            }
        })
        .await
        .context("no rollback within 10 s")??;
        let load = traffic.await??;
        let last = load
            .last_answered_ms
            .get("churn@2")
            .copied()
            .context("the candidate never answered")?;
        report
            .decision_to_last_answer_ms
            .push(last as i64 - decided as i64);
        report.rps.push(load.requests_per_second);
        report.requests += load.requests;
        report.failed += load
            .statuses
            .iter()
            .filter(|(status, _)| **status != 200)
            .map(|(_, n)| n)
            .sum::<u64>();
        eprintln!(
            "run {run}: {:.0} requests/s, candidate's last answer {} ms after the decision",
            load.requests_per_second,
            last as i64 - decided as i64
        );
    }
    Ok(report)
}

/// Prints a report.
pub fn print(r: &RollbackReport) {
    let mut sorted = r.decision_to_last_answer_ms.clone();
    sorted.sort_unstable();
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or_default();
    println!(
        "{} rollbacks under {} requests/s asked ({:.0}-{:.0} achieved)",
        sorted.len(),
        r.rps_asked,
        r.rps.iter().copied().fold(f64::INFINITY, f64::min),
        r.rps.iter().copied().fold(0.0, f64::max)
    );
    println!(
        "decision -> candidate's last answer: min {} ms, median {median} ms, max {} ms (all: {:?})",
        sorted.first().copied().unwrap_or_default(),
        sorted.last().copied().unwrap_or_default(),
        r.decision_to_last_answer_ms
    );
    println!("{} requests, {} failed", r.requests, r.failed);
}
