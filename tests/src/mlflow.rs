//! Driving drover's MLflow API: raw JSON calls with their MLflow error code, and the
//! official client's scripts in `tests/mlflow/` run with the test Python.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;

use drover_coordinator::Coordinator;

use serde_json::Value;

use crate::{http_request, start_coordinator};

/// The bearer token the script tests put on file and give the client.
pub const TOKEN: &str = "e2e-token";

/// What a script test needs: the test Python, a temporary dir, and a coordinator on
/// `<dir>/coord` whose HTTP listener wants [`TOKEN`]. `None` (the test says it is skipped)
/// when `DROVER_MLFLOW_PYTHON` names no Python.
pub async fn scripted_coordinator() -> Option<(OsString, tempfile::TempDir, PathBuf, Coordinator)> {
    let Some(python) = std::env::var_os("DROVER_MLFLOW_PYTHON") else {
        eprintln!(
            "skipped: set DROVER_MLFLOW_PYTHON to a Python with tests/mlflow/requirements.txt installed (.ci/run does)"
        );
        return None;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("coord");
    std::fs::create_dir_all(&data).expect("data dir");
    let token = drover_coordinator::http::token_path(&data);
    std::fs::write(token, format!("{TOKEN}\n")).expect("token");
    let coordinator = start_coordinator(&data).await;
    Some((python, tmp, data, coordinator))
}

/// The prefix of MLflow's REST API.
pub const API: &str = "/api/2.0/mlflow";

/// `method API/path` with a JSON `body`; the status and the JSON reply (`null` when none).
pub async fn call(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    let (status, text) = http_request(addr, method, &format!("{API}/{path}"), &[], body).await;
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, json)
}

/// A new run in the Default experiment, by raw HTTP; its id.
pub async fn create_run(addr: SocketAddr) -> String {
    let created = call(
        addr,
        "POST",
        "runs/create",
        Some(r#"{"experiment_id": "0"}"#),
    )
    .await;
    created.1["run"]["info"]["run_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no run created: {}", created.1))
        .to_string()
}

/// A file `path` uploaded through the proxied artifact routes: the status and the reply.
pub async fn put_artifact(addr: SocketAddr, path: &str) -> (u16, String) {
    let url = format!("/api/2.0/mlflow-artifacts/artifacts/{path}");
    http_request(addr, "PUT", &url, &[], Some("bytes")).await
}

/// The status and MLflow `error_code` of a reply.
pub fn code(reply: &(u16, Value)) -> (u16, &str) {
    (reply.0, reply.1["error_code"].as_str().unwrap_or(""))
}

/// Runs `script` with the test Python against the coordinator at `uri`; its stdout lines.
pub async fn run_script(
    python: &std::ffi::OsStr,
    script: &str,
    uri: &str,
    dir: &std::path::Path,
    env: &[(&str, &str)],
) -> Vec<String> {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("mlflow")
        .join(script);
    let output = tokio::time::timeout(
        std::time::Duration::from_secs(240),
        tokio::process::Command::new(python)
            .arg(&script)
            .env("MLFLOW_TRACKING_URI", uri)
            .env("MLFLOW_TRACKING_TOKEN", TOKEN)
            .env("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
            .env("MLFLOW_DISABLE_TELEMETRY", "true")
            .envs(env.iter().copied())
            .current_dir(dir)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the script ends in time")
    .expect("python runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

pub fn printed<'a>(lines: &'a [String], label: &str) -> &'a str {
    lines
        .iter()
        .find_map(|l| l.strip_prefix(label)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("the script printed no {label}: {lines:?}"))
}
