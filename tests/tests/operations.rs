//! Operating a coordinator, as an operator would with the CLI: a backup taken while the
//! coordinator and an agent are busy, restored into a new data dir that a new coordinator then
//! serves to the same agent with every run and model; damaged or foreign archives refused with
//! nothing changed; `drover doctor` passing on a healthy data dir and naming the fix otherwise.

use std::path::Path;

use drover_tests::{
    Proc, bin, churn_csv, drover, drover_agent, drover_ok, quick_spec, spawn_coordinator, wait_for,
};

fn json(args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&drover_ok(args)).expect("JSON")
}

fn failing(args: &[&str]) -> String {
    let out = drover(args);
    assert_eq!(out.status.code(), Some(1), "drover {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).to_string()
}

fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_restore_and_doctor() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("coord");
    let (coordinator, addr) =
        spawn_coordinator(&data, "127.0.0.1:0", tmp.path().join("coord.log")).await;
    let token = drover_ok(&["token", "create", "--data-dir", s(&data)]);
    let state = tmp.path().join("agent");
    let joined = drover_agent(&["join", token.trim(), "--state-dir", s(&state)]);
    assert!(joined.status.success());
    let _agent = Proc::spawn(
        &bin("drover-agent"),
        &["run", "--state-dir", s(&state), "--http", "off"],
        tmp.path().join("agent.log"),
    );
    let csv = tmp.path().join("churn.csv");
    std::fs::write(&csv, churn_csv(300, 7)).expect("csv");
    drover_ok(&[
        "data",
        "add",
        s(&csv),
        "--name",
        "churn",
        "--data-dir",
        s(&data),
    ]);
    let spec = tmp.path().join("spec.toml");
    std::fs::write(&spec, quick_spec("ops")).expect("spec");
    drover_ok(&["train", s(&spec), "--follow", "--data-dir", s(&data)]);

    // Doctor on the healthy, running coordinator: every check passes, the agent's clock too.
    let report = wait_for("the agent's clock to be measured", || async {
        let report = json(&["doctor", "--json", "--data-dir", s(&data)]);
        let clocks = report
            .as_array()
            .and_then(|a| a.iter().find(|c| c["name"] == "agent clocks"))
            .cloned()
            .expect("clock check");
        clocks["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("1 agent(s) compared"))
            .then_some(report)
    })
    .await;
    let checks = report.as_array().expect("checks");
    assert!(checks.len() >= 7, "{report}");
    // Free disk depends on the machine running the tests, not on drover: a warning there is
    // not a finding about the data dir.
    assert!(
        checks
            .iter()
            .all(|c| c["verdict"] == "ok" || (c["name"] == "free disk" && c["verdict"] == "warn")),
        "{report}"
    );

    // Online backup while the agent heartbeats.
    let archive = tmp.path().join("drover.backup");
    let backup = json(&["backup", s(&archive), "--json", "--data-dir", s(&data)]);
    assert_eq!(
        backup["artifacts"], 2,
        "the dataset and the model: {backup}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&archive)
        .expect("archive")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the archive holds the CA key");

    // Not into a data dir a coordinator runs on; damaged and foreign files change nothing.
    let refused = failing(&["restore", s(&archive), "--data-dir", s(&data)]);
    assert!(refused.contains("stop the coordinator"), "{refused}");
    let restored = tmp.path().join("restored");
    let mut bytes = std::fs::read(&archive).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    let damaged = tmp.path().join("damaged.backup");
    std::fs::write(&damaged, &bytes).expect("write");
    let err = failing(&["restore", s(&damaged), "--data-dir", s(&restored)]);
    assert!(
        err.contains("damaged") || err.contains("corrupt") || err.contains("not a drover backup"),
        "{err}"
    );
    let err = failing(&["restore", s(&csv), "--data-dir", s(&restored)]);
    assert!(err.contains("not a drover backup"), "{err}");
    assert!(!restored.exists(), "a refused restore creates nothing");

    // Restore: artifacts are listed as missing until they are copied.
    let first = json(&["restore", s(&archive), "--json", "--data-dir", s(&restored)]);
    assert_eq!(first["artifacts_missing"].as_array().map(Vec::len), Some(2));
    let again = failing(&["restore", s(&archive), "--data-dir", s(&restored)]);
    assert!(again.contains("--force"), "{again}");
    copy_dir(&data.join("artifacts"), &restored.join("artifacts"));
    let second = json(&[
        "restore",
        s(&archive),
        "--force",
        "--json",
        "--data-dir",
        s(&restored),
    ]);
    assert_eq!(second["artifacts_missing"], serde_json::json!([]));
    assert_eq!(second["artifacts_present"], 2);

    // A coordinator on the restored dir, at the old address: the agent comes back by itself.
    coordinator.signal("TERM");
    let mut coordinator = coordinator;
    assert_eq!(coordinator.wait_exit().await, Some(0));
    let (_restored_coordinator, _) = spawn_coordinator(
        &restored,
        &addr.to_string(),
        tmp.path().join("restored.log"),
    )
    .await;
    wait_for("the agent on the restored coordinator", || async {
        drover_tests::statuses(&restored)
            .iter()
            .any(|(_, status)| status == "ready")
            .then_some(())
    })
    .await;
    let runs = json(&["runs", "list", "--json", "--data-dir", s(&restored)]);
    assert_eq!(runs.as_array().map(Vec::len), Some(1), "{runs}");
    assert_eq!(runs[0]["status"], "succeeded");
    let models = json(&["models", "list", "--json", "--data-dir", s(&restored)]);
    assert!(models.to_string().contains("churn"), "{models}");

    // Doctor names what is wrong and how to fix it, and exits 1.
    let key = restored.join("pki/ca.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = drover(&["doctor", "--data-dir", s(&restored)]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("FAIL") && text.contains(&format!("chmod 600 {}", key.display())),
        "{text}"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir").flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}
