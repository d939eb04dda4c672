//! A rollout survives its coordinator: killed mid-rollout (SIGKILL), the coordinator resumes
//! at the same step with the same weights while the agents serve those weights; a serving
//! agent lost on the way does not stop it, and one that joins afterwards gets the current
//! weights.

use drover_tests::rollouts::{
    SPEC, actions, load, load_synthetic, registered, rollout, served, until_over, variants,
    versions,
};
use drover_tests::{drover_ok, wait_for};

/// A coordinator killed mid-rollout resumes at the same step with the same weights; the
/// agents serve those weights while it is down; a serving agent lost on the way does not
/// stop the rollout, and one that joins after gets the current weights.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_survives_a_killed_coordinator_and_a_lost_agent() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("coord");
    let d = data.to_str().expect("utf-8").to_string();
    let log = |name: &str| tmp.path().join(format!("{name}.log"));
    let (coordinator, addr) =
        drover_tests::spawn_coordinator(&data, "127.0.0.1:0", log("c1")).await;
    let csv = tmp.path().join("churn.csv");
    std::fs::write(&csv, drover_tests::churn_csv(300, 7)).expect("csv");
    drover_ok(&[
        "data",
        "add",
        csv.to_str().expect("utf-8"),
        "--name",
        "churn",
        "--data-dir",
        &d,
    ]);
    let join = |name: &str, labels: &str| {
        let state = tmp.path().join(name);
        drover_tests::join_agent(&d, &state);
        drover_tests::serving_agent(&state, labels, log(name))
    };
    let main = join("main", "role=train,serve,zone=main");
    let http = drover_tests::logged_http_addr(&main).await;
    let feedback = drover_tests::feedback_token(&tmp.path().join("main"));
    let lost = join("lost", "role=serve");
    drover_tests::logged_http_addr(&lost).await;
    for (seed, reference) in [(7, "churn@1"), (8, "churn@2")] {
        let spec = tmp.path().join(format!("train{seed}.toml"));
        let text =
            drover_tests::quick_spec("restart").replace("seed = 7", &format!("seed = {seed}"));
        std::fs::write(&spec, text).expect("spec");
        drover_ok(&["train", spec.to_str().expect("utf-8"), "--data-dir", &d]);
        registered(&d, reference).await;
    }
    drover_ok(&["models", "deploy", "churn@1", "--data-dir", &d]);
    served(http).await;
    let spec = tmp.path().join("rollout.toml");
    // Two seeds of one model differ a little in the classes they predict. Steps last 3 s, so
    // one second of load at a time stops within the second step.
    let text = SPEC
        .replace("[20, 50, 100]", "[10, 50, 100]")
        .replace("step_duration = \"1s\"", "step_duration = \"3s\"")
        .replace("accuracy = 0.05", "accuracy = 0.05\npredictions = 0.2");
    std::fs::write(&spec, text).expect("spec");
    drover_ok(&[
        "rollout",
        "start",
        "churn",
        "--candidate",
        "2",
        "--spec",
        spec.to_str().expect("utf-8"),
        "--data-dir",
        &d,
    ]);
    for _ in 0..30 {
        if rollout(&d, "churn")["rollout"]["step"] == 1 {
            break;
        }
        load((http, &feedback), &d, 1).await;
    }
    let before = rollout(&d, "churn");
    assert_eq!(before["rollout"]["step"], 1, "{before}");
    assert_eq!(before["rollout"]["phase"], "Running", "{before}");

    lost.signal("KILL");
    coordinator.signal("KILL");
    let down = load_synthetic(http, 1).await;
    assert_eq!(
        versions(&down),
        ["churn@1", "churn@2"],
        "the last weights, served: {down}"
    );

    let (_again, _) = drover_tests::spawn_coordinator(&data, &addr.to_string(), log("c2")).await;
    let after = rollout(&d, "churn");
    assert_eq!(
        after["rollout"], before["rollout"],
        "the same step, from the same time"
    );
    assert_eq!(after["weights"], before["weights"]);
    assert_eq!(actions(&after), ["Started", "Advanced"]);

    let late = join("late", "role=serve,zone=late");
    let late_http = drover_tests::logged_http_addr(&late).await;
    let late_feedback = drover_tests::feedback_token(&tmp.path().join("late"));
    wait_for("the late agent to serve both versions", || async {
        let (status, _) = drover_tests::http_request(
            late_http,
            "GET",
            "/v2/models/churn/versions/2/ready",
            &[],
            None,
        )
        .await;
        (status == 200).then_some(())
    })
    .await;
    // The same rows as the rest of the traffic: a synthetic row would shift the distribution
    // of predictions, which the analysis would rightly see.
    let joined = load((late_http, &late_feedback), &d, 1).await;
    assert_eq!(versions(&joined), ["churn@1", "churn@2"], "{joined}");

    let done = until_over((http, &feedback), &d, "churn").await;
    assert_eq!(done["rollout"]["phase"], "Succeeded", "{done}");
    assert_eq!(variants(&d, "churn"), [(2, 100)]);
}
