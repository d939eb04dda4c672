//! Reactions survive SIGKILL: a real `drover coordinator` process, with reactions held, is
//! killed right after two causes are stored (a run that passed its gates, a new version of a
//! dataset a schedule retrains on). Restarted, it registers the model and queues the retrain,
//! each exactly once.

use std::path::Path;

use drover::client::OperatorClient;
use drover_protocol::msg::{OperatorRequest, OperatorResponse};
use drover_protocol::registry::ModelVersion;
use drover_protocol::run::{RunFilter, RunStatus, RunSummary};
use drover_protocol::spec::TrainSpec;
use drover_tests::{
    Proc, add_dataset, bin, churn_csv, drover, drover_agent, quick_spec,
    spawn_coordinator_with_env, wait_for,
};

const HOLD: (&str, &str) = ("DROVER_FAULT_HOLD_REACTIONS", "1");

async fn client(data: &Path) -> OperatorClient {
    OperatorClient::for_data_dir(data, None)
        .await
        .expect("operator client")
}

async fn runs(data: &Path) -> Vec<RunSummary> {
    let client = client(data).await;
    let answer = client
        .request(&OperatorRequest::ListRuns(RunFilter::default()))
        .await
        .expect("list runs");
    client.close().await;
    match answer {
        OperatorResponse::Runs(runs) => runs,
        other => panic!("unexpected {other:?}"),
    }
}

async fn versions(data: &Path) -> Vec<ModelVersion> {
    let client = client(data).await;
    let answer = client
        .request(&OperatorRequest::ListModelVersions {
            model: "churn".into(),
        })
        .await
        .expect("list versions");
    client.close().await;
    match answer {
        OperatorResponse::ModelVersions(list) => list,
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reactions_to_causes_stored_before_a_sigkill_happen_after_restart() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("coord");
    let data_s = data.to_str().expect("utf-8").to_string();
    let (coordinator, addr) =
        spawn_coordinator_with_env(&data, "127.0.0.1:0", tmp.path().join("coord.log"), &[HOLD])
            .await;

    let token = drover(&["token", "create", "--data-dir", &data_s]);
    assert!(token.status.success(), "{token:?}");
    let token = String::from_utf8(token.stdout).expect("utf-8");
    let state = tmp.path().join("agent");
    let state_s = state.to_str().expect("utf-8");
    let joined = drover_agent(&["join", token.trim(), "--state-dir", state_s]);
    assert!(joined.status.success(), "{joined:?}");
    let _agent = Proc::spawn(
        &bin("drover-agent"),
        &["run", "--state-dir", state_s, "--http", "off"],
        tmp.path().join("agent.log"),
    );

    // Cause 1: a run that passes its gates. Its registration is held.
    add_dataset(&data, "churn", &churn_csv(300, 7)).await;
    let spec = format!(
        "{}retrain_on_new_data = true\n[gates]\nmin = {{ accuracy = 0.5 }}\n",
        quick_spec("reactions")
    );
    let spec = TrainSpec::from_toml(&spec).expect("spec");
    let submitted = client(&data)
        .await
        .request(&OperatorRequest::SubmitRun(Box::new(spec)))
        .await
        .expect("submit");
    let OperatorResponse::RunQueued(first) = submitted else {
        panic!("unexpected {submitted:?}");
    };
    wait_for("the first run to pass its gates", || async {
        let runs = runs(&data).await;
        runs.iter()
            .any(|r| r.id == first.id && r.status == RunStatus::Succeeded)
            .then_some(())
    })
    .await;
    let passed = runs(&data).await;
    assert_eq!(passed[0].gates_passed, Some(true), "{passed:?}");

    // Cause 2: a new version of the dataset the schedule retrains on.
    add_dataset(&data, "churn", &churn_csv(300, 8)).await;
    assert_eq!(runs(&data).await.len(), 1, "held: no retrain yet");
    assert!(
        versions(&data).await.is_empty(),
        "held: nothing registered yet"
    );

    coordinator.signal("KILL");
    let _again =
        drover_tests::spawn_coordinator(&data, &addr.to_string(), tmp.path().join("coord2.log"))
            .await;

    let registered = wait_for("the model of the first run to be registered", || async {
        let versions = versions(&data).await;
        versions
            .iter()
            .find(|v| v.run_id == first.id)
            .map(|v| v.version)
    })
    .await;
    assert_eq!(registered, 1);
    let retrains = wait_for("the retrain on churn@2 to be queued", || async {
        let runs = runs(&data).await;
        let retrains: Vec<RunSummary> = runs
            .into_iter()
            .filter(|r| r.dataset == "churn@2")
            .collect();
        (!retrains.is_empty()).then_some(retrains)
    })
    .await;
    assert_eq!(retrains.len(), 1, "{retrains:?}");
    let first_versions = versions(&data)
        .await
        .into_iter()
        .filter(|v| v.run_id == first.id)
        .count();
    assert_eq!(first_versions, 1, "registered once");
}
