//! Running under systemd, as processes: readiness is notified only once the agent is connected
//! (or the coordinator listening), the watchdog is pinged, SIGTERM drains an agent (no new
//! jobs, the running one finishes, or is cancelled and queued again when the grace period
//! ends), SIGHUP reloads the config, and logs can be JSON lines.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use drover_coordinator::CoordinatorHandle;
use drover_protocol::msg::{OperatorRequest, OperatorResponse};
use drover_protocol::run::RunStatus;
use drover_protocol::types::{AgentInfo, AgentStatus};
use drover_tests::{
    Proc, add_dataset, agents, bin, churn_csv, drover_agent, finished, run_detail,
    start_coordinator, submit, token, wait_for,
};

const SPEC: &str = r#"
experiment = "lifecycle"
model = "churn"
dataset = "churn@latest"
target = "churned"
task = "classification"
algorithm = "logistic_regression"
seed = 7
cv_folds = 3
test_fraction = 0.2
tags = { "drover.fault" = "slow:MS" }
"#;

/// A spec whose job waits `ms` before training.
fn slow_spec(ms: u64) -> String {
    SPEC.replace("MS", &ms.to_string())
}

/// A stand-in for systemd's notification socket: collects every datagram sent to it.
struct NotifySocket {
    path: String,
    received: Arc<Mutex<Vec<String>>>,
}

impl NotifySocket {
    fn bind(dir: &Path) -> Self {
        let path = dir.join("notify.sock");
        let socket = UnixDatagram::bind(&path).expect("notify socket");
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink = received.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // Ends when the test process exits; reads time out so the thread never blocks for
            // long.
            loop {
                if let Ok(n) = socket.recv(&mut buf) {
                    let text = String::from_utf8_lossy(&buf[..n]).to_string();
                    sink.lock().expect("lock").push(text);
                }
            }
        });
        Self {
            path: path.to_str().expect("utf-8").to_string(),
            received,
        }
    }

    fn messages(&self) -> Vec<String> {
        self.received.lock().expect("lock").clone()
    }

    fn count(&self, line: &str) -> usize {
        self.messages()
            .iter()
            .filter(|m| m.lines().any(|l| l == line))
            .count()
    }

    async fn wait_for(&self, line: &str) {
        wait_for(&format!("{line} on the notify socket"), || async {
            (self.count(line) > 0).then_some(())
        })
        .await;
    }
}

async fn agent(handle: &CoordinatorHandle, id: &str) -> AgentInfo {
    agents(handle)
        .await
        .into_iter()
        .find(|a| a.id.0 == id)
        .expect("agent listed")
}

async fn reaches(handle: &CoordinatorHandle, run: &str, status: RunStatus) {
    wait_for(&format!("run {run} to be {status:?}"), || async {
        (run_detail(handle, run).await.summary.status == status).then_some(())
    })
    .await;
}

fn join(token: &str, state: &Path) -> String {
    let out = drover_agent(&["join", token, "--state-dir", state.to_str().expect("utf-8")]);
    assert!(
        out.status.success(),
        "join: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_notifies_systemd_and_drains_on_sigterm() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("coord");
    let coordinator = start_coordinator(&data).await;
    let handle = coordinator.handle();
    add_dataset(&data, "churn", &churn_csv(400, 7)).await;
    let state = tmp.path().join("agent");
    let id = join(&token(&handle, 1, 60).await, &state);
    let state_s = state.to_str().expect("utf-8");
    let notify = NotifySocket::bind(tmp.path());
    let env = [
        ("NOTIFY_SOCKET", notify.path.as_str()),
        ("WATCHDOG_USEC", "300000"),
    ];
    // systemd names the process the watchdog is for; `exec` keeps the shell's pid.
    let agent_bin = bin("drover-agent");
    let args = [
        "-c",
        "WATCHDOG_PID=$$ exec \"$0\" \"$@\"",
        agent_bin.to_str().expect("utf-8"),
        "run",
        "--state-dir",
        state_s,
        "--http",
        "off",
        "--shutdown-grace",
        "60s",
    ];
    let mut proc = Proc::spawn_with_env(
        Path::new("/bin/sh"),
        &args,
        &env,
        tmp.path().join("agent.log"),
    );
    notify.wait_for("READY=1").await;
    assert_eq!(
        agent(&handle, &id).await.status,
        AgentStatus::Ready,
        "readiness is sent only once connected"
    );
    wait_for("two watchdog pings", || async {
        (notify.count("WATCHDOG=1") >= 2).then_some(())
    })
    .await;

    let running = submit(&handle, &slow_spec(2500)).await.expect("queued");
    reaches(&handle, &running, RunStatus::Running).await;
    proc.signal("TERM");
    wait_for("the agent to show draining", || async {
        (agent(&handle, &id).await.status == AgentStatus::Draining).then_some(())
    })
    .await;
    notify.wait_for("STOPPING=1").await;
    let waiting = submit(&handle, &slow_spec(30_000)).await.expect("queued");
    let done = finished(&handle, &running).await;
    assert_eq!(
        done.summary.status,
        RunStatus::Succeeded,
        "the running job finished during the drain: {:?}",
        done.summary.error
    );
    assert_eq!(proc.wait_exit().await, Some(0), "{}", proc.log_text());
    let queued = run_detail(&handle, &waiting).await;
    assert_eq!(
        (queued.summary.status, queued.summary.agent),
        (RunStatus::Queued, None),
        "a draining agent takes no new job"
    );

    // Again with a short grace period: the job is cancelled and queued again.
    let mut proc = Proc::spawn(
        &bin("drover-agent"),
        &[
            "run",
            "--state-dir",
            state_s,
            "--http",
            "off",
            "--shutdown-grace",
            "300ms",
        ],
        tmp.path().join("agent2.log"),
    );
    reaches(&handle, &waiting, RunStatus::Running).await;
    proc.signal("TERM");
    assert_eq!(proc.wait_exit().await, Some(0), "{}", proc.log_text());
    assert!(
        proc.log_text().contains("grace period over"),
        "{}",
        proc.log_text()
    );
    reaches(&handle, &waiting, RunStatus::Queued).await;
    assert!(matches!(
        handle
            .request(OperatorRequest::CancelRun { id: waiting })
            .await,
        OperatorResponse::RunCancelled(_)
    ));
    coordinator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_agent_config_but_not_its_granted_labels_and_a_bad_one_changes_nothing()
{
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("coord");
    let coordinator = start_coordinator(&data).await;
    let handle = coordinator.handle();
    let state = tmp.path().join("agent");
    let id = join(&token(&handle, 1, 60).await, &state);
    let config = tmp.path().join("agent.toml");
    std::fs::write(&config, "labels = \"role=train,zone=a\"\nhttp = \"off\"\n").expect("write");
    let mut proc = Proc::spawn(
        &bin("drover-agent"),
        &[
            "--log-format",
            "json",
            "run",
            "--config",
            config.to_str().expect("utf-8"),
            "--state-dir",
            state.to_str().expect("utf-8"),
        ],
        tmp.path().join("agent.log"),
    );
    wait_for("the agent in zone a", || async {
        let info = agent(&handle, &id).await;
        (info.status == AgentStatus::Ready
            && info.labels.get("zone").map(String::as_str) == Some("a"))
        .then_some(())
    })
    .await;

    std::fs::write(
        &config,
        "labels = \"role=train,zone=b\"\nhttp = \"off\"\njob_slots = 3\n",
    )
    .expect("write");
    proc.signal("HUP");
    wait_for(
        "the reloaded slots, and zone b claimed but not granted",
        || async {
            let info = agent(&handle, &id).await;
            (info.labels.get("zone").map(String::as_str) == Some("a")
                && info.claimed.get("zone").map(String::as_str) == Some("b")
                && info.capacity.map(|c| c.job_slots) == Some(3))
            .then_some(())
        },
    )
    .await;
    let granted = handle
        .request(OperatorRequest::LabelAgent {
            id: drover_protocol::types::AgentId(id.clone()),
            set: [("zone".to_string(), "b".to_string())].into(),
            remove: Vec::new(),
        })
        .await;
    let OperatorResponse::AgentLabelled(info) = granted else {
        panic!("{granted:?}");
    };
    assert_eq!(info.labels.get("zone").map(String::as_str), Some("b"));
    assert!(info.claimed.is_empty(), "{:?}", info.claimed);

    std::fs::write(&config, "labels = 5\n").expect("write");
    proc.signal("HUP");
    wait_for("the failed reload to be logged", || async {
        proc.log_text()
            .contains("config reload failed")
            .then_some(())
    })
    .await;
    let info = agent(&handle, &id).await;
    assert_eq!(info.status, AgentStatus::Ready);
    assert_eq!(info.labels.get("zone").map(String::as_str), Some("b"));
    assert!(
        proc.child.try_wait().expect("try_wait").is_none(),
        "a bad config does not stop the agent"
    );

    proc.signal("TERM");
    assert_eq!(proc.wait_exit().await, Some(0));
    let log = proc.log_text();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.len() >= 3, "{log}");
    assert!(
        lines
            .iter()
            .all(|l| l["level"].is_string() && l["timestamp"].is_string())
    );
    assert!(
        lines
            .iter()
            .any(|l| l["message"] == "config reload failed; the running config stays"),
        "{log}"
    );
    coordinator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_headless_coordinator_notifies_systemd_and_reloads() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("coord");
    let config = tmp.path().join("coordinator.toml");
    std::fs::write(&config, "log_level = \"info\"\n").expect("write");
    let notify = NotifySocket::bind(tmp.path());
    let mut proc = Proc::spawn_with_env(
        &bin("drover"),
        &[
            "coordinator",
            "--config",
            config.to_str().expect("utf-8"),
            "--data-dir",
            data.to_str().expect("utf-8"),
            "--listen",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
        ],
        &[("NOTIFY_SOCKET", notify.path.as_str())],
        tmp.path().join("coord.log"),
    );
    notify.wait_for("READY=1").await;
    let ready = notify.messages();
    assert!(
        ready
            .iter()
            .any(|m| m.contains("STATUS=listening: quic 127.0.0.1:")),
        "{ready:?}"
    );
    assert!(
        drover_coordinator::runfile::is_running(&data),
        "ready only once it serves"
    );
    std::fs::write(&config, "log_level = \"debug\"\n").expect("write");
    proc.signal("HUP");
    notify.wait_for("RELOADING=1").await;
    wait_for("ready again after the reload", || async {
        (notify.count("READY=1") >= 2).then_some(())
    })
    .await;
    proc.signal("TERM");
    assert_eq!(proc.wait_exit().await, Some(0), "{}", proc.log_text());
    assert!(notify.count("STOPPING=1") >= 1);
}

#[test]
fn completions_and_man_pages_cover_every_command() {
    for (binary, sub) in [("drover", "runs"), ("drover-agent", "join")] {
        let run = |args: &[&str]| {
            let out = std::process::Command::new(bin(binary))
                .args(args)
                .output()
                .expect("runs");
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).to_string(),
            )
        };
        let (code, bash) = run(&["completions", "bash"]);
        assert_eq!(code, Some(0));
        assert!(bash.contains("complete -F") && bash.contains(sub), "{bash}");
        let (_, zsh) = run(&["completions", "zsh"]);
        assert!(zsh.starts_with(&format!("#compdef {binary}")));
        let (_, fish) = run(&["completions", "fish"]);
        assert!(fish.contains(&format!("complete -c {binary}")));
        let (code, _) = run(&["completions", "tcsh"]);
        assert_eq!(code, Some(2), "an unknown shell is a usage error");
        let (_, page) = run(&["man"]);
        assert!(page.contains(&format!(".TH {binary} 1")), "{page}");
        let dir = tempfile::tempdir().expect("tempdir");
        let (code, listed) = run(&["man", "--out-dir", dir.path().to_str().expect("utf-8")]);
        assert_eq!(code, Some(0));
        let page = dir.path().join(format!("{binary}-{sub}.1"));
        assert!(
            page.exists() && listed.contains(&page.display().to_string()),
            "{listed}"
        );
    }
}

#[test]
fn the_units_start_commands_parse() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/systemd");
    for unit in ["drover-agent.service", "drover-coordinator.service"] {
        let text = std::fs::read_to_string(dir.join(unit)).expect("unit file");
        let exec = text
            .lines()
            .find_map(|l| l.strip_prefix("ExecStart="))
            .expect("ExecStart");
        let mut words = exec.split_whitespace();
        let program = words
            .next()
            .and_then(|p| p.strip_prefix("/usr/bin/"))
            .expect("/usr/bin/X");
        let out = std::process::Command::new(bin(program))
            .args(words)
            .arg("--help")
            .output()
            .expect("runs");
        assert!(
            out.status.success(),
            "{unit}: {exec}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A random forest big enough to keep a core busy for far longer than any test waits.
const FOREST: &str = r#"
experiment = "lifecycle"
model = "churn"
dataset = "churn@latest"
target = "churned"
task = "classification"
algorithm = "random_forest"
seed = 7
cv_folds = 2
[search]
params = { n_trees = [1000], min_samples_leaf = [1] }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_training_stops_its_learners_and_sigterm_ends_the_agent() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("coord");
    let coordinator = start_coordinator(&data).await;
    let handle = coordinator.handle();
    add_dataset(&data, "churn", &churn_csv(3000, 7)).await;
    let state = tmp.path().join("agent");
    join(&token(&handle, 1, 60).await, &state);
    let mut proc = Proc::spawn(
        &bin("drover-agent"),
        &[
            "run",
            "--state-dir",
            state.to_str().expect("utf-8"),
            "--http",
            "off",
            "--shutdown-grace",
            "300ms",
        ],
        tmp.path().join("agent.log"),
    );
    let first = submit(&handle, FOREST).await.expect("queued");
    reaches(&handle, &first, RunStatus::Running).await;
    let second = submit(&handle, FOREST).await.expect("queued");
    assert!(matches!(
        handle
            .request(OperatorRequest::CancelRun { id: first.clone() })
            .await,
        OperatorResponse::RunCancelled(_)
    ));
    wait_for("the cancelled job to stop", || async {
        proc.log_text()
            .contains("cancelled job stopped")
            .then_some(())
    })
    .await;
    reaches(&handle, &second, RunStatus::Running).await;
    let log = proc.log_text();
    let stopped = log.find("cancelled job stopped").expect("logged");
    let started_again = log.rfind("job started").expect("second job started");
    assert!(
        stopped < started_again,
        "the slot was taken again only once the cancelled work stopped:\n{log}"
    );
    let second_detail = run_detail(&handle, &second).await;
    assert_eq!(second_detail.summary.status, RunStatus::Running);

    // SIGTERM: the grace period ends, the forest is stopped and the process really exits.
    proc.signal("TERM");
    assert_eq!(proc.wait_exit().await, Some(0), "{}", proc.log_text());
    reaches(&handle, &second, RunStatus::Queued).await;
    coordinator.stop().await;
}
