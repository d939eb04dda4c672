//! Real processes for the end-to-end tests: the built `drover` and `drover-agent` binaries,
//! a child process killed when dropped, a coordinator process and what it logs and serves.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{HEARTBEAT, PATIENCE, wait_for};

/// Path of a workspace binary built next to this test (`cargo test --workspace` builds them).
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the workspace first (cargo test --workspace builds it)",
        path.display()
    );
    path
}

/// Joins a new agent with state dir `state` to the coordinator of data dir `data`.
pub fn join_agent(data: &str, state: &Path) {
    let token = drover_ok(&["token", "create", "--data-dir", data]);
    let joined = drover_agent(&[
        "join",
        token.trim(),
        "--state-dir",
        state.to_str().expect("utf-8"),
    ]);
    assert!(
        joined.status.success(),
        "{}",
        String::from_utf8_lossy(&joined.stderr)
    );
}

/// Starts a joined `drover-agent run` process from `state`, labelled `labels`, with its HTTP
/// listener on a free loopback port and a serving window of 300 ms.
pub fn serving_agent(state: &Path, labels: &str, log: PathBuf) -> Proc {
    let config = state.with_extension("toml");
    std::fs::write(&config, "serving_window = \"300ms\"\n").expect("config");
    Proc::spawn(
        &bin("drover-agent"),
        &[
            "run",
            "--config",
            config.to_str().expect("utf-8"),
            "--state-dir",
            state.to_str().expect("utf-8"),
            "--http",
            "127.0.0.1:0",
            "--labels",
            labels,
        ],
        log,
    )
}

/// A child process killed when dropped, so a failing test leaves nothing running.
pub struct Proc {
    pub child: Child,
    pub log: PathBuf,
}

impl Proc {
    /// Starts `program args`, with stderr to `log`.
    pub fn spawn(program: &Path, args: &[&str], log: PathBuf) -> Self {
        Self::spawn_with_env(program, args, &[], log)
    }

    /// Starts `program args` with extra environment variables, with stderr to `log`.
    pub fn spawn_with_env(
        program: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        log: PathBuf,
    ) -> Self {
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(program)
            .args(args)
            .env("RUST_LOG", "info,quinn=warn")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("process starts");
        Self { child, log }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal by name (`TERM`, `KILL`).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.pid().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits for the process to exit and returns its exit code (`None` when killed by a signal).
    pub async fn wait_exit(&mut self) -> Option<i32> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "process {} did not exit; log:\n{}",
                self.pid(),
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// What the process wrote to stderr so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `drover args` to completion.
pub fn drover(args: &[&str]) -> Output {
    Command::new(bin("drover"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("drover runs")
}

/// Runs `drover` with `args`, which must succeed; its stdout.
pub fn drover_ok(args: &[&str]) -> String {
    let out = drover(args);
    assert!(
        out.status.success(),
        "drover {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Runs `drover-agent args` to completion.
pub fn drover_agent(args: &[&str]) -> Output {
    Command::new(bin("drover-agent"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("drover-agent runs")
}

/// Starts `drover coordinator` on `data_dir` at `listen` and waits until it has recorded its
/// addresses. Returns the process and its QUIC address.
pub async fn spawn_coordinator(data_dir: &Path, listen: &str, log: PathBuf) -> (Proc, SocketAddr) {
    spawn_coordinator_with_env(data_dir, listen, log, &[]).await
}

/// [`spawn_coordinator`] with extra environment variables.
pub async fn spawn_coordinator_with_env(
    data_dir: &Path,
    listen: &str,
    log: PathBuf,
    env: &[(&str, &str)],
) -> (Proc, SocketAddr) {
    let interval = format!("{}ms", HEARTBEAT.as_millis());
    let dir = data_dir.to_str().expect("utf-8 path");
    let proc = Proc::spawn_with_env(
        &bin("drover"),
        &[
            "coordinator",
            "--data-dir",
            dir,
            "--listen",
            listen,
            "--http",
            "127.0.0.1:0",
            "--heartbeat-interval",
            &interval,
        ],
        env,
        log,
    );
    let mut proc = proc;
    let pid = proc.pid();
    let deadline = Instant::now() + PATIENCE;
    let addr = loop {
        if let Some(addr) = drover_coordinator::runfile::read(data_dir)
            .ok()
            .filter(|info| info.pid == pid)
            .and_then(|info| info.quic_addr.parse().ok())
        {
            break addr;
        }
        if let Some(status) = proc.child.try_wait().expect("try_wait") {
            panic!(
                "the coordinator exited ({status}) before it started; log:\n{}",
                proc.log_text()
            );
        }
        assert!(
            Instant::now() < deadline,
            "the coordinator did not record its addresses; log:\n{}",
            proc.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    (proc, addr)
}

/// Parses `drover agents --json` output.
pub fn agents_json(data_dir: &Path) -> Vec<serde_json::Value> {
    let out = drover(&[
        "agents",
        "--json",
        "--data-dir",
        data_dir.to_str().expect("utf-8 path"),
    ]);
    assert!(
        out.status.success(),
        "drover agents failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("agents --json is JSON")
}

/// `(id, status)` of every agent, from `drover agents --json`.
pub fn statuses(data_dir: &Path) -> Vec<(String, String)> {
    agents_json(data_dir)
        .iter()
        .map(|a| {
            (
                a["id"].as_str().unwrap_or_default().to_string(),
                a["status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// A plain HTTP/1.1 GET; returns the whole response, status line first.
pub async fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .await
        .expect("response");
    response
}

/// A plain HTTP/1.1 request with extra header lines and an optional JSON body; returns the
/// status and the body.
pub async fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[&str],
    json: Option<&str>,
) -> (u16, String) {
    let (status, _, body) = http_exchange(addr, method, path, headers, json).await;
    (status, body)
}

/// As [`http_request`], with the answer's headers too (lower-cased names).
pub async fn http_exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[&str],
    json: Option<&str>,
) -> (u16, std::collections::HashMap<String, String>, String) {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    let body = json.unwrap_or("");
    let kind = if json.is_some() {
        "Content-Type: application/json\r\n"
    } else {
        ""
    };
    let extra: String = headers.iter().map(|h| format!("{h}\r\n")).collect();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}{kind}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .await
        .expect("response");
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, body.to_string())
}

/// The feedback token of the agent with state dir `state` (made on its first start).
pub fn feedback_token(state: &Path) -> String {
    let path = state.join(drover_agent::http::FEEDBACK_TOKEN_FILE);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .to_string()
}

/// The address a process logged as `http=ADDR`, once it has.
pub async fn logged_http_addr(proc: &Proc) -> SocketAddr {
    wait_for("the HTTP address in the log", || async {
        let log = proc.log_text();
        let at = log.find("http=")?;
        log[at + 5..].split_whitespace().next()?.parse().ok()
    })
    .await
}

/// A TLS client that trusts only the certificates in `ca_pem`.
pub fn trusting(ca_pem: &[u8]) -> tokio_rustls::TlsConnector {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(cert.expect("pem")).expect("root");
    }
    let config = rustls::ClientConfig::builder_with_provider(drover_protocol::tls::provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
}
