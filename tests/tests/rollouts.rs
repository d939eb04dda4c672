//! Rollouts end to end, with real agents serving real HTTP under `drover load` with
//! feedback: a candidate trained on shuffled labels is rolled back by itself with no failed
//! request; a sound one is promoted through every step and becomes production; operators
//! pause, resume and abort; what a running rollout owns cannot be changed behind its back.

use std::net::SocketAddr;

use drover_tests::{InProcessAgent, drover, drover_ok, wait_for};
use serde_json::Value;

/// A quick canary: steps of 20, 50 and 100%, a second per step at least, an accuracy
/// tolerance wide enough for a few thousand requests to decide.
const SPEC: &str = r#"
steps = [20, 50, 100]
step_duration = "1s"
step_samples = 200
step_deadline = "2m"
min_feedback = 200
guard = "2s"
[tolerances]
accuracy = 0.05
"#;

/// The churn table with its `churned` column shuffled: a model trained on it learns nothing.
fn shuffled(csv: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(csv.to_vec()).expect("utf-8");
    let mut lines = text.lines();
    let header = lines.next().expect("header");
    let target = header
        .split(',')
        .position(|c| c == "churned")
        .expect("churned column");
    let rows: Vec<Vec<String>> = lines
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    let labels: Vec<String> = rows.iter().map(|r| r[target].clone()).collect();
    let mut out = format!("{header}\n");
    for (i, row) in rows.iter().enumerate() {
        let mut row = row.clone();
        row[target] = labels[(i * 7919 + 13) % labels.len()].clone();
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out.into_bytes()
}

/// The newest rollout of `model` as `drover rollout status MODEL --json` reports it.
fn rollout(data: &str, model: &str) -> Value {
    let out = drover_ok(&["rollout", "status", model, "--json", "--data-dir", data]);
    let list: Value = serde_json::from_str(&out).expect("json");
    list[0].clone()
}

/// Runs `drover load` with feedback against `http` for `seconds`; asserts no request failed
/// and returns the report.
async fn load(http: SocketAddr, data: &str, seconds: u32) -> Value {
    let labelled = [
        "--data",
        "churn@1",
        "--feedback",
        "--key-header",
        "--data-dir",
        data,
    ];
    load_with(http, seconds, &labelled).await
}

/// Runs `drover load` of one synthetic row, with no key, against `http` for `seconds` (it
/// needs no coordinator); asserts no request failed and returns the report.
async fn load_synthetic(http: SocketAddr, seconds: u32) -> Value {
    load_with(http, seconds, &[]).await
}

async fn load_with(http: SocketAddr, seconds: u32, extra: &[&str]) -> Value {
    let url = format!("http://{http}");
    let duration = format!("{seconds}s");
    let mut args: Vec<String> = [
        "load",
        &url,
        "--model",
        "churn",
        "--duration",
        &duration,
        "--concurrency",
        "4",
        "--json",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    args.extend(extra.iter().map(|a| a.to_string()));
    let out = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        drover_ok(&args)
    })
    .await
    .expect("load");
    let report: Value = serde_json::from_str(&out).expect("json");
    let statuses: Vec<&String> = report["statuses"]
        .as_object()
        .expect("statuses")
        .keys()
        .collect();
    assert_eq!(statuses, ["200"], "no request failed: {report}");
    report
}

/// Drives load until the rollout of `model` is over; returns it.
async fn until_over(http: SocketAddr, data: &str, model: &str) -> Value {
    for _ in 0..30 {
        load(http, data, 2).await;
        let r = rollout(data, model);
        let phase = &r["rollout"]["phase"];
        if phase == "Succeeded" || phase.get("RolledBack").is_some() {
            return r;
        }
        assert!(phase.get("Paused").is_none(), "the rollout paused: {r}");
    }
    panic!("the rollout did not end: {}", rollout(data, model));
}

/// The versions `drover deployments --json` has on `model`, as (version, weight).
fn variants(data: &str, model: &str) -> Vec<(u64, u64)> {
    let out = drover_ok(&["deployments", "--json", "--data-dir", data]);
    let list: Value = serde_json::from_str(&out).expect("json");
    list.as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["deployment"]["model"] == model)
        .flat_map(|d| {
            d["deployment"]["variants"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|v| {
            (
                v["version"].as_u64().unwrap_or(0),
                v["weight"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

fn stage(data: &str, reference: &str) -> String {
    let out = drover_ok(&["models", "show", reference, "--json", "--data-dir", data]);
    let version: Value = serde_json::from_str(&out).expect("json");
    version["stage"].as_str().unwrap_or_default().to_string()
}

fn actions(r: &Value) -> Vec<String> {
    r["decisions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| match &d["action"] {
            Value::String(s) => s.clone(),
            other => other
                .as_object()
                .and_then(|o| o.keys().next().cloned())
                .unwrap_or_default(),
        })
        .collect()
}

async fn train(handle: &drover_coordinator::CoordinatorHandle, spec: &str, expect: &str) {
    let run = drover_tests::submit(handle, spec).await.expect("queued");
    let trained = drover_tests::finished(handle, &run).await;
    assert_eq!(trained.registered.as_deref(), Some(expect), "{trained:?}");
}

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
    let spec_file = tmp.path().join("rollout.toml");
    std::fs::write(&spec_file, SPEC).expect("spec");
    let spec_path = spec_file.to_str().expect("utf-8");

    let undeployed = drover(&[
        "rollout",
        "start",
        "churn",
        "--candidate",
        "2",
        "--data-dir",
        &d,
    ]);
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
    wait_for("churn@1 to be served", || async {
        let (status, _) =
            drover_tests::http_request(http, "GET", "/v2/models/churn/ready", &[], None).await;
        (status == 200).then_some(())
    })
    .await;
    load(http, &d, 1).await;

    // The shuffled candidate: rolled back by itself, with no failed request.
    let out = drover_ok(&[
        "rollout",
        "start",
        "churn",
        "--candidate",
        "2",
        "--spec",
        spec_path,
        "--data-dir",
        &d,
    ]);
    assert!(
        out.contains("rollout 1 started: canary of churn@2 against @1"),
        "{out}"
    );
    let busy = drover(&[
        "rollout",
        "start",
        "churn",
        "--candidate",
        "3",
        "--data-dir",
        &d,
    ]);
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
    let bad = until_over(http, &d, "churn").await;
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
    let report = load(http, &d, 1).await;
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
    drover_ok(&[
        "rollout",
        "start",
        "churn",
        "--candidate",
        "2",
        "--strategy",
        "shadow",
        "--spec",
        spec_path,
        "--data-dir",
        &d,
    ]);
    assert_eq!(
        rollout(&d, "churn")["weights"],
        serde_json::json!({"baseline": 100, "candidate": 0, "shadow": true})
    );
    let shadowed = load(http, &d, 1).await;
    assert_eq!(
        versions(&shadowed),
        ["churn@1"],
        "a shadow never answers: {shadowed}"
    );
    let disagreed = until_over(http, &d, "churn").await;
    let reason = disagreed["rollout"]["phase"]["RolledBack"]["reason"]
        .as_str()
        .unwrap_or_default();
    assert!(
        reason.starts_with("analysis failed: disagreement fail"),
        "{disagreed}"
    );
    assert_eq!(variants(&d, "churn"), [(1, 100)]);

    // The sound candidate: every step, then production.
    drover_ok(&[
        "rollout",
        "start",
        "churn",
        "--candidate",
        "3",
        "--spec",
        spec_path,
        "--data-dir",
        &d,
    ]);
    let good = until_over(http, &d, "churn").await;
    assert_eq!(good["rollout"]["phase"], "Succeeded", "{good}");
    assert_eq!(
        actions(&good),
        ["Started", "Advanced", "Promoted", "Succeeded"],
        "{good}"
    );
    assert_eq!(variants(&d, "churn"), [(3, 100)]);
    assert_eq!(stage(&d, "churn@3"), "production");
    assert_eq!(stage(&d, "churn@1"), "archived");

    // Operators: pause, resume and abort, each recorded with who did it.
    drover_ok(&[
        "rollout",
        "start",
        "churn",
        "--candidate",
        "1",
        "--data-dir",
        &d,
    ]);
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
    let spec = tmp.path().join("bad.toml");
    std::fs::write(&spec, "steps = [50, 20, 100]\n").expect("spec");
    let out = drover(&[
        "rollout",
        "start",
        "churn",
        "--candidate",
        "2",
        "--spec",
        spec.to_str().expect("utf-8"),
        "--data-dir",
        tmp.path().to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.toml") && stderr.contains("must rise"),
        "{stderr}"
    );
    let strategy = drover(&[
        "rollout",
        "start",
        "churn",
        "--candidate",
        "2",
        "--strategy",
        "yolo",
        "--data-dir",
        tmp.path().to_str().expect("utf-8"),
    ]);
    assert!(
        String::from_utf8_lossy(&strategy.stderr).contains("one of canary, ab, shadow, bluegreen")
    );
}

/// The versions that answered in a `drover load` report.
fn versions(report: &Value) -> Vec<String> {
    report["versions"]
        .as_object()
        .map(|v| v.keys().cloned().collect())
        .unwrap_or_default()
}

/// Waits for `reference` to be registered.
async fn registered(data: &str, reference: &str) {
    wait_for(&format!("{reference} to be registered"), || async {
        drover(&["models", "show", reference, "--data-dir", data])
            .status
            .success()
            .then_some(())
    })
    .await;
}

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
    wait_for("churn@1 to be served", || async {
        let (status, _) =
            drover_tests::http_request(http, "GET", "/v2/models/churn/ready", &[], None).await;
        (status == 200).then_some(())
    })
    .await;
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
        load(http, &d, 1).await;
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
    let joined = load_synthetic(late_http, 1).await;
    assert_eq!(versions(&joined), ["churn@1", "churn@2"], "{joined}");

    let done = until_over(http, &d, "churn").await;
    assert_eq!(done["rollout"]["phase"], "Succeeded", "{done}");
    assert_eq!(variants(&d, "churn"), [(2, 100)]);
}
