//! Rollouts end to end, with real agents serving real HTTP under `drover load` with
//! feedback: a candidate trained on shuffled labels is rolled back by itself with no failed
//! request; a sound one is promoted through every step and becomes production; operators
//! pause, resume and abort; what a running rollout owns cannot be changed behind its back.

use drover_tests::rollouts::{
    SPEC, actions, load, ok, rollout, served, shuffled, stage, start, train, until_over, variants,
    versions,
};
use drover_tests::{InProcessAgent, drover, drover_ok};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shuffled_candidate_rolls_back_and_a_sound_one_is_promoted_through_every_step() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (coordinator, data) = drover_tests::coordinator_with_churn(tmp.path()).await;
    let handle = coordinator.handle();
    let d = data.to_str().expect("utf-8").to_string();
    drover_tests::add_dataset(
        &data,
        "churn-shuffled",
        &shuffled(&drover_tests::churn_csv(300, 7)),
    )
    .await;
    let trainer =
        InProcessAgent::join_and_run(&handle, tmp.path().join("trainer"), "trainer").await;
    let spec = drover_tests::quick_spec("rollout");
    train(&handle, &spec, "churn@1").await;
    train(
        &handle,
        &spec.replace("churn@latest", "churn-shuffled@latest"),
        "churn@2",
    )
    .await;
    train(&handle, &spec.replace("seed = 7", "seed = 8"), "churn@3").await;

    let state = tmp.path().join("server");
    drover_tests::join_agent(&d, &state);
    let agent = drover_tests::serving_agent(
        &state,
        "role=serve,zone=edge",
        tmp.path().join("server.log"),
    );
    let http = drover_tests::logged_http_addr(&agent).await;
    let feedback = drover_tests::feedback_token(&state);
    let spec_file = tmp.path().join("rollout.toml");
    std::fs::write(&spec_file, SPEC).expect("spec");
    let spec_path = spec_file.to_str().expect("utf-8");

    let undeployed = start(&d, "2", &[]);
    assert!(
        String::from_utf8_lossy(&undeployed.stderr).contains("churn is not deployed"),
        "{undeployed:?}"
    );
    drover_ok(&[
        "models",
        "deploy",
        "churn@1",
        "--agents",
        "zone=edge",
        "--data-dir",
        &d,
    ]);
    served(http).await;
    load((http, &feedback), &d, 1).await;

    // The shuffled candidate: rolled back by itself, with no failed request.
    let out = ok(start(&d, "2", &["--spec", spec_path]));
    assert!(
        out.contains("rollout 1 started: canary of churn@2 against @1"),
        "{out}"
    );
    let busy = start(&d, "3", &[]);
    assert!(
        String::from_utf8_lossy(&busy.stderr).contains("already has rollout 1 running"),
        "one rollout per model: {busy:?}"
    );
    let redeploy = drover(&[
        "models",
        "deploy",
        "churn@3",
        "--agents",
        "zone=edge",
        "--data-dir",
        &d,
    ]);
    assert!(
        String::from_utf8_lossy(&redeploy.stderr).contains("has rollout 1 running"),
        "the deployment is the rollout's: {redeploy:?}"
    );
    let bad = until_over((http, &feedback), &d, "churn").await;
    let reason = bad["rollout"]["phase"]["RolledBack"]["reason"]
        .as_str()
        .unwrap_or_default();
    assert!(reason.starts_with("analysis failed: "), "{bad}");
    assert_eq!(actions(&bad), ["Started", "RolledBack"], "{bad}");
    let failed_check = bad["decisions"][1]["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["verdict"] == "fail")
        .cloned()
        .expect("a failed check with its numbers");
    assert!(
        failed_check["candidate_n"].as_u64() >= Some(200) && failed_check["high"].is_number(),
        "{failed_check}"
    );
    assert_eq!(
        variants(&d, "churn"),
        [(1, 100)],
        "all traffic back on the baseline"
    );
    let report = load((http, &feedback), &d, 1).await;
    assert_eq!(
        report["versions"]
            .as_object()
            .expect("versions")
            .keys()
            .collect::<Vec<_>>(),
        ["churn@1"],
        "{report}"
    );

    // The shuffled candidate as a shadow: it gets a copy of every request, answers none, and
    // disagrees with the answers given too often.
    ok(start(
        &d,
        "2",
        &["--strategy", "shadow", "--spec", spec_path],
    ));
    assert_eq!(
        rollout(&d, "churn")["weights"],
        serde_json::json!({"baseline": 100, "candidate": 0, "shadow": true})
    );
    let shadowed = load((http, &feedback), &d, 1).await;
    assert_eq!(
        versions(&shadowed),
        ["churn@1"],
        "a shadow never answers: {shadowed}"
    );
    let disagreed = until_over((http, &feedback), &d, "churn").await;
    let reason = disagreed["rollout"]["phase"]["RolledBack"]["reason"]
        .as_str()
        .unwrap_or_default();
    assert!(
        reason.starts_with("analysis failed: disagreement fail"),
        "{disagreed}"
    );
    let scored = disagreed["decisions"][1]["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["metric"] == "accuracy")
        .cloned()
        .expect("an accuracy check");
    assert!(
        scored["candidate_n"].as_u64() > Some(0),
        "feedback scored the shadow's predictions: {scored}"
    );
    assert_eq!(variants(&d, "churn"), [(1, 100)]);

    // The sound candidate: every step, then production.
    ok(start(&d, "3", &["--spec", spec_path]));
    let good = until_over((http, &feedback), &d, "churn").await;
    assert_eq!(good["rollout"]["phase"], "Succeeded", "{good}");
    assert_eq!(
        actions(&good),
        ["Started", "Advanced", "Promoted", "Succeeded"],
        "{good}"
    );
    assert_eq!(variants(&d, "churn"), [(3, 100)]);
    assert_eq!(stage(&d, "churn@3"), "production");
    assert_eq!(stage(&d, "churn@1"), "archived");
    let shown = drover_ok(&["models", "show", "churn@2", "--data-dir", &d]);
    assert!(
        shown.contains("rollout: rolled back by rollout 2: analysis failed: disagreement fail"),
        "the registry says why the candidate went back: {shown}"
    );
    let shown = drover_ok(&["models", "show", "churn@3", "--data-dir", &d]);
    assert!(
        shown.contains("rollout: promoted to production by rollout 3"),
        "{shown}"
    );

    // Operators: pause, resume and abort, each recorded with who did it.
    ok(start(&d, "1", &[]));
    let paused = drover_ok(&["rollout", "pause", "churn", "--data-dir", &d]);
    assert!(paused.contains("paused by the operator"), "{paused}");
    let again = drover(&["rollout", "pause", "churn", "--data-dir", &d]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("cannot pause while paused"));
    let resumed = drover_ok(&["rollout", "resume", "churn", "--data-dir", &d]);
    assert!(resumed.contains("step 1/4 (5%)"), "{resumed}");
    assert_eq!(variants(&d, "churn"), [(3, 95), (1, 5)]);
    drover_ok(&["rollout", "abort", "churn", "--data-dir", &d]);
    assert_eq!(variants(&d, "churn"), [(3, 100)]);
    let list = drover_ok(&["rollout", "list", "--data-dir", &d]);
    assert_eq!(
        list.lines().count(),
        5,
        "a header and four rollouts: {list}"
    );
    assert!(
        list.contains("rolled back: aborted by the operator"),
        "{list}"
    );
    let events = drover_ok(&["events", "--data-dir", &d]);
    assert!(
        events.contains("rollout.decided") && events.contains("operator operator: abort rollout 4"),
        "{events}"
    );

    drop(agent);
    let _ = trainer.stop().await;
    coordinator.stop().await;
}

/// A spec that cannot be used is refused before anything starts, naming the field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_spec_is_refused_with_its_reason() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path().to_str().expect("utf-8").to_string();
    let spec = tmp.path().join("bad.toml");
    std::fs::write(&spec, "steps = [50, 20, 100]\n").expect("spec");
    let out = start(&d, "2", &["--spec", spec.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.toml") && stderr.contains("must rise"),
        "{stderr}"
    );
    let strategy = start(&d, "2", &["--strategy", "yolo"]);
    assert!(
        String::from_utf8_lossy(&strategy.stderr).contains("one of canary, ab, shadow, bluegreen")
    );
}
