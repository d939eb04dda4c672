//! Helpers of the rollout tests: a quick canary spec, a shuffled-label table, `drover load`
//! runs that assert no request failed, and readers of `drover rollout status`,
//! `drover deployments` and `drover models show`.

use std::net::SocketAddr;

use serde_json::Value;

use crate::{drover, drover_ok, wait_for};

/// A quick canary: steps of 20, 50 and 100%, a second per step at least, an accuracy
/// tolerance wide enough for a few thousand requests to decide.
pub const SPEC: &str = r#"
steps = [20, 50, 100]
step_duration = "1s"
step_samples = 200
step_deadline = "2m"
min_feedback = 200
guard = "2s"
[tolerances]
accuracy = 0.05
"#;

/// The churn table with its `churned` column shuffled, as the demo makes it: a model
/// trained on it learns nothing.
pub fn shuffled(csv: &[u8]) -> Vec<u8> {
    drover::cli::demo::story::shuffled(csv).expect("a churn table")
}

/// Waits until the agent at `http` serves `churn`.
pub async fn served(http: SocketAddr) {
    model_served(http, "churn").await;
}

/// Waits until the agent at `http` serves `model`.
pub async fn model_served(http: SocketAddr, model: &str) {
    let path = format!("/v2/models/{model}/ready");
    wait_for(&format!("{model} to be served"), || async {
        let (status, _) = crate::http_request(http, "GET", &path, &[], None).await;
        (status == 200).then_some(())
    })
    .await;
}

/// `drover rollout start churn --candidate N` with `extra` arguments, on data dir `data`.
pub fn start(data: &str, candidate: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "rollout",
        "start",
        "churn",
        "--candidate",
        candidate,
        "--data-dir",
        data,
    ];
    args.extend_from_slice(extra);
    drover(&args)
}

/// The stdout of a `drover` run that must have succeeded.
pub fn ok(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The newest rollout of `model` as `drover rollout status MODEL --json` reports it.
pub fn rollout(data: &str, model: &str) -> Value {
    let out = drover_ok(&["rollout", "status", model, "--json", "--data-dir", data]);
    let list: Value = serde_json::from_str(&out).expect("json");
    list[0].clone()
}

/// Runs `drover load` with feedback against `http` for `seconds`; asserts no request failed
/// and returns the report. Requests carry no stickiness key, as in the demo: split by key, the
/// 300 rows replayed would give the candidate a fixed tenth of them, whose accuracy differs
/// from the whole table's by chance (which tenth depends on the key hash).
pub async fn load((http, feedback_token): (SocketAddr, &str), data: &str, seconds: u32) -> Value {
    let labelled = [
        "--data",
        "churn@1",
        "--feedback",
        "--feedback-token",
        feedback_token,
        "--data-dir",
        data,
    ];
    load_with(http, seconds, &labelled).await
}

/// Runs `drover load` of one synthetic row, with no key, against `http` for `seconds` at 200
/// requests a second (it needs no coordinator, and leaves the distribution of predictions
/// the analysis sees nearly as it was); asserts no request failed and returns the report.
pub async fn load_synthetic(http: SocketAddr, seconds: u32) -> Value {
    load_with(http, seconds, &["--rps", "200"]).await
}

pub async fn load_with(http: SocketAddr, seconds: u32, extra: &[&str]) -> Value {
    let url = format!("http://{http}");
    let duration = format!("{seconds}s");
    let mut args: Vec<String> = [
        "load",
        &url,
        "--model",
        "churn",
        "--duration",
        &duration,
        "--concurrency",
        "4",
        "--json",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    args.extend(extra.iter().map(|a| a.to_string()));
    let out = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        drover_ok(&args)
    })
    .await
    .expect("load");
    let report: Value = serde_json::from_str(&out).expect("json");
    let statuses: Vec<&String> = report["statuses"]
        .as_object()
        .expect("statuses")
        .keys()
        .collect();
    assert_eq!(statuses, ["200"], "no request failed: {report}");
    report
}

/// Drives load (with feedback, which takes the agent's token) until the rollout of `model` is
/// over; returns it.
pub async fn until_over(agent: (SocketAddr, &str), data: &str, model: &str) -> Value {
    for _ in 0..30 {
        load(agent, data, 2).await;
        let r = rollout(data, model);
        let phase = &r["rollout"]["phase"];
        if phase == "Succeeded" || phase.get("RolledBack").is_some() {
            return r;
        }
        assert!(phase.get("Paused").is_none(), "the rollout paused: {r}");
    }
    panic!("the rollout did not end: {}", rollout(data, model));
}

/// The versions `drover deployments --json` has on `model`, as (version, weight).
pub fn variants(data: &str, model: &str) -> Vec<(u64, u64)> {
    let out = drover_ok(&["deployments", "--json", "--data-dir", data]);
    let list: Value = serde_json::from_str(&out).expect("json");
    list.as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["deployment"]["model"] == model)
        .flat_map(|d| {
            d["deployment"]["variants"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|v| {
            (
                v["version"].as_u64().unwrap_or(0),
                v["weight"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

pub fn stage(data: &str, reference: &str) -> String {
    let out = drover_ok(&["models", "show", reference, "--json", "--data-dir", data]);
    let version: Value = serde_json::from_str(&out).expect("json");
    version["stage"].as_str().unwrap_or_default().to_string()
}

pub fn actions(r: &Value) -> Vec<String> {
    r["decisions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| match &d["action"] {
            Value::String(s) => s.clone(),
            other => other
                .as_object()
                .and_then(|o| o.keys().next().cloned())
                .unwrap_or_default(),
        })
        .collect()
}

pub async fn train(handle: &drover_coordinator::CoordinatorHandle, spec: &str, expect: &str) {
    let run = crate::submit(handle, spec).await.expect("queued");
    let trained = crate::finished(handle, &run).await;
    assert_eq!(trained.registered.as_deref(), Some(expect), "{trained:?}");
}

/// The versions that answered in a `drover load` report.
pub fn versions(report: &Value) -> Vec<String> {
    report["versions"]
        .as_object()
        .map(|v| v.keys().cloned().collect())
        .unwrap_or_default()
}

/// Waits for `reference` to be registered.
pub async fn registered(data: &str, reference: &str) {
    wait_for(&format!("{reference} to be registered"), || async {
        drover(&["models", "show", reference, "--data-dir", data])
            .status
            .success()
            .then_some(())
    })
    .await;
}
