//! Logs on stderr, as text or as one JSON object per line (for journald and log shippers),
//! behind a filter that a config reload can change.

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, fmt, reload};

/// The default filter of long-running processes.
pub const DEFAULT_FILTER: &str = "info,quinn=warn,rustls=warn";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines, colored only on a terminal.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The `--log-format` flag both binaries take.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct LogArgs {
    /// Log lines on stderr as text or as one JSON object per line.
    #[arg(
        long,
        global = true,
        env = "DROVER_LOG_FORMAT",
        value_enum,
        default_value_t
    )]
    pub log_format: LogFormat,
}

/// Changes the filter of the installed logger. `RUST_LOG`, when set, always wins.
#[derive(Clone)]
pub struct LogFilter {
    handle: reload::Handle<EnvFilter, Registry>,
    from_env: bool,
}

impl LogFilter {
    /// Applies `directives` (e.g. `debug` or `info,drover_agent=trace`).
    pub fn set(&self, directives: &str) -> anyhow::Result<()> {
        if self.from_env {
            return Ok(());
        }
        let filter = EnvFilter::try_new(directives)
            .map_err(|e| anyhow::anyhow!("log_level {directives:?}: {e}"))?;
        self.handle
            .reload(filter)
            .map_err(|e| anyhow::anyhow!("cannot change the log filter: {e}"))
    }
}

/// Installs the process's logger on stderr with `default` as its filter unless `RUST_LOG` is
/// set.
pub fn init(format: LogFormat, default: &str) -> LogFilter {
    let from_env = std::env::var_os("RUST_LOG").is_some();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let (filter, handle) = reload::Layer::new(filter);
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Text => registry
            .with(
                fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
            )
            .init(),
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_writer(std::io::stderr),
            )
            .init(),
    }
    LogFilter { handle, from_env }
}
