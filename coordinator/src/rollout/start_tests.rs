//! The controller on a real store: a shadow rollout is refused at start when the candidate
//! takes an input the baseline's requests do not carry (a candidate that takes fewer inputs,
//! or the same ones, starts), and a running canary is not rolled back on one agent's
//! failures that three others do not see: that agent is left out, with an event.

use drover_protocol::registry::Selector;
use drover_protocol::rollout::{RolloutSpec, Strategy};
use drover_protocol::serve::{Deployment, Variant};

use super::controller;
use crate::store::NewModelVersion;
use crate::testing;

#[test]
fn a_shadow_that_could_not_read_its_baselines_requests_is_refused_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shared = testing::shared(dir.path());
    deployed(
        &shared,
        &[
            "plan:categorical,tenure:numeric",
            "tenure:numeric",
            "calls:numeric,tenure:numeric",
        ],
    );
    let shadow = || RolloutSpec {
        strategy: Strategy::Shadow,
        ..RolloutSpec::default()
    };
    let refused = controller::start(&shared, "churn", &Selector::Number(3), shadow())
        .expect_err("churn@3 takes calls");
    assert!(
        refused.message.contains("(calls)") && refused.message.contains("canary"),
        "{}",
        refused.message
    );
    let started = controller::start(&shared, "churn", &Selector::Number(2), shadow())
        .expect("churn@2 takes only tenure, which every request carries");
    assert_eq!(started.rollout.candidate, 2);
}

#[test]
fn a_candidate_logged_through_mlflow_is_refused_at_start_naming_its_flavors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shared = testing::shared(dir.path());
    deployed(&shared, &["tenure:numeric"]);
    let put = |bytes: &[u8]| shared.artifacts.put_bytes(bytes).expect("artifact");
    let mlmodel = put(b"flavors:\n  python_function:\n    loader_module: mlflow.onnx\n  onnx:\n    data: model.onnx\n");
    let manifest = put(format!("MLmodel\t{mlmodel}\nmodel.onnx\t{}\n", put(b"onnx")).as_bytes());
    let new = NewModelVersion {
        model: "churn",
        run_id: "",
        dataset_name: "",
        dataset_version: 0,
        dataset_hash: "",
        feature_schema: "",
        artifact_hash: manifest.as_ref(),
        algorithm: "mlflow",
        metrics: &Default::default(),
        created_ms: 0,
    };
    shared
        .store
        .sync()
        .register_model(&new)
        .expect("registered");
    let refused = controller::start(
        &shared,
        "churn",
        &Selector::Number(2),
        RolloutSpec::default(),
    )
    .expect_err("an MLflow model is no candidate yet");
    assert!(
        refused
            .message
            .contains("churn@2 is an MLflow model (flavors: python_function, onnx)"),
        "{}",
        refused.message
    );
}

/// An operator's deploy or undeploy of a model whose rollout runs is refused (the guard
/// sits in the API, since the controller itself moves traffic through `deployments`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploying_or_undeploying_is_refused_while_a_rollout_runs() {
    use drover_protocol::msg::{OperatorRequest, OperatorResponse};
    use drover_protocol::registry::ModelRef;

    let dir = tempfile::tempdir().expect("tempdir");
    let shared = testing::shared(dir.path());
    shared.blocking(canary).await;
    let deploy = OperatorRequest::Deploy {
        model: ModelRef {
            name: "churn".into(),
            selector: Selector::Number(2),
        },
        selector: Default::default(),
    };
    let undeploy = OperatorRequest::Undeploy {
        model: "churn".into(),
    };
    for request in [deploy, undeploy] {
        let answer = crate::api::handle(&shared, crate::pki::LOCAL_OPERATOR, request).await;
        assert!(
            matches!(&answer, OperatorResponse::Error(e) if e.message.contains("has rollout 1 running")),
            "{answer:?}"
        );
    }
}

/// Registers a version of churn for each of `schemas` (its inputs) and deploys churn@1.
fn deployed(shared: &crate::state::Shared, schemas: &[&str]) {
    let store = shared.store.sync();
    let hash = shared
        .artifacts
        .put_bytes(br#"{"format":1}"#)
        .expect("artifact");
    for schema in schemas {
        let new = NewModelVersion {
            model: "churn",
            run_id: "",
            dataset_name: "churn",
            dataset_version: 1,
            dataset_hash: "",
            feature_schema: schema,
            artifact_hash: hash.as_ref(),
            algorithm: "logistic_regression",
            metrics: &Default::default(),
            created_ms: 0,
        };
        store.register_model(&new).expect("registered");
    }
    let variants = vec![Variant {
        version: 1,
        artifact_hash: hash,
        weight: 100,
        shadow: false,
    }];
    let deployment = Deployment {
        model: "churn".into(),
        variants,
        selector: Default::default(),
        updated_ms: 0,
    };
    store.put_deployment(&deployment).expect("deployed");
}

/// churn@1 deployed and a canary of churn@2 (the same inputs) started.
fn canary(shared: &crate::state::Shared) {
    deployed(shared, &["tenure:numeric"; 2]);
    let spec = RolloutSpec::default();
    controller::start(shared, "churn", &Selector::Number(2), spec).expect("started");
}

#[test]
fn one_agent_reporting_failures_the_others_do_not_see_decides_nothing() {
    use drover_protocol::rollout::Phase;
    use drover_protocol::serve::{LATENCY_BUCKETS_US, ServingWindow};
    use drover_protocol::types::{AgentId, unix_ms};

    let dir = tempfile::tempdir().expect("tempdir");
    let shared = testing::shared(dir.path());
    canary(&shared);
    let mut events = shared.events.subscribe();
    let at = unix_ms() + 1_000;
    let window = |version: u32, errors: u64| {
        let mut latency = vec![0; LATENCY_BUCKETS_US.len() + 1];
        latency[0] = 2_000;
        ServingWindow {
            model: "churn".into(),
            version,
            start_ms: at,
            end_ms: at + 1_000,
            requests: 2_000,
            errors,
            latency,
            classes: vec![1_000, 1_000],
            feedback: 0,
            correct: 0,
        }
    };
    let store = shared.store.sync();
    for (agent, errors) in [("a", 0), ("b", 0), ("c", 0), ("liar", 2_000)] {
        let windows = [window(1, 0), window(2, errors)];
        store
            .insert_windows(&AgentId(agent.into()), &windows, at + 1_000)
            .expect("windows");
    }
    let mut seen = std::collections::HashMap::new();
    controller::advance_all(&shared, &mut seen, at + 2_000);
    let rollout = store
        .latest_rollout("churn")
        .expect("read")
        .expect("a rollout");
    assert!(
        !matches!(rollout.phase, Phase::RolledBack { .. }),
        "one agent's failures rolled the candidate back: {:?}",
        rollout.phase
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let flagged = loop {
        match events.try_recv() {
            Ok(record) => {
                if let drover_protocol::msg::Event::AgentDisagrees { agent, detail, .. } =
                    record.event
                {
                    break (agent, detail);
                }
            }
            Err(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("no agent was flagged: {e}"),
        }
    };
    assert_eq!(flagged.0, AgentId("liar".into()));
    assert!(flagged.1.contains("error rate"), "{}", flagged.1);
}
