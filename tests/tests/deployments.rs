//! Deployments end to end: a registered version deployed from the CLI reaches a real serving
//! agent process, which fetches the artifact over QUIC, loads it and answers predictions on
//! its HTTP listener; killed and restarted, the agent serves it again by itself, and so does
//! an agent that joins later; undeployed, it stops.

use std::net::SocketAddr;
use std::path::Path;

use drover_tests::{InProcessAgent, Proc, drover, drover_ok, http_request, wait_for};
use serde_json::{Value, json};

/// Starts the agent joined at `state`, labelled `role=serve,zone=edge` (the in-process
/// trainer is labelled `role=train,serve`, so the selector `zone=edge` picks this one only).
fn serving_agent(state: &Path, log: std::path::PathBuf) -> Proc {
    drover_tests::serving_agent(state, "role=serve,zone=edge", log)
}

/// The deployment states `drover deployments --json` reports for `model`.
fn states(data: &str, model: &str) -> Vec<String> {
    let out = drover_ok(&["deployments", "--json", "--data-dir", data]);
    let list: Value = serde_json::from_str(&out).expect("json");
    list.as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["deployment"]["model"] == model)
        .flat_map(|d| d["agents"].as_array().cloned().unwrap_or_default())
        .flat_map(|a| a[1].as_array().cloned().unwrap_or_default())
        .map(|s| s["state"].to_string())
        .collect()
}

/// A request of one synthetic row for a model with the inputs its metadata lists.
async fn one_row(http: SocketAddr) -> String {
    let (status, metadata) = http_request(http, "GET", "/v2/models/churn", &[], None).await;
    assert_eq!(status, 200, "{metadata}");
    let metadata: Value = serde_json::from_str(&metadata).expect("json");
    let record: serde_json::Map<String, Value> = metadata["inputs"]
        .as_array()
        .expect("inputs")
        .iter()
        .map(|i| {
            let name = i["name"].as_str().expect("name").to_string();
            let value = if i["datatype"] == "BYTES" {
                json!("basic")
            } else {
                json!(1.0)
            };
            (name, value)
        })
        .collect();
    json!({ "dataframe_records": [record] }).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_is_served_survives_a_restart_reaches_a_late_agent_and_undeploys() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (coordinator, data) = drover_tests::coordinator_with_churn(tmp.path()).await;
    let handle = coordinator.handle();
    let trainer =
        InProcessAgent::join_and_run(&handle, tmp.path().join("trainer"), "trainer").await;
    drover_tests::train_registered(&handle, "deploy").await;
    let d = data.to_str().expect("utf-8").to_string();

    let state = tmp.path().join("server");
    drover_tests::join_agent(&d, &state);
    let agent = serving_agent(&state, tmp.path().join("server.log"));
    let http = drover_tests::logged_http_addr(&agent).await;

    let vague = drover(&["models", "deploy", "churn", "--data-dir", &d]);
    assert_eq!(vague.status.code(), Some(2), "deploy names one version");
    let out = drover_ok(&[
        "models",
        "deploy",
        "churn@1",
        "--agents",
        "zone=edge",
        "--data-dir",
        &d,
    ]);
    assert!(
        out.contains("churn@1 deployed on agents labelled zone=edge (1 match now"),
        "{out}"
    );
    wait_for("the agent to report churn@1 ready", || async {
        states(&d, "churn")
            .iter()
            .any(|s| s.contains("Ready"))
            .then_some(())
    })
    .await;
    let table = drover_ok(&["deployments", "--data-dir", &d]);
    assert!(
        table.contains("churn") && table.contains("@1 ready"),
        "{table}"
    );

    let body = one_row(http).await;
    let (status, answer) = http_request(http, "POST", "/invocations", &[], Some(&body)).await;
    assert_eq!(status, 200, "{answer}");
    let answer: Value = serde_json::from_str(&answer).expect("json");
    assert_eq!(answer["predictions"].as_array().map(Vec::len), Some(1));

    // Under constant load from `drover load`, a swap to churn@2 fails no request.
    let tree = drover_tests::quick_spec("deploy").replace("gaussian_nb", "decision_tree");
    let second = drover_tests::submit(&handle, &tree).await.expect("queued");
    let trained = drover_tests::finished(&handle, &second).await;
    assert_eq!(
        trained.registered.as_deref(),
        Some("churn@2"),
        "{trained:?}"
    );
    let (url, dir) = (format!("http://{http}"), d.clone());
    // Feedback takes the agent's own token, which it made in its state dir on first start.
    let token = std::fs::read_to_string(state.join(drover_agent::http::FEEDBACK_TOKEN_FILE))
        .expect("the agent's feedback token");
    let load = tokio::task::spawn_blocking(move || {
        drover_ok(&[
            "load",
            &url,
            "--model",
            "churn",
            "--duration",
            "3s",
            "--concurrency",
            "4",
            "--data",
            "churn@1",
            "--feedback",
            "--feedback-token",
            token.trim(),
            "--key-header",
            "--json",
            "--data-dir",
            &dir,
        ])
    });
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    drover_ok(&[
        "models",
        "deploy",
        "churn@2",
        "--agents",
        "zone=edge",
        "--data-dir",
        &d,
    ]);
    let report: Value = serde_json::from_str(&load.await.expect("load")).expect("json");
    let statuses = report["statuses"].as_object().expect("statuses");
    assert_eq!(
        statuses.keys().collect::<Vec<_>>(),
        ["200"],
        "no request failed: {report}"
    );
    let versions = report["versions"].as_object().expect("versions");
    assert!(
        versions.contains_key("churn@1") && versions.contains_key("churn@2"),
        "the swap happened under load: {report}"
    );
    assert!(
        report["requests"].as_u64().is_some_and(|n| n > 50),
        "{report}"
    );
    // Each answer's true label went back as feedback; the agent judged them (a prediction of
    // churn@1 judged after its unloading is refused as unknown, so some may be).
    let judged = report["feedback"]["judged"].as_u64().expect("judged");
    let correct = report["feedback"]["correct"].as_u64().expect("correct");
    assert!(judged > 50 && correct * 2 > judged, "{report}");

    // The agent's windows reach the coordinator: its traffic per version, in the store and
    // on /metrics.
    wait_for("a serving window with traffic", || async {
        let out = drover_ok(&["deployments", "--json", "--data-dir", &d]);
        out.contains("requests_per_second").then_some(())
    })
    .await;
    let db = data.join("drover.db");
    let stored = drover_coordinator::store::handle::blocking(move || {
        let store = drover_coordinator::store::Store::open(&db).expect("store");
        store.serving_windows("churn", 0).expect("windows")
    })
    .await;
    assert!(
        stored.iter().map(|(_, w)| w.requests).sum::<u64>() > 0,
        "windows are stored: {stored:?}"
    );
    assert!(
        stored.iter().map(|(_, w)| w.feedback).sum::<u64>() > 0,
        "live accuracy is stored: {stored:?}"
    );
    let metrics = drover_tests::http_get(coordinator.http_addr(), "/metrics").await;
    for series in [
        "drover_serving_requests_total{model=\"churn\"",
        "drover_serving_predicted_rows_total{model=\"churn\"",
        "drover_serving_latency_p99_seconds{model=\"churn\"",
    ] {
        assert!(metrics.contains(series), "{series} in {metrics}");
    }
    // The agent's own /metrics has the same series live.
    let live = drover_tests::http_get(http, "/metrics").await;
    for series in [
        "drover_agent_predictions_total{model=\"churn\"",
        "drover_agent_predicted_rows_total{model=\"churn\"",
        "drover_agent_feedback_correct_total{model=\"churn\"",
        "drover_agent_prediction_latency_p99_seconds{model=\"churn\"",
    ] {
        assert!(live.contains(series), "{series} in {live}");
    }

    // Killed and started again, the agent gets its deployment back by itself.
    agent.signal("KILL");
    let again = serving_agent(&state, tmp.path().join("server2.log"));
    let http = drover_tests::logged_http_addr(&again).await;
    wait_for("the restarted agent to serve churn again", || async {
        let (status, _) = http_request(http, "POST", "/invocations", &[], Some(&body)).await;
        (status == 200).then_some(())
    })
    .await;

    // An agent that joins after the deployment exists serves it by itself.
    let late_state = tmp.path().join("late");
    drover_tests::join_agent(&d, &late_state);
    let late = serving_agent(&late_state, tmp.path().join("late.log"));
    let late_http = drover_tests::logged_http_addr(&late).await;
    wait_for("the late agent to serve churn", || async {
        let (status, _) = http_request(late_http, "POST", "/invocations", &[], Some(&body)).await;
        (status == 200).then_some(())
    })
    .await;
    drop(late);

    let out = drover_ok(&["models", "undeploy", "churn", "--data-dir", &d]);
    assert!(out.contains("churn undeployed"), "{out}");
    wait_for("the agent to stop serving churn", || async {
        let (status, _) = http_request(http, "GET", "/v2/models/churn/ready", &[], None).await;
        (status == 404).then_some(())
    })
    .await;
    let events = drover_ok(&["events", "--data-dir", &d]);
    assert!(
        events.contains("model.deployed") && events.contains("operator operator: deploy churn@1"),
        "{events}"
    );
    drop(again);
    let _ = trainer.stop().await;
    coordinator.stop().await;
}
