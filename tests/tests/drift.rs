//! Drift end to end: a real serving agent sketches live traffic in the bins of the model's
//! reference profile, the coordinator scores it over a sliding window with thresholds
//! calibrated from the training data, and alerts fire on exactly the two of six features
//! whose distribution moved; unchanged traffic alerts on nothing. Feedback on the answers
//! gives feature importance on live rows, ranked against training's.

use std::collections::BTreeSet;

use drover_coordinator::drift::config::{Monitoring, Rule};
use drover_protocol::drift::{AlertAction, AlertKind};
use drover_tests::drift::{alerted_columns, drover_json, replay, six};
use drover_tests::{InProcessAgent, drover_ok, wait_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_in_two_of_six_features_alerts_on_exactly_those_two() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("coord");
    let options = drover_coordinator::CoordinatorOptions {
        monitoring: Monitoring {
            window: std::time::Duration::from_secs(20),
            every: std::time::Duration::from_millis(500),
            min_samples: 200,
            false_alarm: 0.0005,
            rules: vec![Rule {
                name: "drift".into(),
                kind: AlertKind::Drift,
                model: None,
                above: None,
                action: AlertAction::Notify,
            }],
            ..Monitoring::default()
        },
        ..drover_tests::options(&data)
    };
    let coordinator = drover_coordinator::Coordinator::start(options)
        .await
        .expect("starts");
    let handle = coordinator.handle();
    let d = data.to_str().expect("utf-8").to_string();
    drover_tests::add_dataset(&data, "six", &six(3_000, 1, false)).await;
    drover_tests::add_dataset(&data, "six-live", &six(3_000, 2, false)).await;
    drover_tests::add_dataset(&data, "six-drifted", &six(3_000, 3, true)).await;
    let trainer =
        InProcessAgent::join_and_run(&handle, tmp.path().join("trainer"), "trainer").await;
    let spec = drover_tests::quick_spec("drift")
        .replace("\"churn\"", "\"six\"")
        .replace("churn@latest", "six@1")
        .replace("churned", "label");
    drover_tests::rollouts::train(&handle, &spec, "six@1").await;

    let state = tmp.path().join("server");
    drover_tests::join_agent(&d, &state);
    let agent = drover_tests::serving_agent(&state, "role=serve", tmp.path().join("server.log"));
    let http = drover_tests::logged_http_addr(&agent).await;
    let feedback = drover_tests::feedback_token(&state);
    drover_ok(&["models", "deploy", "six@1", "--data-dir", &d]);
    drover_tests::rollouts::model_served(http, "six").await;

    replay((http, &feedback), &d, "six-live@1", 6).await;
    let status = wait_for("unchanged traffic to be scored", || async {
        let reports = drover_json(&["drift", "status", "six", "--json", "--data-dir", &d]);
        let columns = reports[0]["columns"].as_array()?.clone();
        columns
            .iter()
            .all(|c| c["samples"].as_u64() >= Some(500))
            .then_some(columns)
    })
    .await;
    assert_eq!(
        status.len(),
        7,
        "six features and the predictions: {status:?}"
    );
    for column in &status {
        assert_eq!(column["status"], "stable", "unchanged traffic: {column}");
    }
    assert!(
        alerted_columns(&d).is_empty(),
        "unchanged traffic alerts on nothing"
    );

    for _ in 0..10 {
        replay((http, &feedback), &d, "six-drifted@1", 3).await;
        if alerted_columns(&d).len() >= 2 {
            break;
        }
    }
    let expected: BTreeSet<String> = ["noise".to_string(), "region".to_string()].into();
    assert_eq!(
        alerted_columns(&d),
        expected,
        "alerts on exactly the two drifted features"
    );
    let reports = drover_json(&["drift", "status", "six", "--json", "--data-dir", &d]);
    let drifted: BTreeSet<String> = reports[0]["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .filter(|c| c["status"] == "drifted" && c["column"] != "prediction")
        .filter_map(|c| c["column"].as_str().map(str::to_string))
        .collect();
    assert_eq!(drifted, expected, "{reports}");
    let worst = reports[0]["columns"][0]["column"].as_str().expect("column");
    assert!(expected.contains(worst), "worst first: {reports}");

    let (ranks, rows) = wait_for("feature importance on live feedback", || async {
        let reports = drover_json(&["drift", "status", "six", "--json", "--data-dir", &d]);
        let ranks = reports[0]["importance"].as_array()?.clone();
        (!ranks.is_empty()).then_some((ranks, reports[0]["importance_rows"].as_u64()))
    })
    .await;
    assert_eq!(ranks.len(), 6, "{ranks:?}");
    assert!(rows >= Some(200), "{rows:?}");
    let top = ranks
        .iter()
        .find(|r| r["training_rank"] == 1)
        .expect("a first");
    assert_eq!(
        top["column"], "a",
        "the strongest signal ranks first at training: {ranks:?}"
    );
    assert!(
        top["live"].as_f64() > Some(0.05),
        "and matters live too: {top}"
    );

    drop(agent);
    trainer.stop().await.expect("trainer stops");
    coordinator.stop().await;
}
