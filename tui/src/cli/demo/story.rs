//! The demo's story, told against a real coordinator and a real serving agent: synthetic
//! customers, three versions trained (a good one, one on shuffled labels, a better one), the
//! good one deployed and under traffic with feedback, the shuffled one canaried and rolled
//! back by the analysis, the better one promoted through every step.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use drover_coordinator::CoordinatorHandle;
use drover_protocol::msg::{Event, OperatorRequest, OperatorResponse};
use drover_protocol::registry::{ModelRef, Selector, Stage};
use drover_protocol::rollout::{Phase, RolloutSpec, RolloutStatus};
use drover_protocol::spec::TrainSpec;
use drover_protocol::types::parse_labels;

use super::traffic::{Totals, Traffic};
use crate::cli::Ctx;
use crate::cli::load::Target;
use crate::cli::synth::{ChurnOptions, churn};
use crate::present::rollout as present;

/// Customers in the synthetic table.
/// Customers in each version of the demo's dataset.
pub const ROWS: usize = 4_000;
/// Longest any one wait of the story may take.
const PATIENCE: Duration = Duration::from_secs(300);

/// The demo's rollout spec: short steps, since its traffic is steady and labelled.
const SPEC: &str = r#"
steps = [10, 25, 50, 100]
step_duration = "3s"
step_samples = 300
min_feedback = 300
step_deadline = "1m"
guard = "4s"
[tolerances]
accuracy = 0.04
predictions = 0.2
"#;

/// Where the story is told.
pub struct Scene<'a> {
    pub handle: &'a CoordinatorHandle,
    pub ctx: &'a Ctx,
    /// The serving agent's prediction listener.
    pub http: SocketAddr,
    /// The serving agent's feedback token.
    pub feedback_token: &'a str,
    /// Requests a second the customers send.
    pub rps: u32,
    /// Tells one line of the story.
    pub say: Arc<dyn Fn(String) + Send + Sync>,
}

impl Scene<'_> {
    /// The serving agent's listener, taking feedback.
    pub fn target(&self) -> anyhow::Result<Target> {
        Target::plain(self.http.to_string())?.with_feedback_token(self.feedback_token)
    }
}

/// How the story ended.
pub struct Ending {
    pub traffic: Totals,
}

/// Tells the whole story; an error when any part of it did not happen as told.
pub async fn tell(scene: &Scene<'_>) -> anyhow::Result<Ending> {
    let say = |line: String| (scene.say)(line);
    customers(scene).await?;
    say(format!(
        "{ROWS} synthetic customers as dataset churn@1, and the same with their labels shuffled as churn-shuffled@1"
    ));

    for (algorithm, dataset, what) in [
        ("gaussian_nb", "churn", "a good model"),
        (
            "gaussian_nb",
            "churn-shuffled",
            "trained on shuffled labels",
        ),
        ("logistic_regression", "churn", "a better model"),
    ] {
        let (version, accuracy) = train(scene, algorithm, dataset).await?;
        say(format!(
            "trained {version} ({algorithm} on {dataset}, {what}): holdout accuracy {accuracy:.3}"
        ));
    }

    request(
        scene,
        OperatorRequest::Deploy {
            model: version(1),
            selector: parse_labels("role=serve").map_err(anyhow::Error::msg)?,
        },
    )
    .await?;
    request(
        scene,
        OperatorRequest::PromoteModel {
            model: version(1),
            stage: Stage::Production,
        },
    )
    .await?;
    served(scene).await?;
    let traffic = Traffic::start(scene.ctx, scene.target()?, "churn", "churn@1", scene.rps).await?;
    say(format!(
        "churn@1 is production and served on http://{}; customers send {} requests a second, each followed by its true label",
        scene.http, scene.rps
    ));

    let spec = RolloutSpec::parse(SPEC).map_err(anyhow::Error::msg)?;
    let shuffled = roll_out(scene, 2, &spec).await?;
    if !matches!(shuffled.rollout.phase, Phase::RolledBack { .. }) {
        bail!(
            "the shuffled candidate was not rolled back: {}",
            shuffled.rollout.phase
        );
    }
    let better = roll_out(scene, 3, &spec).await?;
    if better.rollout.phase != Phase::Succeeded {
        bail!(
            "the better candidate was not promoted: {}",
            better.rollout.phase
        );
    }
    let traffic = traffic.stop().await?;
    Ok(Ending { traffic })
}

/// Adds the synthetic customers as dataset `churn`, and the same with their labels shuffled
/// as `churn-shuffled`.
pub async fn customers(scene: &Scene<'_>) -> anyhow::Result<()> {
    let dir = scene.ctx.data_dir.join("demo");
    std::fs::create_dir_all(&dir)?;
    let mut csv = Vec::new();
    churn(
        ChurnOptions {
            rows: ROWS,
            seed: 7,
            drift: 0.0,
        },
        &mut csv,
    )?;
    add(scene, "churn", &dir.join("churn.csv"), &csv).await?;
    add(
        scene,
        "churn-shuffled",
        &dir.join("shuffled.csv"),
        &shuffled(&csv)?,
    )
    .await?;
    Ok(())
}

/// `churn@n`.
pub fn version(n: u32) -> ModelRef {
    ModelRef {
        name: "churn".into(),
        selector: Selector::Number(n),
    }
}

pub async fn request(
    scene: &Scene<'_>,
    request: OperatorRequest,
) -> anyhow::Result<OperatorResponse> {
    match scene.handle.request(request).await {
        OperatorResponse::Error(e) => bail!("{e}"),
        answer => Ok(answer),
    }
}

pub async fn add(
    scene: &Scene<'_>,
    name: &str,
    path: &std::path::Path,
    csv: &[u8],
) -> anyhow::Result<()> {
    std::fs::write(path, csv)?;
    match scene.handle.add_dataset(name, path).await {
        OperatorResponse::DatasetAdded(_) => Ok(()),
        OperatorResponse::Error(e) => bail!("adding dataset {name}: {e}"),
        other => bail!("unexpected answer adding {name}: {other:?}"),
    }
}

/// The table with its `churned` labels shuffled (a fixed permutation), so a model trained
/// on it learns nothing.
pub fn shuffled(csv: &[u8]) -> anyhow::Result<Vec<u8>> {
    let text = std::str::from_utf8(csv)?;
    let mut lines = text.lines();
    let header = lines.next().context("an empty table")?;
    let target = header
        .split(',')
        .position(|c| c == "churned")
        .context("no churned column")?;
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let mut out = format!("{header}\n");
    for (i, row) in rows.iter().enumerate() {
        let mut row = row.clone();
        row[target] = rows[(i * 7919 + 13) % rows.len()][target];
        out.push_str(&row.join(","));
        out.push('\n');
    }
    Ok(out.into_bytes())
}

/// Trains `algorithm` on `dataset` as model `churn`; the version registered and its holdout
/// accuracy.
pub async fn train(
    scene: &Scene<'_>,
    algorithm: &str,
    dataset: &str,
) -> anyhow::Result<(String, f64)> {
    let spec = TrainSpec::from_toml(&format!(
        "experiment = \"demo\"\nmodel = \"churn\"\ndataset = \"{dataset}@latest\"\ntarget = \"churned\"\ntask = \"classification\"\nalgorithm = \"{algorithm}\"\nseed = 7\n"
    ))
    .map_err(anyhow::Error::msg)?;
    let OperatorResponse::RunQueued(run) =
        request(scene, OperatorRequest::SubmitRun(Box::new(spec))).await?
    else {
        bail!("the run was not queued");
    };
    let started = Instant::now();
    loop {
        if let OperatorResponse::Run(detail) =
            request(scene, OperatorRequest::ShowRun { id: run.id.clone() }).await?
        {
            if let Some(version) = detail.registered {
                let accuracy = detail
                    .summary
                    .metrics
                    .get("accuracy")
                    .copied()
                    .unwrap_or(f64::NAN);
                return Ok((version, accuracy));
            }
            if detail.summary.status.is_final() && detail.summary.gates_passed != Some(true) {
                bail!(
                    "run {} ended {} without registering: {:?}",
                    run.id,
                    detail.summary.status,
                    detail.summary.error
                );
            }
        }
        if started.elapsed() > PATIENCE {
            bail!("run {} did not finish in {}s", run.id, PATIENCE.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until the agent answers for churn.
pub async fn served(scene: &Scene<'_>) -> anyhow::Result<()> {
    let started = Instant::now();
    let agent = crate::cli::load::Target::plain(scene.http.to_string())?;
    while agent.get_json("/v2/models/churn").await.is_err() {
        if started.elapsed() > PATIENCE {
            bail!("the agent did not load churn@1");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// Rolls `churn@candidate` out as a canary and follows it, telling each decision with its
/// numbers, until it is over.
async fn roll_out(
    scene: &Scene<'_>,
    candidate: u32,
    spec: &RolloutSpec,
) -> anyhow::Result<RolloutStatus> {
    let mut events = scene.handle.subscribe();
    let OperatorResponse::Rollout(started) = request(
        scene,
        OperatorRequest::StartRollout {
            model: "churn".into(),
            candidate: Selector::Number(candidate),
            spec: Box::new(spec.clone()),
        },
    )
    .await?
    else {
        bail!("the rollout did not start");
    };
    let id = started.rollout.id;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .context("the rollout did not end in time")?;
        let Ok(record) = event else { continue };
        let Event::RolloutDecided {
            rollout, decision, ..
        } = &record.event
        else {
            continue;
        };
        if *rollout != id {
            continue;
        }
        (scene.say)(format!(
            "rollout {id} of churn@{candidate}: {}: {}",
            decision.action, decision.reason
        ));
        for check in &decision.checks {
            (scene.say)(format!("    {}", present::check(check)));
        }
        let OperatorResponse::Rollouts(now) = request(
            scene,
            OperatorRequest::RolloutStatus {
                model: Some("churn".into()),
            },
        )
        .await?
        else {
            bail!("no rollout status");
        };
        let status = now.into_iter().next().context("the rollout vanished")?;
        match &status.rollout.phase {
            Phase::Succeeded | Phase::RolledBack { .. } => return Ok(status),
            Phase::Paused { reason } => bail!("the rollout paused: {reason}"),
            _ => {}
        }
    }
}

/// The registry's stage of `churn@n`.
pub async fn stage_of(handle: &CoordinatorHandle, n: u32) -> Option<Stage> {
    match handle.request(OperatorRequest::ShowModel(version(n))).await {
        OperatorResponse::Model(v) => Some(v.stage),
        _ => None,
    }
}
