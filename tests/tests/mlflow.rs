//! The MLflow-compatible API on a real coordinator's HTTP listener: error replies over real
//! HTTP, and the official `mlflow` client driving tracking, artifacts and the registry end to
//! end, MLflow 2 style and MLflow 3 style (a scikit-learn model logged, registered, loaded by
//! registry URI; autolog), when `DROVER_MLFLOW_PYTHON` names a Python with
//! `tests/mlflow/requirements.txt` installed, as `.ci/run` arranges. What the scripts logged is
//! then read back through drover: runs, versions, lineage, and the HTML run page.

use std::net::SocketAddr;

use drover_protocol::msg::{OperatorRequest, OperatorResponse};
use drover_protocol::run::RunStatus;
use drover_tests::{add_dataset, churn_csv, drover_ok, http_request, start_coordinator};
use serde_json::Value;

const API: &str = "/api/2.0/mlflow";

async fn call(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    let (status, text) = http_request(addr, method, &format!("{API}/{path}"), &[], body).await;
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, json)
}

fn code(reply: &(u16, Value)) -> (u16, &str) {
    (reply.0, reply.1["error_code"].as_str().unwrap_or(""))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_have_the_mlflow_shape_and_status() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let coordinator = start_coordinator(&tmp.path().join("coord")).await;
    let addr = coordinator.http_addr();

    let unknown = call(
        addr,
        "GET",
        "experiments/get-by-name?experiment_name=nope",
        None,
    )
    .await;
    assert_eq!(code(&unknown), (404, "RESOURCE_DOES_NOT_EXIST"));
    let default = call(addr, "GET", "experiments/get?experiment_id=0", None).await;
    assert_eq!(default.1["experiment"]["name"], "Default");
    assert_eq!(
        code(&call(addr, "POST", "no/such/endpoint", Some("{}")).await),
        (404, "ENDPOINT_NOT_FOUND")
    );
    assert_eq!(
        code(&call(addr, "GET", "runs/create", None).await),
        (404, "ENDPOINT_NOT_FOUND"),
        "a wrong method is not a 5xx"
    );
    assert_eq!(
        code(&call(addr, "POST", "runs/create", Some("{not json")).await),
        (400, "INVALID_PARAMETER_VALUE")
    );

    let created = call(
        addr,
        "POST",
        "runs/create",
        Some(r#"{"experiment_id": "0", "start_time": "1700000000000"}"#),
    )
    .await;
    assert_eq!(created.0, 200, "{}", created.1);
    let run = created.1["run"]["info"]["run_id"]
        .as_str()
        .expect("run id")
        .to_string();
    assert_eq!(created.1["run"]["info"]["start_time"], 1_700_000_000_000u64);
    let param = |value: &str| format!(r#"{{"run_id": "{run}", "key": "lr", "value": "{value}"}}"#);
    assert_eq!(
        call(addr, "POST", "runs/log-parameter", Some(&param("0.1")))
            .await
            .0,
        200
    );
    let changed = call(addr, "POST", "runs/log-parameter", Some(&param("0.2"))).await;
    assert_eq!(code(&changed), (400, "INVALID_PARAMETER_VALUE"));
    assert!(
        changed.1["message"].as_str().unwrap_or("").contains("lr"),
        "{}",
        changed.1
    );

    let metric = format!(
        r#"{{"run_id": "{run}", "key": "loss", "value": "NaN", "timestamp": 5, "step": 1}}"#
    );
    assert_eq!(
        call(addr, "POST", "runs/log-metric", Some(&metric)).await.0,
        200
    );
    let got = call(addr, "GET", &format!("runs/get?run_id={run}"), None).await;
    assert_eq!(got.1["run"]["data"]["metrics"][0]["value"], "NaN");

    let missing = format!(
        r#"{{"run_id": "{}", "key": "k", "value": "v"}}"#,
        "0".repeat(32)
    );
    assert_eq!(
        code(&call(addr, "POST", "runs/set-tag", Some(&missing)).await),
        (404, "RESOURCE_DOES_NOT_EXIST")
    );
    let bad_filter = r#"{"experiment_ids": ["0"], "filter": "metrics.loss > '1'"}"#;
    let refused = call(addr, "POST", "runs/search", Some(bad_filter)).await;
    assert_eq!(code(&refused), (400, "INVALID_PARAMETER_VALUE"));
    let too_many: Vec<String> = (0..1001)
        .map(|i| format!(r#"{{"key": "m", "value": {i}, "timestamp": 1, "step": {i}}}"#))
        .collect();
    let batch = format!(
        r#"{{"run_id": "{run}", "metrics": [{}]}}"#,
        too_many.join(",")
    );
    assert_eq!(
        code(&call(addr, "POST", "runs/log-batch", Some(&batch)).await),
        (400, "INVALID_PARAMETER_VALUE")
    );

    // MLflow's own length limits, and steps an int64 cannot hold.
    let long_key = "k".repeat(251);
    let long_value = "v".repeat(8001);
    let oversized = [
        (
            "runs/log-parameter",
            format!(r#"{{"run_id": "{run}", "key": "{long_key}", "value": "1"}}"#),
        ),
        (
            "runs/log-parameter",
            format!(
                r#"{{"run_id": "{run}", "key": "p", "value": "{}"}}"#,
                "v".repeat(6001)
            ),
        ),
        (
            "runs/set-tag",
            format!(r#"{{"run_id": "{run}", "key": "t", "value": "{long_value}"}}"#),
        ),
        (
            "runs/log-metric",
            format!(r#"{{"run_id": "{run}", "key": "{long_key}", "value": 1, "timestamp": 1}}"#),
        ),
        (
            "runs/log-metric",
            format!(
                r#"{{"run_id": "{run}", "key": "m", "value": 1, "timestamp": 1, "step": 1e300}}"#
            ),
        ),
        (
            "runs/log-batch",
            format!(r#"{{"run_id": "{run}", "params": [{{"key": "{long_key}", "value": "1"}}]}}"#),
        ),
        (
            "experiments/create",
            format!(r#"{{"name": "{}"}}"#, "e".repeat(257)),
        ),
    ];
    for (path, body) in &oversized {
        let answer = call(addr, "POST", path, Some(body)).await;
        assert_eq!(
            code(&answer),
            (400, "INVALID_PARAMETER_VALUE"),
            "{path}: {}",
            answer.1
        );
    }
    let got = call(addr, "GET", &format!("runs/get?run_id={run}"), None).await;
    assert_eq!(
        got.1["run"]["data"]["params"].as_array().map(Vec::len),
        Some(1),
        "nothing of it was stored"
    );
    coordinator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_on_file_is_required_from_every_client() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("coord");
    std::fs::create_dir_all(&data).expect("data dir");
    std::fs::write(drover_coordinator::http::token_path(&data), "s3cret\n").expect("token");
    let coordinator = start_coordinator(&data).await;
    let addr = coordinator.http_addr();
    let path = format!("{API}/experiments/get?experiment_id=0");
    for headers in [&[][..], &["Authorization: Bearer wrong"][..]] {
        let (status, body) = http_request(addr, "GET", &path, headers, None).await;
        let body: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(
            (status, body["error_code"].as_str()),
            (401, Some("UNAUTHENTICATED"))
        );
    }
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let header = format!("Authorization: {scheme} s3cret");
        let (status, body) = http_request(addr, "GET", &path, &[&header], None).await;
        assert_eq!(status, 200, "{scheme}: {body}");
    }
    assert_eq!(
        http_request(addr, "GET", "/healthz", &[], None).await.0,
        200
    );
    assert_eq!(
        http_request(addr, "GET", "/metrics", &[], None).await.0,
        401
    );
    coordinator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_client_logs_runs_that_drover_lists() {
    let Some(python) = std::env::var_os("DROVER_MLFLOW_PYTHON") else {
        eprintln!(
            "skipped: set DROVER_MLFLOW_PYTHON to a Python with tests/mlflow/requirements.txt installed (.ci/run does)"
        );
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("coord");
    std::fs::create_dir_all(&data).expect("data dir");
    std::fs::write(drover_coordinator::http::token_path(&data), "e2e-token\n").expect("token");
    let coordinator = start_coordinator(&data).await;
    let uri = format!("http://{}", coordinator.http_addr());
    let lines = run_script(&python, "client_e2e.py", &uri, tmp.path(), &[]).await;
    let ids: Vec<String> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("created "))
        .map(str::to_string)
        .collect();
    assert_eq!(ids.len(), 3);

    let handle = coordinator.handle();
    let OperatorResponse::Runs(runs) = handle
        .request(OperatorRequest::ListRuns(Default::default()))
        .await
    else {
        panic!("no run list")
    };
    for id in &ids {
        let run = runs.iter().find(|r| &r.id == id).expect("listed by drover");
        assert_eq!(
            (run.experiment.as_str(), run.algorithm.as_str()),
            ("mlflow-churn", "mlflow")
        );
    }
    let OperatorResponse::Run(detail) = handle
        .request(OperatorRequest::ShowRun { id: ids[0].clone() })
        .await
    else {
        panic!("no run")
    };
    assert_eq!(detail.summary.status, RunStatus::Succeeded);
    assert!(detail.spec.is_none());
    assert_eq!(detail.tags.get("team").map(String::as_str), Some("growth"));
    assert_eq!(detail.summary.metrics.get("loss"), Some(&(1.0 / 300.0)));

    // Compared side by side as drover compares any runs: the differing param, the metrics.
    let OperatorResponse::Run(other) = handle
        .request(OperatorRequest::ShowRun { id: ids[1].clone() })
        .await
    else {
        panic!("no run")
    };
    let (headers, rows) = drover::present::compare::rows(&[*detail, *other]);
    assert_eq!(headers.len(), 3, "{headers:?}");
    let row = |name: &str| rows.iter().find(|r| r[0] == name).cloned();
    assert_eq!(
        row("learning_rate").map(|r| r[1..].to_vec()),
        Some(vec!["0.1".to_string(), "0.01".to_string()])
    );
    assert!(row("loss").is_some(), "{rows:?}");

    // The version registered through MLflow is a drover model version.
    let OperatorResponse::Models(models) = handle.request(OperatorRequest::ListModels).await else {
        panic!("no model list")
    };
    let model = models
        .iter()
        .find(|m| m.name == "mlflow-churn-model")
        .expect("listed by drover");
    assert_eq!(
        (
            model.versions,
            model.latest_semver.as_str(),
            model.production
        ),
        (2, "1.0.1", Some(1))
    );
    let OperatorResponse::Model(version) = handle
        .request(OperatorRequest::ShowModel(
            "mlflow-churn-model@1".parse().expect("ref"),
        ))
        .await
    else {
        panic!("no version")
    };
    assert_eq!(version.run_id, ids[0]);
    assert!(
        !version.artifact_hash.is_empty(),
        "the source's artifacts are in the store"
    );
    coordinator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn artifact_paths_that_could_escape_or_hide_are_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let coordinator = start_coordinator(&tmp.path().join("coord")).await;
    let addr = coordinator.http_addr();
    let created = call(
        addr,
        "POST",
        "runs/create",
        Some(r#"{"experiment_id": "0"}"#),
    )
    .await;
    let run = created.1["run"]["info"]["run_id"]
        .as_str()
        .expect("run id")
        .to_string();
    let put = |path: String| async move {
        let url = format!("/api/2.0/mlflow-artifacts/artifacts/{path}");
        http_request(addr, "PUT", &url, &[], Some("bytes")).await
    };
    let base = format!("0/{run}/artifacts");
    for bad in ["..%5C..%5Cx", "a%00b", "line%0Abreak", "tab%09x"] {
        let (status, body) = put(format!("{base}/{bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body.contains("INVALID_PARAMETER_VALUE"), "{body}");
    }
    let (status, body) = put(format!("1/{run}/artifacts/model.pkl")).await;
    assert_eq!(status, 400, "another experiment's URI: {body}");
    assert!(body.contains("belongs to experiment 0"), "{body}");

    assert_eq!(put(format!("{base}/model/weights.bin")).await.0, 200);
    let (status, body) = put(format!("{base}/model")).await;
    assert_eq!(status, 400, "a file over a folder: {body}");
    assert_eq!(put(format!("{base}/notes.txt")).await.0, 200);
    let (status, body) = put(format!("{base}/notes.txt/inner")).await;
    assert_eq!(status, 400, "a folder under a file: {body}");
    let listing = http_request(
        addr,
        "GET",
        &format!("/api/2.0/mlflow-artifacts/artifacts?path={base}"),
        &[],
        None,
    )
    .await
    .1;
    let listing: Value = serde_json::from_str(&listing).expect("json");
    let names: Vec<&str> = listing["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter_map(|f| f["path"].as_str())
        .collect();
    assert_eq!(names, ["model", "notes.txt"]);
    coordinator.stop().await;
}

/// Runs `script` with the test Python against the coordinator at `uri`; its stdout lines.
async fn run_script(
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
            .env("MLFLOW_TRACKING_TOKEN", "e2e-token")
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

fn printed<'a>(lines: &'a [String], label: &str) -> &'a str {
    lines
        .iter()
        .find_map(|l| l.strip_prefix(label)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("the script printed no {label}: {lines:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mlflow3_script_logs_registers_and_loads_a_sklearn_model_drover_traces() {
    let Some(python) = std::env::var_os("DROVER_MLFLOW_PYTHON") else {
        eprintln!(
            "skipped: set DROVER_MLFLOW_PYTHON to a Python with tests/mlflow/requirements.txt installed (.ci/run does)"
        );
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("coord");
    std::fs::create_dir_all(&data).expect("data dir");
    std::fs::write(drover_coordinator::http::token_path(&data), "e2e-token\n").expect("token");
    let coordinator = start_coordinator(&data).await;
    let csv = churn_csv(400, 11);
    add_dataset(&data, "churn", &csv).await;
    let handle = coordinator.handle();
    let OperatorResponse::Dataset(dataset) = handle
        .request(OperatorRequest::ShowDataset(
            "churn@1".parse().expect("ref"),
        ))
        .await
    else {
        panic!("no dataset")
    };
    let csv_path = tmp.path().join("churn.csv");
    std::fs::write(&csv_path, &csv).expect("csv");
    let uri = format!("http://{}", coordinator.http_addr());
    let lines = run_script(
        &python,
        "mlflow3_e2e.py",
        &uri,
        tmp.path(),
        &[
            ("DROVER_DATASET_CSV", csv_path.to_str().expect("utf-8")),
            ("DROVER_DATASET_HASH", &dataset.hash),
        ],
    )
    .await;
    let (run, model) = (printed(&lines, "run"), printed(&lines, "model"));

    // The registered version is a drover model version: its files as one hash in the store,
    // with lineage to the run and to the drover dataset the script named by digest.
    let OperatorResponse::Model(version) = handle
        .request(OperatorRequest::ShowModel(
            "demo-model@1".parse().expect("ref"),
        ))
        .await
    else {
        panic!("no version")
    };
    assert_eq!(version.run_id, run);
    assert_eq!(
        (version.dataset.as_str(), version.dataset_hash.as_str()),
        ("churn@1", dataset.hash.as_str())
    );
    let hash = &version.artifact_hash;
    let manifest = std::fs::read_to_string(data.join("artifacts").join(&hash[..2]).join(hash))
        .expect("the version's artifact is a blob in the store: its files' manifest");
    assert!(
        manifest.contains("MLmodel\t") && manifest.contains("model.skops\t"),
        "{manifest}"
    );
    assert!(version.metrics.contains_key("accuracy"), "{version:?}");

    let OperatorResponse::RunLineage(lineage) = handle
        .request(OperatorRequest::RunLineage { id: run.into() })
        .await
    else {
        panic!("no lineage")
    };
    assert_eq!(lineage.inputs.len(), 1);
    assert_eq!(
        (
            lineage.inputs[0].context.as_str(),
            lineage.inputs[0].dataset.as_deref()
        ),
        ("training", Some("churn@1"))
    );
    assert_eq!(lineage.outputs.len(), 1);
    let output = &lineage.outputs[0];
    assert_eq!(
        (output.model_id.as_str(), output.status.as_str()),
        (model, "READY")
    );
    assert_eq!(output.artifact_hash, version.artifact_hash);
    assert_eq!(output.registered, ["demo-model@1", "demo-model@3"]);

    // `drover runs show` names the input, its digest and the dataset it is, and the model.
    let d = data.to_str().expect("utf-8").to_string();
    let show = {
        let run = run.to_string();
        tokio::task::spawn_blocking(move || drover_ok(&["runs", "show", &run, "--data-dir", &d]))
            .await
            .expect("drover runs show")
    };
    let digest = &dataset.hash[..16];
    assert!(
        show.contains(&format!(
            "input (training): churn digest {digest}  = drover dataset churn@1"
        )),
        "{show}"
    );
    assert!(
        show.contains(&format!("logged model {model} model READY")),
        "{show}"
    );

    // The run link the client prints leads to a page of the run.
    let auth = "Authorization: Bearer e2e-token";
    let (status, index) = http_request(coordinator.http_addr(), "GET", "/", &[auth], None).await;
    assert_eq!(status, 200);
    assert!(index.contains("mlflow3-renamed"), "{index}");
    let experiment = index
        .split("href=\"/experiments/")
        .nth(2)
        .and_then(|rest| rest.split('"').next())
        .expect("the experiment's link");
    let path = format!("/experiments/{experiment}/runs/{run}");
    let (status, page) = http_request(coordinator.http_addr(), "GET", &path, &[auth], None).await;
    assert_eq!(status, 200, "{page}");
    for expected in [
        format!("drover runs show {run}"),
        "max_iter".to_string(),
        "accuracy".to_string(),
        "churn@1".to_string(),
        format!("{model}/artifacts/MLmodel"),
        "demo-model@1".to_string(),
    ] {
        assert!(page.contains(&expected), "{expected} not in {page}");
    }
    let (status, _) = http_request(coordinator.http_addr(), "GET", "/", &[], None).await;
    assert_eq!(status, 401, "the pages need the token like the API");
    coordinator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mlflow3_requests_with_bad_input_get_clear_errors_and_change_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let coordinator = start_coordinator(&tmp.path().join("coord")).await;
    let addr = coordinator.http_addr();
    let run = call(
        addr,
        "POST",
        "runs/create",
        Some(r#"{"experiment_id": "0"}"#),
    )
    .await;
    let run = run.1["run"]["info"]["run_id"]
        .as_str()
        .expect("run")
        .to_string();
    let other = call(
        addr,
        "POST",
        "experiments/create",
        Some(r#"{"name": "other"}"#),
    )
    .await;
    assert_eq!(other.0, 200);

    let refused = [
        (
            "POST",
            "logged-models",
            r#"{"experiment_id": "99"}"#.to_string(),
            (404, "RESOURCE_DOES_NOT_EXIST"),
        ),
        (
            "POST",
            "logged-models",
            format!(
                r#"{{"experiment_id": "0", "source_run_id": "{}"}}"#,
                "f".repeat(32)
            ),
            (404, "RESOURCE_DOES_NOT_EXIST"),
        ),
        (
            "GET",
            "logged-models/m-nope",
            String::new(),
            (404, "RESOURCE_DOES_NOT_EXIST"),
        ),
        (
            "POST",
            "logged-models/search",
            r#"{"experiment_ids": ["0"], "filter": "metrics.acc > 'x'"}"#.to_string(),
            (400, "INVALID_PARAMETER_VALUE"),
        ),
        (
            "POST",
            "runs/log-inputs",
            format!(r#"{{"run_id": "{run}", "datasets": [{{"dataset": {{"name": "d"}}}}]}}"#),
            (400, "INVALID_PARAMETER_VALUE"),
        ),
        (
            "POST",
            "runs/log-inputs",
            format!(
                r#"{{"run_id": "{run}", "datasets": [{{"dataset": {{"name": "d", "digest": "{}"}}}}]}}"#,
                "a".repeat(37)
            ),
            (400, "INVALID_PARAMETER_VALUE"),
        ),
        (
            "POST",
            "runs/log-inputs",
            format!(r#"{{"run_id": "{}", "datasets": []}}"#, "f".repeat(32)),
            (404, "RESOURCE_DOES_NOT_EXIST"),
        ),
        (
            "POST",
            "runs/outputs",
            format!(r#"{{"run_id": "{run}", "models": [{{"model_id": "m-nope"}}]}}"#),
            (404, "RESOURCE_DOES_NOT_EXIST"),
        ),
        (
            "GET",
            "registered-models/search?filter=name%20%3E%20%27a%27",
            String::new(),
            (400, "INVALID_PARAMETER_VALUE"),
        ),
        (
            "GET",
            "model-versions/get-download-uri?name=nope&version=1",
            String::new(),
            (404, "RESOURCE_DOES_NOT_EXIST"),
        ),
        (
            "POST",
            "registered-models/rename",
            r#"{"name": "nope", "new_name": "x"}"#.to_string(),
            (404, "RESOURCE_DOES_NOT_EXIST"),
        ),
        (
            "POST",
            "experiments/update",
            r#"{"experiment_id": "0", "new_name": "other"}"#.to_string(),
            (400, "RESOURCE_ALREADY_EXISTS"),
        ),
        (
            "PATCH",
            "model-versions/update",
            r#"{"name": "nope", "version": "1", "description": "x"}"#.to_string(),
            (404, "RESOURCE_DOES_NOT_EXIST"),
        ),
    ];
    for (method, path, body, expected) in &refused {
        let body = (!body.is_empty()).then_some(body.as_str());
        let answer = call(addr, method, path, body).await;
        assert_eq!(code(&answer), *expected, "{method} {path}: {}", answer.1);
        assert!(!answer.1["message"].as_str().unwrap_or("").is_empty());
    }
    let inputs = call(addr, "GET", &format!("runs/get?run_id={run}"), None).await;
    assert_eq!(
        inputs.1["run"]["inputs"],
        serde_json::json!({}),
        "no input was kept"
    );

    // A logged model: its files only under its own experiment, finalized only READY or
    // UPLOAD_FAILED, and gone for good once deleted.
    let created = call(
        addr,
        "POST",
        "logged-models",
        Some(&format!(
            r#"{{"experiment_id": "0", "source_run_id": "{run}"}}"#
        )),
    )
    .await;
    assert_eq!(created.0, 200, "{}", created.1);
    let id = created.1["model"]["info"]["model_id"]
        .as_str()
        .expect("id")
        .to_string();
    assert_eq!(created.1["model"]["info"]["status"], "LOGGED_MODEL_PENDING");
    let put = |path: String| async move {
        http_request(
            addr,
            "PUT",
            &format!("/api/2.0/mlflow-artifacts/artifacts/{path}"),
            &[],
            Some("bytes"),
        )
        .await
    };
    let (status, body) = put(format!("1/models/{id}/artifacts/MLmodel")).await;
    assert_eq!(status, 400, "another experiment's path: {body}");
    assert!(body.contains("belongs to experiment 0"), "{body}");
    assert_eq!(
        put(format!("0/models/{id}/artifacts")).await.0,
        400,
        "a path naming no file"
    );
    assert_eq!(put(format!("0/models/{id}/artifacts/MLmodel")).await.0, 200);
    let bogus = call(
        addr,
        "PATCH",
        &format!("logged-models/{id}"),
        Some(r#"{"status": "BOGUS"}"#),
    )
    .await;
    assert_eq!(code(&bogus), (400, "INVALID_PARAMETER_VALUE"));
    let ready = call(
        addr,
        "PATCH",
        &format!("logged-models/{id}"),
        Some(r#"{"status": "LOGGED_MODEL_READY"}"#),
    )
    .await;
    assert_eq!(
        ready.1["model"]["info"]["status"], "LOGGED_MODEL_READY",
        "{}",
        ready.1
    );
    assert_eq!(
        call(addr, "DELETE", &format!("logged-models/{id}"), None)
            .await
            .0,
        200
    );
    assert_eq!(
        code(&call(addr, "GET", &format!("logged-models/{id}"), None).await),
        (404, "RESOURCE_DOES_NOT_EXIST")
    );
    let kept = call(
        addr,
        "GET",
        &format!("logged-models/{id}?allow_deleted=true"),
        None,
    )
    .await;
    assert_eq!(
        kept.0, 200,
        "a deleted model is still there for allow_deleted"
    );
    assert_eq!(
        put(format!("0/models/{id}/artifacts/more")).await.0,
        404,
        "no files for a deleted model"
    );
    coordinator.stop().await;
}
