//! MLflow 3 scripts against a real coordinator: a scikit-learn model trained on a drover
//! dataset, logged and registered in one call, loaded by registry URI, autologged, searched
//! and edited through the official client (when `DROVER_MLFLOW_PYTHON` names a Python with
//! `tests/mlflow/requirements.txt`, as `.ci/run` arranges), then read back through drover:
//! the version's lineage and manifest, `drover runs show`, and the run's HTML page. And the
//! refusals of bad MLflow 3 requests over raw HTTP.

use drover_protocol::msg::{OperatorRequest, OperatorResponse};
use drover_tests::mlflow::{
    TOKEN, call, code, create_run, printed, put_artifact, run_script, scripted_coordinator,
};
use drover_tests::{add_dataset, churn_csv, drover_ok, http_request, start_coordinator};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mlflow3_script_logs_registers_and_loads_a_sklearn_model_drover_traces() {
    let Some((python, tmp, data, coordinator)) = scripted_coordinator().await else {
        return;
    };
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
    let auth = format!("Authorization: Bearer {TOKEN}");
    let auth = auth.as_str();
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
    let run = create_run(addr).await;
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
    let put = |path: String| async move { put_artifact(addr, &path).await };
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
