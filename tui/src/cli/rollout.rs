//! `drover rollout`: start a rollout of a candidate version, follow it, and pause, resume,
//! promote or abort it.

use std::path::PathBuf;

use clap::Subcommand;
use drover_protocol::msg::{OperatorRequest, OperatorResponse};
use drover_protocol::registry::ModelRef;
use drover_protocol::rollout::{Command, RolloutSpec, RolloutStatus, Strategy};
use drover_protocol::types::unix_ms;

use super::{Ctx, UsageError, with_client};
use crate::expect_response;
use crate::present::rollout as present;

/// `drover rollout ...`.
#[derive(Subcommand)]
pub enum RolloutCmd {
    /// Move MODEL's traffic from its deployed version to a candidate, analysed at each step.
    Start {
        model: String,
        /// The candidate version (a number or an alias).
        #[arg(long)]
        candidate: String,
        /// canary, ab, shadow or bluegreen (overrides the spec's).
        #[arg(long)]
        strategy: Option<String>,
        /// A rollout spec (see config/rollout.example.toml); defaults otherwise.
        #[arg(long)]
        spec: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// A rollout's stage, weights and decisions: MODEL's newest, or every running one.
    Status {
        model: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// The newest rollouts.
    List {
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// Hold MODEL's rollout at its current weights.
    Pause { model: String },
    /// Carry on with MODEL's paused rollout.
    Resume { model: String },
    /// Give MODEL's candidate all traffic now (a guard window still watches it).
    Promote { model: String },
    /// Put all of MODEL's traffic back on its baseline.
    Abort { model: String },
}

impl RolloutCmd {
    pub async fn run(self, ctx: &Ctx) -> anyhow::Result<()> {
        match self {
            RolloutCmd::Start {
                model,
                candidate,
                strategy,
                spec,
                json,
            } => {
                let spec = spec_from(spec, strategy)?;
                let candidate = format!("{model}@{candidate}")
                    .parse::<ModelRef>()
                    .map_err(UsageError)?
                    .selector;
                let request = OperatorRequest::StartRollout {
                    model,
                    candidate,
                    spec: Box::new(spec),
                };
                let status = one(ctx, &request).await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&status)?);
                } else {
                    let r = &status.rollout;
                    println!(
                        "rollout {} started: {} of {}@{} against @{} ({}); `drover rollout status {}` follows it",
                        r.id,
                        r.spec.strategy,
                        r.model,
                        r.candidate,
                        r.baseline,
                        present::weights(&status),
                        r.model
                    );
                }
                Ok(())
            }
            RolloutCmd::Status { model, json } => {
                let request = OperatorRequest::RolloutStatus {
                    model: model.clone(),
                };
                let list = many(ctx, &request).await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&list)?);
                } else if list.is_empty() {
                    println!("no rollout is running (drover rollout list shows past ones)");
                } else {
                    let pages: Vec<String> =
                        list.iter().map(|s| present::page(s, unix_ms())).collect();
                    print!("{}", pages.join("\n"));
                }
                Ok(())
            }
            RolloutCmd::List { limit, json } => {
                let list = many(ctx, &OperatorRequest::ListRollouts { limit }).await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&list)?);
                } else if list.is_empty() {
                    println!("no rollout yet (drover rollout start MODEL --candidate N)");
                } else {
                    println!("{}", present::list(&list, unix_ms()));
                }
                Ok(())
            }
            RolloutCmd::Pause { model } => command(ctx, model, Command::Pause).await,
            RolloutCmd::Resume { model } => command(ctx, model, Command::Resume).await,
            RolloutCmd::Promote { model } => command(ctx, model, Command::Promote).await,
            RolloutCmd::Abort { model } => command(ctx, model, Command::Abort).await,
        }
    }
}

/// The spec from `path` (or the defaults), with `strategy` overriding its own.
fn spec_from(path: Option<PathBuf>, strategy: Option<String>) -> anyhow::Result<RolloutSpec> {
    let mut spec = match &path {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| UsageError(format!("reading {}: {e}", path.display())))?;
            RolloutSpec::parse(&text).map_err(|e| UsageError(format!("{}: {e}", path.display())))?
        }
        None => RolloutSpec::default(),
    };
    if let Some(name) = strategy {
        spec.strategy = Strategy::parse(&name).ok_or_else(|| {
            UsageError(format!(
                "--strategy {name}: one of canary, ab, shadow, bluegreen"
            ))
        })?;
    }
    Ok(spec)
}

async fn one(ctx: &Ctx, request: &OperatorRequest) -> anyhow::Result<RolloutStatus> {
    let status = with_client(&ctx.data_dir, ctx.address(), async |c| {
        expect_response!(c.request(request).await?, OperatorResponse::Rollout)
    })
    .await?;
    Ok(*status)
}

async fn many(ctx: &Ctx, request: &OperatorRequest) -> anyhow::Result<Vec<RolloutStatus>> {
    with_client(&ctx.data_dir, ctx.address(), async |c| {
        expect_response!(c.request(request).await?, OperatorResponse::Rollouts)
    })
    .await
}

async fn command(ctx: &Ctx, model: String, command: Command) -> anyhow::Result<()> {
    let status = one(ctx, &OperatorRequest::RolloutCommand { model, command }).await?;
    let r = &status.rollout;
    println!(
        "rollout {} of {}: {} ({})",
        r.id,
        r.model,
        present::stage(&status),
        present::weights(&status)
    );
    Ok(())
}
