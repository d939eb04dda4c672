//! Training across real agents: a dataset goes in, a run is scheduled onto an agent labelled
//! `train`, every trial is tracked, the model artifact is uploaded and verified, and the gates
//! decide. Bad specs and unusable data fail clearly; a run whose agent goes away is queued
//! again and finishes on another agent; a queued run can be cancelled; a search spreads over
//! free agents and gives the same model as on one.

use drover_protocol::data::content_hash;
use drover_protocol::msg::{Event, OperatorRequest, OperatorResponse};
use drover_protocol::run::RunStatus;
use drover_tests::{
    InProcessAgent, add_dataset, churn_csv, finished, metric_history, ready_count, run_detail,
    start_coordinator, submit, wait_for,
};

const SPEC: &str = r#"
experiment = "churn"
model = "churn"
dataset = "churn@latest"
target = "churned"
task = "classification"
algorithm = "logistic_regression"
seed = 7
cv_folds = 5
test_fraction = 0.2
[search]
strategy = "grid"
params = { alpha = [0.0, 0.1, 1.0] }
[gates]
min = { accuracy = 0.6 }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_minimal_spec_trains_tracks_and_passes_its_gates() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("coord");
    let coordinator = start_coordinator(&data).await;
    let handle = coordinator.handle();
    let agent = InProcessAgent::join_and_run(&handle, tmp.path().join("agent"), "trainer").await;
    add_dataset(&data, "churn", &churn_csv(1500, 7)).await;

    let tagged = SPEC.replace("seed = 7", "seed = 7\ntags = { team = \"growth\" }");
    let id = submit(&handle, &tagged).await.expect("queued");
    let done = finished(&handle, &id).await;
    assert_eq!(done.tags.get("team").map(String::as_str), Some("growth"));
    assert_eq!(
        done.summary.status,
        RunStatus::Succeeded,
        "{:?}",
        done.summary.error
    );
    assert_eq!(done.summary.agent.as_deref(), Some(agent.id.0.as_str()));
    assert_eq!(
        (
            done.summary.trials_done,
            done.summary.trials_total,
            done.trials.len()
        ),
        (3, 3, 3)
    );
    assert!(done.trials.iter().all(|t| t.folds.len() == 5));
    assert_eq!(done.summary.gates_passed, Some(true));
    assert!(
        done.summary.metrics["accuracy"] >= 0.6,
        "{:?}",
        done.summary.metrics
    );
    for metric in ["precision", "recall", "f1", "roc_auc", "log_loss"] {
        assert!(
            done.summary.metrics.contains_key(metric),
            "{metric} missing"
        );
    }
    assert_eq!((done.rows_train, done.rows_test), (Some(1200), Some(300)));
    let hash = done.artifact_hash.expect("artifact");
    let blob = std::fs::read(data.join("artifacts").join(&hash[..2]).join(&hash))
        .expect("artifact stored");
    assert_eq!(content_hash(&blob), hash, "the stored model verifies");
    assert_eq!(done.seed, 7);
    assert_eq!(done.summary.dataset, "churn@1");

    // Each trial's cross-validated metrics were ingested as a history by step.
    let history = metric_history(&data, &id, "cv_accuracy").await;
    assert_eq!(
        history.iter().map(|(step, _)| *step).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );

    // The same spec again gives the same model, bit for bit.
    let again = finished(&handle, &submit(&handle, &tagged).await.expect("queued")).await;
    assert_eq!(again.artifact_hash, Some(hash));
    // ... and registers no second version: it names the one it matches.
    assert_eq!(again.registered, done.registered);
    assert_eq!(
        again.tags.get(drover_protocol::run::SAME_MODEL_TAG),
        done.registered.as_ref()
    );

    // Gates record their numbers when they fail.
    let strict = finished(
        &handle,
        &submit(&handle, &SPEC.replace("accuracy = 0.6", "accuracy = 0.99"))
            .await
            .expect("queued"),
    )
    .await;
    assert_eq!(
        (strict.summary.status, strict.summary.gates_passed),
        (RunStatus::Succeeded, Some(false))
    );
    assert!(
        strict.gate_failures[0].contains("below the minimum 0.99"),
        "{:?}",
        strict.gate_failures
    );

    let OperatorResponse::Runs(list) = handle
        .request(OperatorRequest::ListRuns(Default::default()))
        .await
    else {
        panic!("no list")
    };
    assert_eq!(list.len(), 3);
    agent.stop().await.expect("clean stop");
    coordinator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_specs_and_unusable_data_fail_clearly() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("coord");
    let coordinator = start_coordinator(&data).await;
    let handle = coordinator.handle();
    add_dataset(&data, "churn", &churn_csv(200, 7)).await;

    let err = submit(
        &handle,
        &SPEC.replace("target = \"churned\"", "target = \"churn_flag\""),
    )
    .await
    .expect_err("unknown column");
    assert!(
        err.contains("unknown column \"churn_flag\"") && err.contains("churned"),
        "{err}"
    );
    let err = submit(&handle, &SPEC.replace("churn@latest", "churn@4"))
        .await
        .expect_err("unknown version");
    assert!(err.contains("versions 1 to 1"), "{err}");

    let mut one_class = String::from("x,churned\n");
    (0..50).for_each(|i| one_class.push_str(&format!("{i},0\n")));
    add_dataset(&data, "flat", one_class.as_bytes()).await;
    let agent = InProcessAgent::join_and_run(&handle, tmp.path().join("agent"), "trainer").await;
    let failed = finished(
        &handle,
        &submit(&handle, &SPEC.replace("churn@latest", "flat"))
            .await
            .expect("queued"),
    )
    .await;
    assert_eq!(failed.summary.status, RunStatus::Failed);
    let reason = failed.summary.error.unwrap_or_default();
    assert!(reason.contains("has 1 class (0)"), "{reason}");

    // A learner that panics fails its run with the reason; the agent stays connected.
    let panicking = SPEC.replace(
        "seed = 7",
        "seed = 7\ntags = { \"drover.fault\" = \"panic\" }",
    );
    let panicked = finished(&handle, &submit(&handle, &panicking).await.expect("queued")).await;
    assert_eq!(panicked.summary.status, RunStatus::Failed);
    let reason = panicked.summary.error.unwrap_or_default();
    assert!(
        reason.contains("training panicked: injected fault: the learner panicked"),
        "{reason}"
    );
    assert_eq!(panicked.summary.agent.as_deref(), Some(agent.id.0.as_str()));

    // The agent keeps serving after failed and panicked jobs.
    let ok = finished(&handle, &submit(&handle, SPEC).await.expect("queued")).await;
    assert_eq!(
        ok.summary.status,
        RunStatus::Succeeded,
        "{:?}",
        ok.summary.error
    );
    agent.stop().await.expect("clean stop");
    coordinator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_agents_run_moves_to_another_and_queued_runs_cancel() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("coord");
    let coordinator = start_coordinator(&data).await;
    let handle = coordinator.handle();
    add_dataset(&data, "churn", &churn_csv(2000, 7)).await;

    // No agent yet: the run waits in the queue and can be cancelled there.
    let waiting = submit(&handle, SPEC).await.expect("queued");
    assert_eq!(
        run_detail(&handle, &waiting).await.summary.status,
        RunStatus::Queued
    );
    assert!(matches!(
        handle
            .request(OperatorRequest::CancelRun {
                id: waiting.clone()
            })
            .await,
        OperatorResponse::RunCancelled(_)
    ));
    assert_eq!(
        run_detail(&handle, &waiting).await.summary.status,
        RunStatus::Cancelled
    );

    let first = InProcessAgent::join_and_run(&handle, tmp.path().join("first"), "first").await;
    let busy = SPEC.replace("[0.0, 0.1, 1.0]", "[0.0, 0.1, 1.0, 3.0]");
    let id = submit(&handle, &busy).await.expect("queued");
    wait_for("the run to start on the first agent", || async {
        (run_detail(&handle, &id).await.summary.agent.as_deref() == Some(first.id.0.as_str()))
            .then_some(())
    })
    .await;
    let second = InProcessAgent::join_and_run(&handle, tmp.path().join("second"), "second").await;
    first.stop().await.expect("clean stop");
    let done = finished(&handle, &id).await;
    assert_eq!(
        done.summary.status,
        RunStatus::Succeeded,
        "{:?}",
        done.summary.error
    );
    assert_eq!(
        done.summary.agent.as_deref(),
        Some(second.id.0.as_str()),
        "finished on the other agent"
    );
    assert_eq!(done.trials.len(), 4);
    second.stop().await.expect("clean stop");
    coordinator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedules_queue_runs_on_new_data_and_on_their_cron() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("coord");
    let coordinator = start_coordinator(&data).await;
    let handle = coordinator.handle();
    let agent = InProcessAgent::join_and_run(&handle, tmp.path().join("agent"), "trainer").await;
    add_dataset(&data, "churn", &churn_csv(300, 7)).await;

    let bad = submit(
        &handle,
        &SPEC.replace("seed = 7", "seed = 7\nschedule = \"every night\""),
    )
    .await;
    assert!(bad.expect_err("bad cron").contains("not a cron pattern"));

    let repeating = SPEC.replace(
        "seed = 7",
        "seed = 7\nretrain_on_new_data = true\nschedule = \"* * * * *\"",
    );
    let first = submit(&handle, &repeating).await.expect("queued");
    finished(&handle, &first).await;
    let OperatorResponse::Schedules(list) = handle.request(OperatorRequest::ListSchedules).await
    else {
        panic!("no list")
    };
    assert_eq!(list.len(), 1);
    assert!(list[0].on_new_data && list[0].next_run_ms.is_some());

    // A new dataset version queues a run of churn@latest, which is now version 2.
    let second_version = String::from_utf8(churn_csv(300, 7))
        .expect("utf-8")
        .replacen("tenure_months", "tenure", 1);
    add_dataset(&data, "churn", second_version.as_bytes()).await;
    let triggered = wait_for("a run on the new version", || async {
        let OperatorResponse::Runs(runs) = handle
            .request(OperatorRequest::ListRuns(Default::default()))
            .await
        else {
            return None;
        };
        runs.into_iter().find(|r| r.dataset == "churn@2")
    })
    .await;
    assert_eq!(
        finished(&handle, &triggered.id).await.summary.status,
        RunStatus::Succeeded
    );

    let OperatorResponse::ScheduleRemoved(_) = handle
        .request(OperatorRequest::RemoveSchedule {
            id: list[0].id.clone(),
        })
        .await
    else {
        panic!("not removed")
    };
    agent.stop().await.expect("clean stop");
    coordinator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_spreads_over_free_agents_and_refits_the_same_model() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("coord");
    let coordinator = start_coordinator(&data).await;
    let handle = coordinator.handle();
    let a = InProcessAgent::join_and_run(&handle, tmp.path().join("a"), "a").await;
    let b = InProcessAgent::join_and_run(&handle, tmp.path().join("b"), "b").await;
    wait_for("two ready agents", || async {
        (ready_count(&handle).await == 2).then_some(())
    })
    .await;
    add_dataset(&data, "churn", &churn_csv(1500, 7)).await;
    let grid = SPEC.replace("[0.0, 0.1, 1.0]", "[0.0, 0.1, 1.0, 3.0]");

    let spread = finished(&handle, &submit(&handle, &grid).await.expect("queued")).await;
    assert_eq!(
        spread.summary.status,
        RunStatus::Succeeded,
        "{:?}",
        spread.summary.error
    );
    let numbers: Vec<u32> = spread.trials.iter().map(|t| t.trial).collect();
    assert_eq!(numbers, vec![1, 2, 3, 4]);
    let mut over = spread_agents(&handle, &spread.summary.id).await;
    over.sort();
    let mut both = vec![a.id.clone(), b.id.clone()];
    both.sort();
    assert_eq!(over, both, "each agent searched a share");

    // A share that fails fails the run with the agent and the reason.
    let panicking = grid.replace(
        "seed = 7",
        "seed = 7\ntags = { \"drover.fault\" = \"panic\" }",
    );
    wait_for("two ready agents again", || async {
        (ready_count(&handle).await == 2).then_some(())
    })
    .await;
    let failed = finished(&handle, &submit(&handle, &panicking).await.expect("queued")).await;
    assert_eq!(failed.summary.status, RunStatus::Failed);
    let reason = failed.summary.error.unwrap_or_default();
    assert!(reason.contains("training panicked"), "{reason}");
    // Under heavy load an agent can miss heartbeats and the run then goes to one agent only.
    if !spread_agents(&handle, &failed.summary.id).await.is_empty() {
        assert!(reason.starts_with("agent "), "{reason}");
    }

    // The same search on one agent picks the same trial and builds the same bytes.
    b.stop().await.expect("clean stop");
    wait_for("one ready agent", || async {
        (ready_count(&handle).await == 1).then_some(())
    })
    .await;
    let alone = finished(&handle, &submit(&handle, &grid).await.expect("queued")).await;
    assert_eq!(alone.summary.agent.as_deref(), Some(a.id.0.as_str()));
    assert!(spread_agents(&handle, &alone.summary.id).await.is_empty());
    assert_eq!(alone.params, spread.params);
    assert_eq!(alone.summary.metrics, spread.summary.metrics);
    assert_eq!(alone.artifact_hash, spread.artifact_hash);
    a.stop().await.expect("clean stop");
    coordinator.stop().await;
}

/// The agents a run's search was spread over, from the event log.
async fn spread_agents(
    handle: &drover_coordinator::CoordinatorHandle,
    run: &str,
) -> Vec<drover_protocol::types::AgentId> {
    let OperatorResponse::Events(events) = handle
        .request(OperatorRequest::ListEvents { limit: 1000 })
        .await
    else {
        panic!("no events")
    };
    events
        .into_iter()
        .find_map(|e| match e.event {
            Event::SearchSpread { id, agents } if id == run => Some(agents),
            _ => None,
        })
        .unwrap_or_default()
}
