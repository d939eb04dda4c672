//! The command line at its edges: output piped into a reader that stops early ends quietly,
//! a token cannot be made to live less than a second, and state dirs are private.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use drover_tests::{bin, drover, drover_agent, spawn_coordinator, wait_for};

/// Runs `program args`, reads the first line of its output, closes the pipe and returns the
/// exit code and what it wrote to stderr.
fn first_line_then_close(program: &str, args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(bin(program))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut first = [0u8; 64];
    stdout.read_exact(&mut first).expect("some output");
    drop(stdout);
    let out = child.wait_with_output().expect("exits");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    for (program, args) in [
        (
            "drover",
            &["data", "synth", "churn", "--rows", "200000"][..],
        ),
        ("drover", &["completions", "bash"][..]),
        ("drover-agent", &["completions", "zsh"][..]),
    ] {
        let (code, stderr) = first_line_then_close(program, args);
        assert_eq!(code, Some(0), "{program} {args:?}: {stderr}");
        assert!(stderr.is_empty(), "{program} {args:?}: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_live_a_second_at_least_and_data_dirs_are_private() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("coord");
    std::fs::create_dir(&data).expect("dir");
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let (mut proc, _) = spawn_coordinator(&data, "127.0.0.1:0", tmp.path().join("c.log")).await;
    wait_for("the open data dir to be named", || async {
        proc.log_text()
            .contains("the data dir is open to other users")
            .then_some(())
    })
    .await;
    assert!(proc.log_text().contains("chmod 700"));
    let db = std::fs::metadata(data.join("drover.db")).expect("store");
    assert_eq!(db.permissions().mode() & 0o777, 0o600);

    let dir = data.to_str().expect("utf-8");
    for short in ["0s", "1ms", "999ms"] {
        let out = drover(&["token", "create", "--ttl", short, "--data-dir", dir]);
        assert_eq!(out.status.code(), Some(1), "{short}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("at least 1s"), "{stderr}");
    }
    let out = drover(&["token", "create", "--ttl", "1500ms", "--data-dir", dir]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("within 1s"),
        "the real lifetime is printed: {stderr}"
    );
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();

    let state = tmp.path().join("agent");
    let joined = drover_agent(&[
        "join",
        &token,
        "--state-dir",
        state.to_str().expect("utf-8"),
    ]);
    assert!(
        joined.status.success(),
        "{}",
        String::from_utf8_lossy(&joined.stderr)
    );
    let mode = std::fs::metadata(&state)
        .expect("state dir")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
    proc.signal("TERM");
    assert_eq!(proc.wait_exit().await, Some(0));
}
