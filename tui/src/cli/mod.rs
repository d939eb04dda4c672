//! Scripted verbs, one per file. Each file owns its clap arguments and a `run`; most talk to
//! a running coordinator through the operator API, print a table (or `--json`), and fail
//! with one line on stderr. [`Command`] is the verb list `main.rs` dispatches.

pub mod agents;
pub mod bench;
pub mod bench_analysis;
pub mod bench_console;
pub mod bench_data;
pub mod bench_drift;
pub mod bench_heavy;
pub mod bench_ingest;
pub mod bench_mlflow;
pub mod bench_monitor;
mod bench_proc;
pub mod bench_rollback;
pub mod bench_serve;
pub mod bench_soak;
pub mod bench_train;
pub mod care;
pub mod compare;
pub mod data;
pub mod demo;
pub mod deployments;
pub mod drift;
pub mod events;
pub mod follow;
pub mod load;
pub mod models;
pub mod rollout;
pub mod runs;
pub mod sample;
pub mod schedules;
pub mod status;
pub mod synth;
pub mod token;

use std::path::{Path, PathBuf};

use clap::Subcommand;

use crate::client::OperatorClient;
pub use crate::present::{age, table};

/// What every verb needs: the coordinator's data dir and, for a remote one, its address.
pub struct Ctx {
    pub data_dir: PathBuf,
    pub address: Option<String>,
}

impl Ctx {
    /// The address of a remote coordinator, when one was given.
    pub fn address(&self) -> Option<&str> {
        self.address.as_deref()
    }
}

/// The scripted verbs (`drover` alone opens the console; `drover coordinator` runs headless;
/// both are started by `main.rs`).
#[derive(Subcommand)]
pub enum Command {
    /// Run the coordinator without a terminal (for systemd and scripts).
    Coordinator,
    /// The whole lifecycle in about a minute, in a temporary data dir: data, training, a
    /// deployment under traffic, a bad candidate rolled back and a better one promoted.
    Demo(demo::DemoArgs),
    /// Join tokens for new agents.
    Token {
        #[command(subcommand)]
        action: token::TokenCmd,
    },
    /// List or remove agents.
    Agents(agents::AgentsArgs),
    /// Versioned datasets: add, list, show; sample and synthetic data to try it on.
    Data {
        #[command(subcommand)]
        action: data::DataCmd,
    },
    /// Queue a training run from a spec file (see config/train.example.toml).
    Train(runs::TrainArgs),
    /// Training runs: list, show, cancel.
    Runs {
        #[command(subcommand)]
        action: runs::RunsCmd,
    },
    /// The model registry: versions, stages, aliases, lineage.
    Models {
        #[command(subcommand)]
        action: models::ModelsCmd,
    },
    /// Which model versions are served on which agents, and how each serves them.
    Deployments(deployments::DeploymentsArgs),
    /// Send prediction requests to a serving agent and measure the answers.
    Load(load::LoadArgs),
    /// Rollouts: move a model's traffic to a candidate version, analysed step by step.
    Rollout {
        #[command(subcommand)]
        action: rollout::RolloutCmd,
    },
    /// Drift: a served model's inputs and predictions against its training data, or one
    /// CSV file against another.
    Drift {
        #[command(subcommand)]
        action: drift::DriftCmd,
    },
    /// Alerts: drift, accuracy, latency, errors and lost agents, firing or resolved.
    Alerts(drift::AlertsArgs),
    /// Repeating training specs (cron schedules and new-data triggers).
    Schedules {
        #[command(subcommand)]
        action: schedules::SchedulesCmd,
    },
    /// Show fleet events.
    Events(events::EventsArgs),
    /// Show the running coordinator's addresses and fleet size.
    Status(status::StatusArgs),
    /// Benchmarks (release builds give meaningful figures).
    Bench {
        #[command(subcommand)]
        which: bench::BenchCmd,
    },
    /// Print the commented example config.
    ConfigExample,
    /// Write a consistent snapshot of the store and the PKI to FILE (online; artifacts are
    /// listed by hash, not copied).
    Backup(care::BackupArgs),
    /// Restore a backup into the data dir (the coordinator must be stopped).
    Restore(care::RestoreArgs),
    /// Check the data dir, certificates, disk and agent clocks; print what to fix.
    Doctor(care::DoctorArgs),
    #[command(flatten)]
    Docs(drover_agent::cli_docs::DocsCommand),
}

impl Command {
    /// Runs a scripted verb. Verbs that follow a stream until interrupted call `on_signal`
    /// (which installs the signal handlers) to learn when. `Coordinator` and `Docs` are run by
    /// `main.rs`, which holds what they need.
    pub async fn run(
        self,
        ctx: &Ctx,
        on_signal: impl FnOnce() -> tokio_util::sync::CancellationToken,
    ) -> anyhow::Result<()> {
        match self {
            Command::Coordinator | Command::Docs(_) | Command::Demo(_) => {
                anyhow::bail!("this command is started by main")
            }
            Command::Token { action } => action.run(ctx).await,
            Command::Agents(args) => args.run(ctx).await,
            Command::Data { action } => action.run(ctx).await,
            Command::Train(args) => args.run(ctx).await,
            Command::Runs { action } => action.run(ctx).await,
            Command::Models { action } => action.run(ctx).await,
            Command::Deployments(args) => args.run(ctx).await,
            Command::Load(args) => args.run(ctx).await,
            Command::Rollout { action } => action.run(ctx).await,
            Command::Drift { action } => action.run(ctx).await,
            Command::Alerts(args) => args.run(ctx).await,
            Command::Schedules { action } => action.run(ctx).await,
            Command::Events(args) => args.run(ctx, on_signal()).await,
            Command::Status(args) => args.run(ctx).await,
            Command::Bench { which } => which.run().await,
            Command::ConfigExample => {
                print!("{}", crate::config::EXAMPLE);
                Ok(())
            }
            Command::Backup(args) => args.run(ctx),
            Command::Restore(args) => args.run(ctx),
            Command::Doctor(args) => args.run(ctx).await,
        }
    }
}

/// A port free on loopback now.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A mistake in how a verb was called, found after parsing: `drover` exits 2 for it, as for
/// any other usage error.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Prints a report as JSON or as text.
pub fn emit<T: serde::Serialize>(report: &T, json: bool, print: fn(&T)) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        print(report);
    }
    Ok(())
}

/// Connects to the coordinator for `data_dir`, runs `verb`, and closes the session.
pub async fn with_client<T>(
    data_dir: &Path,
    address: Option<&str>,
    verb: impl AsyncFnOnce(&OperatorClient) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let client = OperatorClient::for_data_dir(data_dir, address).await?;
    let result = verb(&client).await;
    client.close().await;
    result
}

/// Runs a helper script's `command` and reads the JSON it prints; a failure is the last line
/// of its stderr.
pub fn script_json<T: serde::de::DeserializeOwned>(
    command: &mut std::process::Command,
) -> anyhow::Result<T> {
    let program = command.get_program().to_string_lossy().into_owned();
    let output = command
        .output()
        .map_err(|e| anyhow::anyhow!("running {program}: {e}"))?;
    anyhow::ensure!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
            .lines()
            .last()
            .unwrap_or("the script failed")
    );
    Ok(serde_json::from_slice(&output.stdout)?)
}

/// Unwraps an operator response into the expected variant or a one-line error.
#[macro_export]
macro_rules! expect_response {
    ($response:expr, $variant:path) => {
        match $response {
            $variant(value) => Ok(value),
            drover_protocol::msg::OperatorResponse::Error(e) => {
                Err(anyhow::anyhow!("{}", e.message))
            }
            other => Err(anyhow::anyhow!(
                "unexpected answer from the coordinator: {other:?}"
            )),
        }
    };
}

/// A CSV writer's error as the I/O error it wraps, when it is one, so that a closed pipe is
/// recognised as such.
pub fn csv_error(error: csv::Error) -> anyhow::Error {
    if !error.is_io_error() {
        return error.into();
    }
    match error.into_kind() {
        csv::ErrorKind::Io(io) => io.into(),
        other => anyhow::anyhow!("{other:?}"),
    }
}
