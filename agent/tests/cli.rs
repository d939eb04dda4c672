//! The `drover-agent` binary's exit statuses and one-line errors (this file also makes
//! `cargo test --workspace` build the binary that the end-to-end tests start).

use std::process::Command;

fn agent(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_drover-agent"))
        .args(args)
        .output()
        .expect("drover-agent runs")
}

#[test]
fn a_damaged_token_is_refused_and_nothing_is_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let out = agent(&[
        "join",
        "drv1_not-really-a-token",
        "--state-dir",
        state.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("damaged"), "{stderr}");
    assert!(!state.exists());
}

#[test]
fn run_without_joining_says_how_to_join() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = agent(&[
        "run",
        "--state-dir",
        dir.path().to_str().expect("utf-8"),
        "--http",
        "off",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("drover-agent join"));
}

#[test]
fn bad_labels_are_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = agent(&[
        "run",
        "--state-dir",
        dir.path().to_str().expect("utf-8"),
        "--labels",
        "=oops",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("label"));
}
