//! The agent's settings, resolved flag > `DROVER_*` env > config file > default. The file is
//! `--config FILE`, else `/etc/drover/agent.toml` when it exists; every key is documented in
//! `config/agent.toml`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use drover_protocol::types::{Labels, parse_labels};
use serde::Deserialize;

use crate::state::AgentState;

/// Settings `drover-agent run` works with.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub state_dir: PathBuf,
    pub labels: Labels,
    /// HTTP listener for health and `/metrics`; `None` serves no HTTP.
    pub http: Option<SocketAddr>,
    pub job_slots: u32,
    /// Overrides the coordinator address recorded at join time.
    pub coordinator: Option<String>,
    /// Name reported to the coordinator; the machine's hostname when not set.
    pub hostname: Option<String>,
    /// How long a shutdown waits for running jobs before cancelling them.
    pub shutdown_grace: Duration,
    /// Log filter directives (e.g. `debug`); `RUST_LOG` wins over it.
    pub log_level: Option<String>,
    /// How often serving statistics go to the coordinator.
    pub serving_window: Duration,
    /// HTTPS on the HTTP listener: a certificate chain and its key, PEM files.
    pub http_tls: Option<HttpTlsFiles>,
}

/// The PEM files of the HTTP listener's certificate chain and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The config file's shape; every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentFile {
    pub state_dir: Option<PathBuf>,
    pub labels: Option<String>,
    pub http: Option<String>,
    pub job_slots: Option<u32>,
    pub coordinator: Option<String>,
    pub hostname: Option<String>,
    pub shutdown_grace: Option<String>,
    pub log_level: Option<String>,
    pub serving_window: Option<String>,
    pub http_tls_cert: Option<PathBuf>,
    pub http_tls_key: Option<PathBuf>,
}

/// Values given on the command line or in `DROVER_*` variables (clap folds the two).
#[derive(Debug, Default, Clone)]
pub struct AgentOverrides {
    pub config: Option<PathBuf>,
    pub state_dir: Option<PathBuf>,
    pub labels: Option<String>,
    pub http: Option<String>,
    pub job_slots: Option<u32>,
    pub coordinator: Option<String>,
    pub hostname: Option<String>,
    pub shutdown_grace: Option<String>,
}

/// The commented example shipped in `config/agent.toml`.
pub const EXAMPLE: &str = include_str!("../../config/agent.toml");

const SYSTEM_CONFIG: &str = "/etc/drover/agent.toml";
const DEFAULT_LABELS: &str = "role=train,serve";
const DEFAULT_HTTP: &str = "127.0.0.1:7500";
const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(60);
/// How often serving statistics go to the coordinator, unless the config says otherwise.
pub const DEFAULT_SERVING_WINDOW: Duration = Duration::from_secs(10);

/// Reads a TOML config file, naming the path in any error.
pub fn read_file(path: &Path) -> anyhow::Result<AgentFile> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid config {}", path.display()))
}

/// The default state dir: systemd's `$STATE_DIRECTORY`, else `/var/lib/drover-agent` when
/// this user owns it (a packaged install, used as the `drover` user), else the platform data
/// dir.
pub fn default_state_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("STATE_DIRECTORY") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = owned_dir(Path::new("/var/lib/drover-agent")) {
        return dir;
    }
    directories::ProjectDirs::from("", "", "drover-agent")
        .map(|d| d.data_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from("/var/lib/drover-agent"))
}

/// `dir` when it is a directory owned by the effective user.
pub fn owned_dir(dir: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(dir).ok()?;
    (meta.is_dir() && meta.uid() == rustix::process::geteuid().as_raw()).then(|| dir.to_path_buf())
}

impl AgentConfig {
    /// Resolves every setting from the overrides, the file and the defaults.
    pub fn resolve(over: AgentOverrides) -> anyhow::Result<Self> {
        let file = match &over.config {
            Some(path) => read_file(path)?,
            None if Path::new(SYSTEM_CONFIG).exists() => read_file(Path::new(SYSTEM_CONFIG))?,
            None => AgentFile::default(),
        };
        let state_dir = over
            .state_dir
            .or(file.state_dir)
            .unwrap_or_else(default_state_dir);
        let labels = match over.labels.or(file.labels) {
            Some(text) => parse_labels(&text).map_err(|e| anyhow::anyhow!("labels: {e}"))?,
            None => match crate::state::AgentState::load(&state_dir).ok().flatten() {
                Some(AgentState {
                    labels: Some(joined),
                    ..
                }) => joined,
                _ => parse_labels(DEFAULT_LABELS).map_err(|e| anyhow::anyhow!("labels: {e}"))?,
            },
        };
        let http_text = over
            .http
            .or(file.http)
            .unwrap_or_else(|| DEFAULT_HTTP.into());
        let http = match http_text.trim() {
            "" | "off" | "none" => None,
            text => Some(text.parse().with_context(|| {
                format!("http: {text:?} is not an address like 127.0.0.1:7500")
            })?),
        };
        let shutdown_grace = match over.shutdown_grace.or(file.shutdown_grace) {
            Some(text) => humantime::parse_duration(&text)
                .with_context(|| format!("shutdown_grace: {text:?} is not a duration like 60s"))?,
            None => DEFAULT_SHUTDOWN_GRACE,
        };
        let serving_window = match &file.serving_window {
            Some(text) => humantime::parse_duration(text)
                .ok()
                .filter(|d| *d >= Duration::from_millis(100))
                .with_context(|| {
                    format!("serving_window: {text:?} is not a duration of at least 100ms")
                })?,
            None => DEFAULT_SERVING_WINDOW,
        };
        let http_tls = match (file.http_tls_cert, file.http_tls_key) {
            (Some(cert), Some(key)) => Some(HttpTlsFiles { cert, key }),
            (None, None) => None,
            _ => anyhow::bail!("http_tls_cert and http_tls_key go together"),
        };
        let job_slots = over.job_slots.or(file.job_slots).unwrap_or(1);
        anyhow::ensure!(job_slots >= 1, "job_slots must be at least 1");
        Ok(Self {
            state_dir,
            labels,
            http,
            job_slots,
            coordinator: over.coordinator.or(file.coordinator),
            hostname: over.hostname.or(file.hostname),
            shutdown_grace,
            log_level: file.log_level,
            serving_window,
            http_tls,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_parses_and_flags_win() {
        let file: AgentFile = toml::from_str(EXAMPLE).expect("example parses");
        assert!(
            file.state_dir.is_none(),
            "the example keeps defaults commented out"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("agent.toml");
        std::fs::write(
            &path,
            "labels = \"role=serve\"\njob_slots = 4\nhttp = \"off\"\n",
        )
        .expect("write");
        let over = AgentOverrides {
            config: Some(path),
            job_slots: Some(2),
            ..Default::default()
        };
        let config = AgentConfig::resolve(over).expect("resolves");
        assert_eq!(config.job_slots, 2);
        assert_eq!(config.shutdown_grace, DEFAULT_SHUTDOWN_GRACE);
        assert_eq!(config.labels.get("role").map(String::as_str), Some("serve"));
        assert!(config.http.is_none());
    }

    #[test]
    fn unknown_keys_are_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("agent.toml");
        std::fs::write(&path, "lables = \"x=y\"\n").expect("write");
        let err = AgentConfig::resolve(AgentOverrides {
            config: Some(path.clone()),
            ..Default::default()
        })
        .expect_err("typo");
        assert!(format!("{err:#}").contains("lables"));
        std::fs::write(&path, "shutdown_grace = \"soon\"\n").expect("write");
        let err = AgentConfig::resolve(AgentOverrides {
            config: Some(path.clone()),
            ..Default::default()
        })
        .expect_err("bad duration");
        assert!(format!("{err:#}").contains("shutdown_grace"));
        std::fs::write(&path, "http_tls_cert = \"c.pem\"\n").expect("write");
        let err = AgentConfig::resolve(AgentOverrides {
            config: Some(path),
            ..Default::default()
        })
        .expect_err("a certificate without its key");
        assert!(format!("{err:#}").contains("go together"));
    }
}
