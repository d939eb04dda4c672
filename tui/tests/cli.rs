//! The `drover` binary's exit statuses and one-line errors (this file also makes
//! `cargo test --workspace` build the binary that the end-to-end tests start).

use std::process::Command;

fn drover(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(args)
        .output()
        .expect("drover runs")
}

#[test]
fn bad_usage_exits_2() {
    let out = drover(&["agents", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn verbs_without_a_coordinator_exit_1_with_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = drover(&["agents", "--data-dir", dir.path().to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("no coordinator is running"), "{stderr}");
}

#[test]
fn bad_config_values_are_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = drover(&[
        "coordinator",
        "--data-dir",
        dir.path().to_str().expect("utf-8"),
        "--listen",
        "not-an-address",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("listen"));
    assert!(
        !dir.path().join("pki").exists(),
        "nothing is created on a config error"
    );
}

#[test]
fn environment_settings_apply_and_flags_win() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_str().expect("utf-8");
    let from_env = Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(["coordinator", "--data-dir", data])
        .env("DROVER_HEARTBEAT_INTERVAL", "10ms")
        .output()
        .expect("drover runs");
    assert_eq!(from_env.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&from_env.stderr).contains("heartbeat_interval"));
    let flag_wins = Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(["agents", "--data-dir", data])
        .env("DROVER_DATA_DIR", "/nonexistent/elsewhere")
        .output()
        .expect("drover runs");
    assert!(String::from_utf8_lossy(&flag_wins.stderr).contains(data));
}

#[test]
fn config_example_is_printed() {
    let out = drover(&["config-example"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("heartbeat_interval"));
}
