//! The coordinator's settings, resolved flag > `DROVER_*` env > config file > default. The file
//! is `--config FILE`, else `drover.toml` in the platform config dir when it exists, else
//! `/etc/drover/coordinator.toml` when it exists; every key is documented in
//! `config/coordinator.toml`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use drover_protocol::types::{Labels, parse_labels};
use serde::Deserialize;

use crate::console::keymap::{KeySpec, Keymap};
use drover_coordinator::CoordinatorOptions;
use drover_coordinator::drift::config::Monitoring;
use drover_coordinator::http::HttpTls;
use drover_coordinator::quota::ReportLimits;

/// The commented example shipped in `config/coordinator.toml`.
pub const EXAMPLE: &str = include_str!("../../config/coordinator.toml");

/// The config file's shape; every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoordinatorFile {
    pub data_dir: Option<PathBuf>,
    pub listen: Option<String>,
    pub http: Option<String>,
    pub advertise: Option<String>,
    pub heartbeat_interval: Option<String>,
    pub max_connections: Option<usize>,
    pub http_tls_cert: Option<PathBuf>,
    pub http_tls_key: Option<PathBuf>,
    pub http_tls_self: Option<bool>,
    pub http_tls_names: Option<Vec<String>>,
    pub local_agent: Option<bool>,
    pub local_agent_labels: Option<String>,
    pub log_level: Option<String>,
    /// The console refuses every action that changes state.
    pub read_only: Option<bool>,
    /// The console's keys, by action name (see `config/coordinator.toml`).
    pub keys: Option<BTreeMap<String, KeySpec>>,
    /// Drift and performance monitoring, alert rules and sinks.
    pub monitoring: Option<Monitoring>,
    /// What one agent may report about serving.
    pub agent_reports: Option<ReportLimits>,
}

/// Values from the command line or `DROVER_*` variables (clap folds the two).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub config: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub listen: Option<String>,
    pub http: Option<String>,
    pub advertise: Option<String>,
    pub heartbeat_interval: Option<String>,
    pub local_agent: bool,
    pub read_only: bool,
}

/// Every coordinator setting, resolved.
#[derive(Debug, Clone)]
pub struct Settings {
    pub coordinator: CoordinatorOptions,
    /// Also run an agent in this process, enrolled like any other.
    pub local_agent: bool,
    pub local_agent_labels: Labels,
    /// Log filter directives for the headless coordinator; `RUST_LOG` wins over it.
    pub log_level: Option<String>,
    /// The console refuses every action that changes state.
    pub read_only: bool,
    /// The console's key table (the defaults with `[keys]` applied).
    pub keys: Keymap,
}

/// The packaged config, read when the user has none of their own.
const SYSTEM_CONFIG: &str = "/etc/drover/coordinator.toml";
const DEFAULT_LISTEN: &str = "0.0.0.0:7400";
const DEFAULT_HTTP: &str = "127.0.0.1:7401";
const DEFAULT_HEARTBEAT: &str = "1s";
const DEFAULT_MAX_CONNECTIONS: usize = 20_000;

fn project_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "drover")
}

/// The default data dir: systemd's `$STATE_DIRECTORY`, else `/var/lib/drover` when this user
/// owns it (a packaged install, used as the `drover` user), else the platform data dir.
pub fn default_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("STATE_DIRECTORY") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = drover_agent::config::owned_dir(std::path::Path::new("/var/lib/drover")) {
        return dir;
    }
    project_dirs()
        .map(|d| d.data_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from("/var/lib/drover"))
}

fn read_file(over: &Overrides) -> anyhow::Result<CoordinatorFile> {
    let path = match &over.config {
        Some(path) => path.clone(),
        None => match project_dirs().map(|d| d.config_dir().join("drover.toml")) {
            Some(path) if path.exists() => path,
            _ if Path::new(SYSTEM_CONFIG).exists() => PathBuf::from(SYSTEM_CONFIG),
            _ => return Ok(CoordinatorFile::default()),
        },
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading config {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid config {}", path.display()))
}

fn addr(what: &str, text: &str) -> anyhow::Result<SocketAddr> {
    text.parse()
        .with_context(|| format!("{what}: {text:?} is not an address like 127.0.0.1:7400"))
}

impl Settings {
    /// Resolves every setting from the overrides, the file and the defaults.
    pub fn resolve(over: Overrides) -> anyhow::Result<Self> {
        let file = read_file(&over)?;
        let http_tls = http_tls(&file)?;
        let heartbeat = over
            .heartbeat_interval
            .or(file.heartbeat_interval)
            .unwrap_or_else(|| DEFAULT_HEARTBEAT.into());
        let heartbeat_interval = humantime::parse_duration(&heartbeat)
            .with_context(|| format!("heartbeat_interval: {heartbeat:?}"))?;
        anyhow::ensure!(
            (Duration::from_millis(50)..=Duration::from_secs(60)).contains(&heartbeat_interval),
            "heartbeat_interval must be between 50ms and 60s"
        );
        let labels = file
            .local_agent_labels
            .unwrap_or_else(|| "role=train,serve".into());
        Ok(Self {
            coordinator: CoordinatorOptions {
                data_dir: over
                    .data_dir
                    .or(file.data_dir)
                    .unwrap_or_else(default_data_dir),
                listen: addr(
                    "listen",
                    &over
                        .listen
                        .or(file.listen)
                        .unwrap_or_else(|| DEFAULT_LISTEN.into()),
                )?,
                http: addr(
                    "http",
                    &over
                        .http
                        .or(file.http)
                        .unwrap_or_else(|| DEFAULT_HTTP.into()),
                )?,
                advertise: over.advertise.or(file.advertise),
                heartbeat_interval,
                max_connections: file.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS),
                http_tls,
                monitoring: file.monitoring.unwrap_or_default(),
                reports: file.agent_reports.unwrap_or_default(),
            },
            local_agent: over.local_agent || file.local_agent.unwrap_or(false),
            local_agent_labels: parse_labels(&labels)
                .map_err(|e| anyhow::anyhow!("local_agent_labels: {e}"))?,
            log_level: file.log_level,
            read_only: over.read_only || file.read_only.unwrap_or(false),
            keys: Keymap::with_overrides(&file.keys.unwrap_or_default())
                .map_err(|e| anyhow::anyhow!("{e}"))?,
        })
    }

    /// Only the data dir, for verbs that talk to a running coordinator.
    pub fn data_dir(over: &Overrides) -> anyhow::Result<PathBuf> {
        Ok(match &over.data_dir {
            Some(dir) => dir.clone(),
            None => read_file(over)?.data_dir.unwrap_or_else(default_data_dir),
        })
    }
}

/// HTTPS for the HTTP listener: certificate and key files, or a certificate from drover's
/// own CA (for this host's name and loopback unless names are given), or none.
fn http_tls(file: &CoordinatorFile) -> anyhow::Result<Option<HttpTls>> {
    match (&file.http_tls_cert, &file.http_tls_key, file.http_tls_self) {
        (Some(cert), Some(key), _) => Ok(Some(HttpTls::Files {
            cert: cert.clone(),
            key: key.clone(),
        })),
        (Some(_), None, _) | (None, Some(_), _) => {
            anyhow::bail!("http_tls_cert and http_tls_key go together")
        }
        (None, None, Some(true)) => {
            let names = file.http_tls_names.clone().unwrap_or_else(|| {
                let host = rustix::system::uname()
                    .nodename()
                    .to_string_lossy()
                    .into_owned();
                vec![host, "localhost".into(), "127.0.0.1".into(), "::1".into()]
            });
            Ok(Some(HttpTls::OwnCa { names }))
        }
        (None, None, _) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_parses_and_precedence_holds() {
        let file: CoordinatorFile = toml::from_str(EXAMPLE).expect("example parses");
        assert!(
            file.listen.is_none(),
            "the example keeps defaults commented out"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("drover.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:9000\"\nhttp = \"127.0.0.1:9001\"\nheartbeat_interval = \"250ms\"\n[agent_reports]\nmax_rps = 5000\n").expect("write");
        let over = Overrides {
            config: Some(path),
            http: Some("127.0.0.1:0".into()),
            ..Default::default()
        };
        let settings = Settings::resolve(over).expect("resolves");
        assert_eq!(settings.coordinator.listen.port(), 9000);
        assert_eq!(settings.coordinator.http.port(), 0);
        assert_eq!(
            settings.coordinator.heartbeat_interval,
            Duration::from_millis(250)
        );
        assert_eq!(settings.coordinator.reports.max_rps, 5_000);
        assert_eq!(
            settings.coordinator.reports.frames_per_minute,
            drover_coordinator::quota::ReportLimits::default().frames_per_minute
        );
    }

    #[test]
    fn https_takes_files_or_drovers_own_ca() {
        let file = |text: &str| -> CoordinatorFile { toml::from_str(text).expect("parses") };
        assert_eq!(http_tls(&file("")).expect("none"), None);
        assert_eq!(
            http_tls(&file("http_tls_cert = \"c.pem\"\nhttp_tls_key = \"k.pem\"")).expect("files"),
            Some(HttpTls::Files {
                cert: "c.pem".into(),
                key: "k.pem".into()
            })
        );
        assert!(http_tls(&file("http_tls_cert = \"c.pem\"")).is_err());
        assert_eq!(
            http_tls(&file(
                "http_tls_self = true\nhttp_tls_names = [\"ctl.example\"]"
            ))
            .expect("own"),
            Some(HttpTls::OwnCa {
                names: vec!["ctl.example".into()]
            })
        );
        let Some(HttpTls::OwnCa { names }) = http_tls(&file("http_tls_self = true")).expect("own")
        else {
            panic!("own CA by default names")
        };
        assert!(names.contains(&"localhost".to_string()));
    }

    #[test]
    fn bad_values_name_the_setting() {
        let over = Overrides {
            listen: Some("nowhere".into()),
            ..Default::default()
        };
        let err = Settings::resolve(over).expect_err("bad listen");
        assert!(format!("{err:#}").contains("listen"));
    }

    #[test]
    fn the_console_keys_and_read_only_come_from_the_file_and_conflicts_stop_the_start() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("drover.toml");
        let over = || Overrides {
            config: Some(path.clone()),
            ..Default::default()
        };
        std::fs::write(&path, "read_only = true\n[keys]\ncompare_marked = \"C\"\n").expect("write");
        let settings = Settings::resolve(over()).expect("resolves");
        assert!(settings.read_only);
        assert_eq!(
            settings
                .keys
                .first_key(crate::console::keymap::Mode::Normal, "compare_marked")
                .as_deref(),
            Some("C")
        );
        std::fs::write(&path, "[keys]\nrefresh = \"q\"\n").expect("write");
        let err = format!("{:#}", Settings::resolve(over()).expect_err("a conflict"));
        assert!(err.contains("q is bound to both refresh and quit"), "{err}");
    }
}
