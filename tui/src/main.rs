//! `drover`: the console (with an embedded coordinator unless one already runs on the data
//! dir), the headless coordinator, and the scripted verbs. Dispatch only; the work lives in
//! the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand};
use drover::cli::compare::MetricFilter;
use drover::client::{OperatorClient, OperatorLink};
use drover::config::{Overrides, Settings};
use drover::daemon::LocalCluster;
use drover::{cli, config, console, daemon, ops};
use drover_agent::cli_docs;
use drover_agent::logging::{self, LogArgs};
use drover_agent::signal::{reload_on_hangup, shutdown_on_signal};
use drover_coordinator::runfile;
use drover_protocol::run::{RunFilter, RunStatus};

#[derive(Parser)]
#[command(
    name = "drover",
    version,
    about = "drover: a terminal-native MLOps control plane"
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Args)]
struct Global {
    /// Coordinator data dir (database, PKI).
    #[arg(long, global = true, env = "DROVER_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Config file (default: drover.toml in the platform config dir, when it exists).
    #[arg(long, global = true, env = "DROVER_CONFIG")]
    config: Option<PathBuf>,
    /// Talk to the coordinator at this QUIC address instead of the one running on --data-dir.
    #[arg(long, global = true, env = "DROVER_COORDINATOR")]
    coordinator: Option<String>,
    /// QUIC listen address of an embedded or headless coordinator.
    #[arg(long, global = true, env = "DROVER_LISTEN")]
    listen: Option<String>,
    /// HTTP listen address (/metrics) of an embedded or headless coordinator.
    #[arg(long, global = true, env = "DROVER_HTTP")]
    http: Option<String>,
    /// Address put into join tokens.
    #[arg(long, global = true, env = "DROVER_ADVERTISE")]
    advertise: Option<String>,
    /// Heartbeat interval agents are asked to keep (e.g. 1s, 500ms).
    #[arg(long, global = true, env = "DROVER_HEARTBEAT_INTERVAL")]
    heartbeat_interval: Option<String>,
    /// Also run an agent in this process, enrolled like any other.
    #[arg(long, global = true, env = "DROVER_LOCAL_AGENT")]
    local_agent: bool,
    #[command(flatten)]
    log: LogArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run the coordinator without a terminal (for systemd and scripts).
    Coordinator,
    /// Join tokens for new agents.
    Token {
        #[command(subcommand)]
        action: TokenCommand,
    },
    /// List or remove agents.
    Agents {
        #[command(subcommand)]
        action: Option<AgentsCommand>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Versioned datasets: add, list, show; sample and synthetic data to try it on.
    Data {
        #[command(subcommand)]
        action: DataCommand,
    },
    /// Queue a training run from a spec file (see config/train.example.toml).
    Train {
        spec: PathBuf,
        /// Show progress until the run ends; exit 0 only if it succeeded and passed its gates.
        #[arg(long)]
        follow: bool,
        #[arg(long)]
        json: bool,
    },
    /// Training runs: list, show, cancel.
    Runs {
        #[command(subcommand)]
        action: RunsCommand,
    },
    /// The model registry: versions, stages, aliases, lineage.
    Models {
        #[command(subcommand)]
        action: ModelsCommand,
    },
    /// Repeating training specs (cron schedules and new-data triggers).
    Schedules {
        #[command(subcommand)]
        action: SchedulesCommand,
    },
    /// Show fleet events.
    Events {
        /// Keep printing new events until interrupted.
        #[arg(long)]
        follow: bool,
        /// How many past events to show.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Print one JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Show the running coordinator's addresses and fleet size.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Benchmarks (release builds give meaningful figures).
    Bench {
        #[command(subcommand)]
        which: BenchCommand,
    },
    /// Print the commented example config.
    ConfigExample,
    /// Write a consistent snapshot of the store and the PKI to FILE (online; artifacts are
    /// listed by hash, not copied).
    Backup {
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Restore a backup into the data dir (the coordinator must be stopped).
    Restore {
        file: PathBuf,
        /// Replace the store the data dir already holds.
        #[arg(long)]
        force: bool,
        #[arg(long)]
        json: bool,
    },
    /// Check the data dir, certificates, disk and agent clocks; print what to fix.
    Doctor {
        #[arg(long)]
        json: bool,
    },
    #[command(flatten)]
    Docs(cli_docs::DocsCommand),
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Cross-validated accuracy and time of each classifier, next to scikit-learn.
    Train {
        /// Rows of the synthetic table (20 features).
        #[arg(long, default_value_t = 100_000)]
        rows: usize,
        /// Only these algorithms (repeatable); all classifiers by default.
        #[arg(long = "algorithm")]
        algorithms: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Metric points per second from an agent into the store, acknowledged after commit.
    Ingest {
        #[arg(long, default_value_t = 1_000_000)]
        points: usize,
        #[arg(long, default_value_t = 5_000)]
        batch: usize,
        #[arg(long)]
        json: bool,
    },
    /// log-batch ingest and runs/search through the MLflow API, next to `mlflow server`.
    Mlflow {
        /// A Python with the `mlflow` package (the client and the reference server).
        #[arg(long, env = "DROVER_MLFLOW_PYTHON", default_value = "python3")]
        python: std::path::PathBuf,
        #[arg(long, default_value_t = 200_000)]
        points: usize,
        /// Runs to search over.
        #[arg(long, default_value_t = 1000)]
        runs: usize,
        #[arg(long)]
        json: bool,
    },
    /// Validating and profiling a large CSV as `data add` does (streamed), next to the
    /// whole table in memory.
    Data {
        /// Size of the synthetic CSV, MiB.
        #[arg(long, default_value_t = 256)]
        mib: u64,
        #[arg(long)]
        json: bool,
    },
    /// A coordinator under N simulated agents heartbeating every second, and an idle agent.
    Fleet {
        #[arg(long, default_value_t = 1000)]
        agents: usize,
        /// Length of each measurement window.
        #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
        window: Duration,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum DataCommand {
    /// Validate a CSV, store it by content hash and record it as the next version of NAME.
    Add {
        file: PathBuf,
        #[arg(long)]
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Every dataset with its latest version.
    List {
        #[arg(long)]
        json: bool,
    },
    /// One version (NAME, NAME@latest or NAME@N): schema, changes and column profiles.
    Show {
        reference: String,
        #[arg(long)]
        json: bool,
    },
    /// Write a data set that ships with drover as CSV to stdout (winequality).
    Sample { name: String },
    /// Write a synthetic table as CSV to stdout.
    Synth {
        /// The generator: churn.
        #[arg(value_parser = ["churn"])]
        kind: String,
        #[arg(long, default_value_t = 10_000)]
        rows: usize,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Shift feature distributions (0 = reference, 1 = strongly drifted).
        #[arg(long, default_value_t = 0.0)]
        drift: f64,
    },
}

#[derive(Subcommand)]
enum RunsCommand {
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

#[derive(Subcommand)]
enum ModelsCommand {
    /// Every model with its latest, staging and production versions.
    List {
        #[arg(long)]
        json: bool,
    },
    /// One version (NAME, NAME@N, NAME@ALIAS): stage, metrics, lineage.
    Show {
        reference: String,
        #[arg(long)]
        json: bool,
    },
    /// Move a version to a stage; promoting to production archives the previous one.
    Promote {
        reference: String,
        /// none, staging, production or archived.
        #[arg(long)]
        stage: String,
    },
    /// Point an alias such as `champion` at a version.
    Alias { reference: String, alias: String },
}

#[derive(Subcommand)]
enum SchedulesCommand {
    /// Every schedule, its trigger, next and last run.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Stop a schedule.
    Remove { id: String },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a join token.
    Create {
        /// How long the token stays valid.
        #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
        ttl: Duration,
        /// How many agents may join with it.
        #[arg(long, default_value_t = 1)]
        uses: u32,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum AgentsCommand {
    /// List agents (the default).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove an agent: its certificate is refused from then on.
    Remove { id: String },
}

impl Global {
    fn overrides(&self) -> Overrides {
        Overrides {
            config: self.config.clone(),
            data_dir: self.data_dir.clone(),
            listen: self.listen.clone(),
            http: self.http.clone(),
            advertise: self.advertise.clone(),
            heartbeat_interval: self.heartbeat_interval.clone(),
            local_agent: self.local_agent,
        }
    }
}

fn main() -> ExitCode {
    drover_agent::pipe::exit_quietly_on_broken_pipe();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if drover_agent::pipe::is_broken_pipe_error(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Prints a benchmark report as JSON or as text.
fn emit<T: serde::Serialize>(report: &T, json: bool, print: fn(&T)) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        print(report);
    }
    Ok(())
}

async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    let over = cli.global.overrides();
    let address = cli.global.coordinator.as_deref();
    let Some(command) = cli.command else {
        return run_console(over, address).await;
    };
    let format = cli.global.log.log_format;
    if matches!(command, Command::Coordinator) {
        let log = logging::init(format, logging::DEFAULT_FILTER);
        let settings = Settings::resolve(over.clone())?;
        if let Some(level) = &settings.log_level {
            log.set(level)?;
        }
        let reload = daemon::Reload {
            requests: reload_on_hangup(),
            overrides: over,
            log,
        };
        return daemon::run(settings, shutdown_on_signal(), Some(reload)).await;
    }
    logging::init(format, "warn");
    let data_dir = Settings::data_dir(&over)?;
    match command {
        Command::Coordinator => unreachable!("handled above"),
        Command::Token {
            action: TokenCommand::Create { ttl, uses, json },
        } => cli::token::create(&data_dir, address, ttl, uses, json).await,
        Command::Agents { action: None, json }
        | Command::Agents {
            action: Some(AgentsCommand::List { json }),
            ..
        } => cli::agents::list(&data_dir, address, json).await,
        Command::Agents {
            action: Some(AgentsCommand::Remove { id }),
            ..
        } => cli::agents::remove(&data_dir, address, &id).await,
        Command::Events {
            follow,
            limit,
            json,
        } => {
            cli::events::show(
                &data_dir,
                address,
                limit,
                follow,
                json,
                shutdown_on_signal(),
            )
            .await
        }
        Command::Data { action } => data(action, &data_dir, address).await,
        Command::Train { spec, follow, json } => {
            cli::runs::train(&data_dir, address, &spec, follow, json).await
        }
        Command::Runs { action } => runs(action, &data_dir, address).await,
        Command::Schedules { action } => match action {
            SchedulesCommand::List { json } => cli::schedules::list(&data_dir, address, json).await,
            SchedulesCommand::Remove { id } => {
                cli::schedules::remove(&data_dir, address, &id).await
            }
        },
        Command::Models { action } => match action {
            ModelsCommand::List { json } => cli::models::list(&data_dir, address, json).await,
            ModelsCommand::Show { reference, json } => {
                cli::models::show(&data_dir, address, &reference, json).await
            }
            ModelsCommand::Promote { reference, stage } => {
                cli::models::promote(&data_dir, address, &reference, &stage).await
            }
            ModelsCommand::Alias { reference, alias } => {
                cli::models::alias(&data_dir, address, &reference, &alias).await
            }
        },
        Command::Status { json } => cli::status::show(&data_dir, address, json).await,
        Command::Bench {
            which:
                BenchCommand::Train {
                    rows,
                    algorithms,
                    json,
                },
        } => {
            let report =
                tokio::task::spawn_blocking(move || cli::bench_train::run(rows, &algorithms))
                    .await??;
            emit(&report, json, cli::bench_train::print)
        }
        Command::Bench {
            which:
                BenchCommand::Ingest {
                    points,
                    batch,
                    json,
                },
        } => {
            let report = cli::bench_ingest::ingest(points, batch).await?;
            emit(&report, json, cli::bench_ingest::print)
        }
        Command::Bench {
            which:
                BenchCommand::Mlflow {
                    python,
                    points,
                    runs,
                    json,
                },
        } => {
            let report = cli::bench_mlflow::run(&python, points, runs).await?;
            emit(&report, json, cli::bench_mlflow::print)
        }
        Command::Bench {
            which: BenchCommand::Data { mib, json },
        } => {
            let report = tokio::task::spawn_blocking(move || cli::bench_data::run(mib)).await??;
            emit(&report, json, cli::bench_data::print)
        }
        Command::Bench {
            which:
                BenchCommand::Fleet {
                    agents,
                    window,
                    json,
                },
        } => {
            let report = cli::bench::fleet(agents, window).await?;
            emit(&report, json, cli::bench::print)
        }
        Command::ConfigExample => {
            print!("{}", config::EXAMPLE);
            Ok(())
        }
        Command::Backup { file, json } => {
            let report = ops::backup::backup(&data_dir, &file)?;
            emit(&report, json, ops::backup::print)
        }
        Command::Restore { file, force, json } => {
            let report = ops::restore::restore(&file, &data_dir, force)?;
            emit(&report, json, ops::restore::print)
        }
        Command::Doctor { json } => {
            let checks = ops::doctor::run(&data_dir, address).await;
            emit(&checks, json, |c: &Vec<ops::doctor::Check>| {
                ops::doctor::print(c)
            })?;
            match checks.iter().map(|c| c.verdict).max() {
                Some(ops::doctor::Verdict::Fail) => anyhow::bail!("drover doctor found problems"),
                _ => Ok(()),
            }
        }
        Command::Docs(docs) => cli_docs::run(docs, Cli::command()),
    }
}

/// The console logs to `<data-dir>/console.log`, never to the terminal it draws on.
fn log_to_file(data_dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(data_dir)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data_dir.join("console.log"))?;
    tracing_subscriber::fmt()
        .with_writer(std::sync::Mutex::new(file))
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("info,quinn=warn,rustls=warn")
            }),
        )
        .init();
    Ok(())
}

async fn run_console(over: Overrides, address: Option<&str>) -> anyhow::Result<()> {
    let settings = Settings::resolve(over)?;
    let data_dir = settings.coordinator.data_dir.clone();
    log_to_file(&data_dir)?;
    if address.is_some() || runfile::is_running(&data_dir) {
        let client = OperatorClient::for_data_dir(&data_dir, address).await?;
        let label = format!(
            "attached {}",
            address.unwrap_or(&data_dir.display().to_string())
        );
        return console::run(OperatorLink::Remote(std::sync::Arc::new(client)), label).await;
    }
    let cluster = LocalCluster::start(settings).await?;
    let handle = cluster.coordinator.handle();
    let label = format!("embedded {}", handle.quic_addr());
    let result = console::run(OperatorLink::Local(handle), label).await;
    cluster.stop().await;
    result
}

async fn data(action: DataCommand, data_dir: &Path, address: Option<&str>) -> anyhow::Result<()> {
    match action {
        DataCommand::Add { file, name, json } => {
            cli::data::add(data_dir, address, &file, &name, json).await
        }
        DataCommand::List { json } => cli::data::list(data_dir, address, json).await,
        DataCommand::Show { reference, json } => {
            cli::data::show(data_dir, address, &reference, json).await
        }
        DataCommand::Sample { name } => cli::sample::write(&name, &mut std::io::stdout().lock()),
        DataCommand::Synth {
            kind: _,
            rows,
            seed,
            drift,
        } => {
            anyhow::ensure!(
                (0.0..=5.0).contains(&drift),
                "--drift must be between 0 and 5"
            );
            let options = cli::synth::ChurnOptions { rows, seed, drift };
            cli::synth::churn(
                options,
                &mut std::io::BufWriter::new(std::io::stdout().lock()),
            )
        }
    }
}

async fn runs(action: RunsCommand, data_dir: &Path, address: Option<&str>) -> anyhow::Result<()> {
    match action {
        RunsCommand::List {
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
            cli::runs::list(
                data_dir,
                address,
                filter,
                condition.as_ref(),
                sort.as_deref(),
                json,
            )
            .await
        }
        RunsCommand::Show { id, json } => cli::runs::show(data_dir, address, &id, json).await,
        RunsCommand::Cancel { id } => cli::runs::cancel(data_dir, address, &id).await,
        RunsCommand::Compare { ids, json } => {
            cli::compare::compare(data_dir, address, &ids, json).await
        }
        RunsCommand::Reproduce { id } => cli::compare::reproduce(data_dir, address, &id).await,
    }
}
