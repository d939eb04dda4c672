//! The MLflow-compatible API on a real coordinator's HTTP listener: error replies over real
//! HTTP, and the official `mlflow` client driving tracking, artifacts and the registry end to
//! end (when `DROVER_MLFLOW_PYTHON` names a Python with `tests/mlflow/requirements.txt`
//! installed, as `.ci/run` arranges), its runs and versions then read back through drover.
//! MLflow 3 scripts are in `mlflow3.rs`.

use drover_protocol::msg::{OperatorRequest, OperatorResponse};
use drover_protocol::run::RunStatus;
use drover_tests::mlflow::{
    API, call, code, create_run, put_artifact, run_script, scripted_coordinator,
};
use drover_tests::{http_request, start_coordinator};
use serde_json::Value;

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
    let Some((python, tmp, _, coordinator)) = scripted_coordinator().await else {
        return;
    };
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
    let run = create_run(addr).await;
    let put = |path: String| async move { put_artifact(addr, &path).await };
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
