//! Alerts survive their coordinator: killed (SIGKILL) right after a drift alert fired, the
//! coordinator comes back with the alert still firing, fires it no second time, and its
//! rule's retrain is queued exactly once, whether the reaction ran before the kill or after.

use drover_tests::drift::{alerted_columns, drover_json, replay, six};
use drover_tests::{drover_ok, wait_for};

const CONFIG: &str = r#"
[monitoring]
window = "20s"
every = "500ms"
min_samples = 200
false_alarm = 0.0005
[[monitoring.rules]]
name = "drift-retrain"
kind = "drift"
model = "six"
action = "retrain"
"#;

/// The alerts as `(rule, column, firing)`, oldest first.
fn alerts(data: &str) -> Vec<(String, String, bool)> {
    let mut all: Vec<(String, String, bool)> =
        drover_json(&["alerts", "--json", "--data-dir", data])
            .as_array()
            .expect("alerts")
            .iter()
            .map(|a| {
                (
                    a["rule"].as_str().unwrap_or_default().to_string(),
                    a["column"].as_str().unwrap_or_default().to_string(),
                    a["firing"] == true,
                )
            })
            .collect();
    all.reverse();
    all
}

fn runs(data: &str) -> usize {
    drover_json(&["runs", "list", "--json", "--data-dir", data])
        .as_array()
        .expect("runs")
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fired_alert_and_its_retrain_survive_a_killed_coordinator() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("coord");
    let d = data.to_str().expect("utf-8").to_string();
    let config = tmp.path().join("drover.toml");
    std::fs::write(&config, CONFIG).expect("config");
    let env = [("DROVER_CONFIG", config.to_str().expect("utf-8"))];
    let log = |name: &str| tmp.path().join(format!("{name}.log"));
    let (mut coordinator, addr) =
        drover_tests::spawn_coordinator_with_env(&data, "127.0.0.1:0", log("c1"), &env).await;
    for (name, seed, drift) in [("six", 1, false), ("six-drifted", 3, true)] {
        let csv = tmp.path().join(format!("{name}.csv"));
        std::fs::write(&csv, six(3_000, seed, drift)).expect("csv");
        let path = csv.to_str().expect("utf-8");
        drover_ok(&["data", "add", path, "--name", name, "--data-dir", &d]);
    }
    let state = tmp.path().join("agent");
    drover_tests::join_agent(&d, &state);
    let agent = drover_tests::serving_agent(&state, "role=train,serve", log("agent"));
    let http = drover_tests::logged_http_addr(&agent).await;
    let feedback = drover_tests::feedback_token(&state);
    let spec = tmp.path().join("train.toml");
    let text = drover_tests::quick_spec("restart")
        .replace("\"churn\"", "\"six\"")
        .replace("churn@latest", "six@latest")
        .replace("churned", "label");
    std::fs::write(&spec, text).expect("spec");
    drover_ok(&["train", spec.to_str().expect("utf-8"), "--data-dir", &d]);
    drover_tests::rollouts::registered(&d, "six@1").await;
    drover_ok(&["models", "deploy", "six@1", "--data-dir", &d]);
    drover_tests::rollouts::model_served(http, "six").await;

    for _ in 0..10 {
        replay((http, &feedback), &d, "six-drifted@1", 2).await;
        if !alerted_columns(&d).is_empty() {
            break;
        }
    }
    let fired = alerts(&d);
    assert!(!fired.is_empty(), "drift alerted before the kill");
    coordinator.signal("KILL");
    coordinator.wait_exit().await;

    let (_again, _) =
        drover_tests::spawn_coordinator_with_env(&data, &addr.to_string(), log("c2"), &env).await;
    let kept = alerts(&d);
    assert_eq!(
        &kept[..fired.len()],
        &fired[..],
        "every alert acknowledged survived the kill"
    );
    for _ in 0..3 {
        replay((http, &feedback), &d, "six-drifted@1", 2).await;
    }
    let after = alerts(&d);
    let mut keys: Vec<(&String, &String)> = after.iter().map(|(r, c, _)| (r, c)).collect();
    let before = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), before, "no alert fired twice: {after:?}");
    assert!(
        after.iter().all(|(_, _, firing)| *firing),
        "still drifting: {after:?}"
    );
    wait_for("the retrain to be queued", || async {
        (runs(&d) >= 2).then_some(())
    })
    .await;
    assert_eq!(runs(&d), 2, "one training and exactly one retrain");
    drop(agent);
}
