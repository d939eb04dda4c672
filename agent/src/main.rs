//! `drover-agent`: join a coordinator, run as a node daemon, or simulate a fleet.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use drover_agent::config::{self, AgentConfig, AgentOverrides};
use drover_agent::signal::shutdown_on_signal;

#[derive(Parser)]
#[command(name = "drover-agent", version, about = "drover's node daemon")]
struct Cli {
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("info,quinn=warn,rustls=warn")
            }),
        )
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Join {
            token,
            state_dir,
            coordinator,
            json,
        } => {
            let state_dir = state_dir.unwrap_or_else(config::default_state_dir);
            let hostname = drover_agent::host::hostname();
            let state =
                drover_agent::enroll::join(&token, &state_dir, coordinator.as_deref(), &hostname)
                    .await?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "agent_id": state.agent_id, "state_dir": state_dir, "coordinator": state.coordinator })
                );
            } else {
                println!("{}", state.agent_id);
                eprintln!(
                    "joined {} as {}; start it with: drover-agent run --state-dir {}",
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
        } => {
            let config = AgentConfig::resolve(AgentOverrides {
                config,
                state_dir,
                labels,
                http,
                job_slots,
                coordinator,
                hostname,
            })?;
            drover_agent::run(config, shutdown_on_signal()).await
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
    }
}
