//! The seed's quick start, its deploy half: a model logged through the MLflow API (a model
//! folder with an `MLmodel` file naming its flavors) registers as a version, and deploying
//! it, or rolling it out, is refused up front (exit 2), naming its flavors, with nothing
//! deployed, rather than "deployed" and then failing on every agent.

use drover_tests::http_request;
use drover_tests::mlflow::{call, create_run};
use drover_tests::procs::drover;

const MLMODEL: &str = "artifact_path: model
flavors:
  python_function:
    data: model.xgb
    loader_module: mlflow.xgboost
    python_version: 3.12.3
  xgboost:
    code: null
    data: model.xgb
    model_class: xgboost.sklearn.XGBClassifier
    model_format: xgb
    xgb_version: 2.1.4
mlflow_version: 3.17.2
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_logged_through_mlflow_is_refused_at_deploy_naming_its_flavors() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("coord");
    let coordinator = drover_tests::start_coordinator(&data).await;
    let addr = coordinator.http_addr();
    let run = create_run(addr).await;
    for (file, body) in [("MLmodel", MLMODEL), ("model.xgb", "{\"learner\": {}}")] {
        let url = format!("/api/2.0/mlflow-artifacts/artifacts/0/{run}/artifacts/model/{file}");
        let (status, reply) = http_request(addr, "PUT", &url, &[], Some(body)).await;
        assert_eq!(status, 200, "{reply}");
    }
    let created = call(
        addr,
        "POST",
        "registered-models/create",
        Some(r#"{"name": "skl-churn"}"#),
    )
    .await;
    assert_eq!(created.0, 200, "{}", created.1);
    let source = format!("runs:/{run}/model");
    let body = serde_json::json!({ "name": "skl-churn", "source": source, "run_id": run });
    let version = call(
        addr,
        "POST",
        "model-versions/create",
        Some(&body.to_string()),
    )
    .await;
    assert_eq!(version.0, 200, "{}", version.1);

    let d = data.to_str().expect("utf-8").to_string();
    let out = drover(&["models", "deploy", "skl-churn@1", "--data-dir", &d]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("skl-churn@1 is an MLflow model (flavors: python_function, xgboost)")
            && stderr.contains("nothing was deployed"),
        "{stderr}"
    );
    let listed = drover(&["deployments", "--json", "--data-dir", &d]);
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("json");
    assert_eq!(listed, serde_json::json!([]), "nothing was deployed");
}
