//! `drover`: the console (with an embedded coordinator unless one already runs on the data
//! dir), the headless coordinator, and the scripted verbs. Parse, set up logging, dispatch;
//! each verb's arguments and work live in `drover::cli`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, CommandFactory, Parser};
use drover::cli::{Command, Ctx};
use drover::client::{OperatorClient, OperatorLink};
use drover::config::{Overrides, Settings};
use drover::daemon::LocalCluster;
use drover::{console, daemon};
use drover_agent::cli_docs;
use drover_agent::logging::{self, LogArgs};
use drover_agent::signal::{reload_on_hangup, shutdown_on_signal};
use drover_coordinator::runfile;

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
    /// The console refuses every action that changes state.
    #[arg(long, global = true, env = "DROVER_READ_ONLY")]
    read_only: bool,
    #[command(flatten)]
    log: LogArgs,
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
            read_only: self.read_only,
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
        Err(e) if e.downcast_ref::<drover::cli::UsageError>().is_some() => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    let over = cli.global.overrides();
    let address = cli.global.coordinator.clone();
    let format = cli.global.log.log_format;
    match cli.command {
        None => run_console(over, address.as_deref()).await,
        Some(Command::Coordinator) => {
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
            daemon::run(settings, shutdown_on_signal(), Some(reload)).await
        }
        Some(Command::Docs(docs)) => cli_docs::run(docs, Cli::command()),
        Some(Command::Demo(demo)) => {
            if demo.headless {
                logging::init(format, "warn");
            } else {
                log_to_file(&demo.data_dir())?;
            }
            demo.run().await
        }
        Some(verb) => {
            logging::init(format, "warn");
            let ctx = Ctx {
                data_dir: Settings::data_dir(&over)?,
                address,
            };
            verb.run(&ctx, shutdown_on_signal).await
        }
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
    let look = console::Look {
        keys: settings.keys.clone(),
        read_only: settings.read_only,
    };
    if address.is_some() || runfile::is_running(&data_dir) {
        let client = OperatorClient::for_data_dir(&data_dir, address).await?;
        let label = format!(
            "attached {}",
            address.unwrap_or(&data_dir.display().to_string())
        );
        let link = OperatorLink::Remote(Arc::new(client));
        let connect = console::session::attached(data_dir, address.map(str::to_string));
        return console::run(link, connect, label, look).await;
    }
    let cluster = LocalCluster::start(settings).await?;
    let handle = cluster.coordinator.handle();
    let label = format!("embedded {}", handle.quic_addr());
    let link = OperatorLink::Local(handle);
    let connect = console::session::same(link.clone());
    let result = console::run(link, connect, label, look).await;
    cluster.stop().await;
    result
}
