//! The model registry fed by real training runs: a run that passes its gates registers a
//! version with lineage; stages, the production hand-over and aliases; a run that fails its
//! gates registers nothing.

use drover_coordinator::CoordinatorHandle;
use drover_protocol::msg::{OperatorRequest, OperatorResponse};
use drover_protocol::registry::{ModelRef, ModelVersion, Stage};
use drover_protocol::run::RunDetail;
use drover_tests::{InProcessAgent, add_dataset, churn_csv, finished, start_coordinator, submit};

const SPEC: &str = r#"
experiment = "churn"
model = "churn"
dataset = "churn@latest"
target = "churned"
task = "classification"
algorithm = "gaussian_nb"
seed = 3
cv_folds = 3
[gates]
min = { accuracy = 0.6 }
"#;

async fn train(handle: &CoordinatorHandle, spec: &str) -> Option<String> {
    finished(handle, &submit(handle, spec).await.expect("queued"))
        .await
        .registered
}

async fn model(
    handle: &CoordinatorHandle,
    request: OperatorRequest,
) -> Result<ModelVersion, String> {
    match handle.request(request).await {
        OperatorResponse::Model(v) => Ok(*v),
        OperatorResponse::Error(e) => Err(e.message),
        other => panic!("unexpected {other:?}"),
    }
}

fn reference(text: &str) -> ModelRef {
    text.parse().expect("reference")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passing_runs_register_versions_that_move_through_stages() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("coord");
    let coordinator = start_coordinator(&data).await;
    let handle = coordinator.handle();
    let agent = InProcessAgent::join_and_run(&handle, tmp.path().join("agent"), "trainer").await;
    add_dataset(&data, "churn", &churn_csv(800, 1)).await;

    assert_eq!(train(&handle, SPEC).await.as_deref(), Some("churn@1"));
    let v1 = model(&handle, OperatorRequest::ShowModel(reference("churn@1")))
        .await
        .expect("registered");
    assert_eq!(
        (v1.semver.as_str(), v1.stage, v1.dataset.as_str()),
        ("1.0.0", Stage::None, "churn@1")
    );
    assert!(v1.run_id.starts_with("run-") && v1.metrics["accuracy"] >= 0.6);

    let failing = SPEC.replace("accuracy = 0.6", "accuracy = 0.999");
    assert_eq!(
        train(&handle, &failing).await,
        None,
        "a run that fails its gates registers nothing"
    );

    assert_eq!(
        train(&handle, &SPEC.replace("seed = 3", "seed = 4"))
            .await
            .as_deref(),
        Some("churn@2")
    );
    let v2 = model(&handle, OperatorRequest::ShowModel(reference("churn")))
        .await
        .expect("latest");
    assert_eq!(
        (v2.version, v2.semver.as_str()),
        (2, "1.0.1"),
        "same data and features: a patch"
    );

    let promote = |r: &str, stage| OperatorRequest::PromoteModel {
        model: reference(r),
        stage,
    };
    assert_eq!(
        model(&handle, promote("churn@1", Stage::Production))
            .await
            .expect("promoted")
            .stage,
        Stage::Production
    );
    assert_eq!(
        model(&handle, promote("churn@2", Stage::Production))
            .await
            .expect("promoted")
            .stage,
        Stage::Production
    );
    let v1 = model(&handle, OperatorRequest::ShowModel(reference("churn@1")))
        .await
        .expect("v1");
    assert_eq!(
        v1.stage,
        Stage::Archived,
        "the previous production version is archived"
    );

    let alias = OperatorRequest::SetAlias {
        model: reference("churn@2"),
        alias: "champion".into(),
    };
    assert_eq!(
        model(&handle, alias).await.expect("aliased").aliases,
        vec!["champion"]
    );
    assert_eq!(
        model(
            &handle,
            OperatorRequest::ShowModel(reference("churn@champion"))
        )
        .await
        .expect("by alias")
        .version,
        2
    );
    let err = model(&handle, OperatorRequest::ShowModel(reference("churn@7")))
        .await
        .expect_err("missing");
    assert!(err.contains("versions 1 to 2"), "{err}");
    let OperatorResponse::Models(list) = handle.request(OperatorRequest::ListModels).await else {
        panic!("no list")
    };
    assert_eq!(
        (list[0].latest, list[0].production, list[0].versions),
        (2, Some(2), 2)
    );

    agent.stop().await.expect("clean stop");
    coordinator.stop().await;
}

async fn detail(handle: &CoordinatorHandle, spec: &str) -> RunDetail {
    finished(handle, &submit(handle, spec).await.expect("queued")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fairness_and_no_regression_gates_report_their_numbers() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("coord");
    let coordinator = start_coordinator(&data).await;
    let handle = coordinator.handle();
    let agent = InProcessAgent::join_and_run(&handle, tmp.path().join("agent"), "trainer").await;
    add_dataset(&data, "churn", &churn_csv(1500, 2)).await;

    // Fairness on the sensitive column, which the model does not see.
    let fair = SPEC.replace("seed = 3", "seed = 3\nexclude = [\"gender\"]").replace(
        "min = { accuracy = 0.6 }",
        "min = { accuracy = 0.6 }\nsensitive = \"gender\"\nmax = { demographic_parity_diff = 0.2, equal_opportunity_diff = 0.2 }",
    );
    let run = detail(&handle, &fair).await;
    assert_eq!(
        run.summary.gates_passed,
        Some(true),
        "{:?} {:?}",
        run.gate_failures,
        run.summary.metrics
    );
    let parity = run.summary.metrics["demographic_parity_diff"];
    assert!(
        (0.0..0.2).contains(&parity),
        "gender has no effect on churn: {parity}"
    );
    let strict = detail(
        &handle,
        &fair.replace(
            "demographic_parity_diff = 0.2",
            "demographic_parity_diff = 0.0",
        ),
    )
    .await;
    assert_eq!(strict.summary.gates_passed, Some(false));
    assert!(
        strict
            .gate_failures
            .iter()
            .any(|f| f.contains("demographic_parity_diff")),
        "{:?}",
        strict.gate_failures
    );

    // A production version, then a weaker candidate that must not regress from it.
    let production = run.registered.expect("registered");
    let promote = OperatorRequest::PromoteModel {
        model: reference(&production),
        stage: Stage::Production,
    };
    model(&handle, promote).await.expect("promoted");
    let weak = SPEC
        .replace("gaussian_nb", "decision_tree")
        .replace("seed = 3", "seed = 3\nfeatures = [\"gender\"]")
        .replace(
            "min = { accuracy = 0.6 }",
            "no_regression = { metric = \"accuracy\", tolerance = 0.0 }",
        );
    let candidate = detail(&handle, &weak).await;
    let m = &candidate.summary.metrics;
    assert!(
        m.contains_key("baseline_accuracy") && m.contains_key("paired_p_value"),
        "{m:?}"
    );
    assert_eq!(candidate.summary.gates_passed, Some(false), "{m:?}");
    assert!(
        candidate.gate_failures[0].contains("regresses from production")
            && candidate.gate_failures[0].contains("p = "),
        "{:?}",
        candidate.gate_failures
    );
    assert_eq!(candidate.registered, None);

    agent.stop().await.expect("clean stop");
    coordinator.stop().await;
}
