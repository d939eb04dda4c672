//! `drover-agent`: join a coordinator, run as a node daemon, or simulate a fleet.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand};
use drover_agent::config::{self, AgentConfig, AgentOverrides};
use drover_agent::link::Stops;
use drover_agent::logging::{self, LogArgs};
use drover_agent::signal::{graceful_then_forced, reload_on_hangup, shutdown_on_signal};
use drover_agent::{Lifecycle, Reload, cli_docs};

#[derive(Parser)]
#[command(name = "drover-agent", version, about = "drover's node daemon")]
struct Cli {
    #[command(flatten)]
    log: LogArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Enroll with a coordinator using a join token from `drover token create`.
    Join {
        /// The token (or DROVER_TOKEN).
        #[arg(env = "DROVER_TOKEN", hide_env_values = true)]
        token: String,
        #[arg(long, env = "DROVER_STATE_DIR")]
        state_dir: Option<PathBuf>,
        /// Dial this host:port instead of the address in the token.
        #[arg(long, env = "DROVER_COORDINATOR")]
        coordinator: Option<String>,
        /// Labels to ask for, e.g. role=serve,zone=eu: fixed at enrollment unless the token
        /// carries labels of its own (which win); later only `drover agents label` changes them.
        #[arg(long)]
        labels: Option<String>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run the agent: stay connected to the coordinator and heartbeat.
    Run {
        /// Config file (default /etc/drover/agent.toml when it exists).
        #[arg(long, env = "DROVER_CONFIG")]
        config: Option<PathBuf>,
        #[arg(long, env = "DROVER_STATE_DIR")]
        state_dir: Option<PathBuf>,
        /// Placement labels, e.g. role=train,serve.
        #[arg(long, env = "DROVER_LABELS")]
        labels: Option<String>,
        /// HTTP listener for health and /metrics ("off" to disable).
        #[arg(long, env = "DROVER_HTTP")]
        http: Option<String>,
        #[arg(long, env = "DROVER_JOB_SLOTS")]
        job_slots: Option<u32>,
        #[arg(long, env = "DROVER_COORDINATOR")]
        coordinator: Option<String>,
        /// Name to report instead of the machine's hostname.
        #[arg(long, env = "DROVER_HOSTNAME")]
        hostname: Option<String>,
        /// On SIGTERM, how long running jobs may take before they are cancelled (e.g. 60s).
        #[arg(long, env = "DROVER_SHUTDOWN_GRACE")]
        shutdown_grace: Option<String>,
    },
    /// Simulate many agents in this process (for benchmarks); stops after --duration.
    Sim {
        #[arg(long, default_value_t = 100)]
        count: usize,
        #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
        duration: Duration,
        /// Join token with at least --count uses (needed the first time only).
        #[arg(long, env = "DROVER_TOKEN", hide_env_values = true)]
        token: Option<String>,
        #[arg(long, env = "DROVER_STATE_DIR")]
        state_dir: PathBuf,
        #[arg(long, env = "DROVER_COORDINATOR")]
        coordinator: Option<String>,
    },
    /// Print the commented example config.
    ConfigExample,
    #[command(flatten)]
    Docs(cli_docs::DocsCommand),
}

fn main() -> ExitCode {
    drover_agent::pipe::exit_quietly_on_broken_pipe();
    let cli = Cli::parse();
    let log = logging::init(cli.log.log_format, logging::DEFAULT_FILTER);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli.command, log)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if drover_agent::pipe::is_broken_pipe_error(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(command: Command, log: logging::LogFilter) -> anyhow::Result<()> {
    match command {
        Command::Join {
            token,
            state_dir,
            coordinator,
            labels,
            json,
        } => {
            let state_dir = state_dir.unwrap_or_else(config::default_state_dir);
            let hostname = drover_agent::host::hostname();
            let labels = match labels {
                Some(text) => drover_protocol::types::parse_labels(&text)
                    .map_err(|e| anyhow::anyhow!("--labels: {e}"))?,
                None => Default::default(),
            };
            let state = drover_agent::enroll::join_labelled(
                &token,
                &state_dir,
                coordinator.as_deref(),
                &hostname,
                &labels,
            )
            .await?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "agent_id": state.agent_id, "state_dir": state_dir, "coordinator": state.coordinator, "labels": state.labels })
                );
            } else {
                println!("{}", state.agent_id);
                eprintln!(
                    "joined {} as {}; start it with: drover-agent run --state-dir {} (or, installed as a package: sudo systemctl start drover-agent)",
                    state.coordinator,
                    state.agent_id,
                    state_dir.display()
                );
            }
            Ok(())
        }
        Command::Run {
            config,
            state_dir,
            labels,
            http,
            job_slots,
            coordinator,
            hostname,
            shutdown_grace,
        } => {
            let overrides = AgentOverrides {
                config,
                state_dir,
                labels,
                http,
                job_slots,
                coordinator,
                hostname,
                shutdown_grace,
            };
            let config = AgentConfig::resolve(overrides.clone())?;
            if let Some(level) = &config.log_level {
                log.set(level)?;
            }
            let (drain, now) = graceful_then_forced();
            let lifecycle = Lifecycle {
                stops: Stops { drain, now },
                reload: Some(Reload {
                    requests: reload_on_hangup(),
                    overrides,
                    log: Some(log),
                }),
            };
            drover_agent::run_with(config, lifecycle).await
        }
        Command::Sim {
            count,
            duration,
            token,
            state_dir,
            coordinator,
        } => {
            let options = drover_agent::sim::SimOptions {
                token,
                count,
                duration,
                state_dir,
                coordinator,
            };
            let report = drover_agent::sim::run(options, shutdown_on_signal()).await?;
            println!("{}", serde_json::to_string(&report)?);
            Ok(())
        }
        Command::ConfigExample => {
            print!("{}", config::EXAMPLE);
            Ok(())
        }
        Command::Docs(docs) => cli_docs::run(docs, Cli::command()),
    }
}
