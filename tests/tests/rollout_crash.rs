//! A coordinator that dies right after a rollout's final decision is stored, before it acts
//! on it, loses nothing: restarted, the decision and its event are there, the deployment
//! gets the final weights and the registry the new production version. And the registry is
//! not moved under a rollout's feet: `models promote` is refused while one runs, and for a
//! version one rolled back, unless forced.

use std::path::Path;

use drover_tests::rollouts::{SPEC, registered, rollout, stage, variants};
use drover_tests::{Proc, drover, drover_ok, spawn_coordinator, spawn_coordinator_with_env};

/// A coordinator (with `env`) on `tmp/coord`, churn@1 in production and deployed, churn@2
/// registered, and a canary of churn@2 started: the coordinator, its QUIC address and the
/// trainer agent.
async fn rolling_out(tmp: &Path, env: &[(&str, &str)]) -> (Proc, std::net::SocketAddr, Proc) {
    let data = tmp.join("coord");
    let d = data.to_str().expect("utf-8");
    let log = |name: &str| tmp.join(format!("{name}.log"));
    let (coordinator, addr) =
        spawn_coordinator_with_env(&data, "127.0.0.1:0", log("c1"), env).await;
    let csv = tmp.join("churn.csv");
    std::fs::write(&csv, drover_tests::churn_csv(300, 7)).expect("csv");
    let csv = csv.to_str().expect("utf-8");
    drover_ok(&["data", "add", csv, "--name", "churn", "--data-dir", d]);
    let state = tmp.join("trainer");
    drover_tests::join_agent(d, &state);
    let agent = drover_tests::serving_agent(&state, "role=train", log("trainer"));
    for (seed, reference) in [(7, "churn@1"), (8, "churn@2")] {
        let spec = tmp.join(format!("train{seed}.toml"));
        let text = drover_tests::quick_spec("crash").replace("seed = 7", &format!("seed = {seed}"));
        std::fs::write(&spec, text).expect("spec");
        drover_ok(&["train", spec.to_str().expect("utf-8"), "--data-dir", d]);
        registered(d, reference).await;
    }
    let promote = ["models", "promote", "churn@1", "--stage", "production"];
    drover_ok(&[&promote[..], &["--data-dir", d]].concat());
    drover_ok(&["models", "deploy", "churn@1", "--data-dir", d]);
    let spec = tmp.join("rollout.toml");
    std::fs::write(&spec, SPEC).expect("spec");
    let spec = spec.to_str().expect("utf-8");
    let start = [
        "rollout",
        "start",
        "churn",
        "--candidate",
        "2",
        "--spec",
        spec,
    ];
    drover_ok(&[&start[..], &["--data-dir", d]].concat());
    (coordinator, addr, agent)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_dying_right_after_a_decision_finishes_it_on_restart() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("coord");
    let d = data.to_str().expect("utf-8").to_string();
    let die = ("DROVER_FAULT_DIE_AFTER_DECISION", "Succeeded");
    let (mut coordinator, addr, _agent) = rolling_out(tmp.path(), &[die]).await;

    // Promoted by hand; once the guard window passes, the decision that the rollout succeeded
    // is stored, and the coordinator dies before acting on it.
    drover_ok(&["rollout", "promote", "churn", "--data-dir", &d]);
    let exit = coordinator.wait_exit().await;
    assert_ne!(exit, Some(0), "it died: {}", coordinator.log_text());
    // What it left: the decision stored, the deployment and the registry as they were.
    let db = data.join("drover.db");
    let (weights, production) = drover_coordinator::store::handle::blocking(move || {
        let store = drover_coordinator::store::Store::open(&db).expect("store");
        let deployed = store.deployments().expect("deployments");
        let weights: Vec<(u32, u32)> = deployed[0]
            .variants
            .iter()
            .map(|v| (v.version, v.weight))
            .collect();
        let production = store.production_version("churn").expect("registry");
        (weights, production.map(|v| v.version))
    })
    .await;
    assert_eq!(
        weights,
        [(1, 0), (2, 100)],
        "the guard window's, not the final ones yet"
    );
    assert_eq!(production, Some(1));

    let (_again, _) = spawn_coordinator(&data, &addr.to_string(), tmp.path().join("c2.log")).await;
    let ended = rollout(&d, "churn");
    assert_eq!(ended["rollout"]["phase"], "Succeeded", "{ended}");
    drover_tests::wait_for(
        "the restarted coordinator to finish the rollout",
        || async {
            (variants(&d, "churn") == [(2, 100)] && stage(&d, "churn@2") == "production")
                .then_some(())
        },
    )
    .await;
    assert_eq!(stage(&d, "churn@1"), "archived");
    let events: Vec<serde_json::Value> = drover_ok(&["events", "--json", "--data-dir", &d])
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let kinds = |kind: &str| -> Vec<String> {
        events
            .iter()
            .filter(|e| e["kind"] == kind)
            .map(|e| e["message"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let decided = kinds("rollout.decided");
    // Started, promoted (to the guard window), succeeded: the last stored as the process died.
    assert_eq!(decided.len(), 3, "{decided:?}");
    assert!(decided[2].contains("succeeded"), "{decided:?}");
    assert!(
        kinds("model.promoted")
            .iter()
            .any(|m| m.contains("churn@2")),
        "the registry change is logged too: {events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_promote_is_refused_during_a_rollout_and_for_a_rolled_back_version() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("coord");
    let d = data.to_str().expect("utf-8").to_string();
    let (_coordinator, _, _agent) = rolling_out(tmp.path(), &[]).await;
    let promote = |reference: &str, extra: &[&str]| {
        let args = [
            "models",
            "promote",
            reference,
            "--stage",
            "production",
            "--data-dir",
            &d,
        ];
        drover(&[&args[..], extra].concat())
    };
    let refused = promote("churn@2", &[]);
    assert!(!refused.status.success());
    let says = String::from_utf8_lossy(&refused.stderr);
    assert!(says.contains("drover rollout promote churn"), "{says}");
    assert_eq!(stage(&d, "churn@2"), "none");

    drover_ok(&["rollout", "abort", "churn", "--data-dir", &d]);
    let refused = promote("churn@2", &[]);
    let says = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && says.contains("rolled back") && says.contains("--force"),
        "{says}"
    );
    assert_eq!(stage(&d, "churn@1"), "production");
    let forced = promote("churn@2", &["--force"]);
    assert!(forced.status.success(), "{forced:?}");
    assert_eq!(stage(&d, "churn@2"), "production");
}
