//! The fleet as processes: a real `drover coordinator` and three real `drover-agent run`
//! processes on loopback. Agents show ready, a killed agent shows lost, and after the
//! coordinator restarts (cleanly or after SIGKILL) every agent and token is still there and
//! the agents reconnect on their own.

use drover_tests::{Proc, bin, drover, drover_agent, spawn_coordinator, statuses, wait_for};

fn all_ready(list: &[(String, String)], n: usize) -> bool {
    list.len() == n && list.iter().all(|(_, s)| s == "ready")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_come_and_go_and_survive_coordinator_restarts() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("coord");
    let data_s = data.to_str().expect("utf-8").to_string();
    let (mut coordinator, addr) =
        spawn_coordinator(&data, "127.0.0.1:0", tmp.path().join("coord.log")).await;

    let out = drover(&[
        "token",
        "create",
        "--data-dir",
        &data_s,
        "--uses",
        "4",
        "--ttl",
        "10m",
    ]);
    assert!(
        out.status.success(),
        "token create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_string();

    let mut agents = Vec::new();
    for i in 0..3 {
        let state = tmp.path().join(format!("agent{i}"));
        let state_s = state.to_str().expect("utf-8");
        let joined = drover_agent(&["join", &token, "--state-dir", state_s]);
        assert!(
            joined.status.success(),
            "join: {}",
            String::from_utf8_lossy(&joined.stderr)
        );
        let id = String::from_utf8(joined.stdout)
            .expect("utf-8")
            .trim()
            .to_string();
        assert!(
            id.starts_with("ag-"),
            "join prints the agent id, got {id:?}"
        );
        let proc = Proc::spawn(
            &bin("drover-agent"),
            &[
                "run",
                "--state-dir",
                state_s,
                "--http",
                "127.0.0.1:0",
                "--labels",
                "role=train,serve",
            ],
            tmp.path().join(format!("agent{i}.log")),
        );
        agents.push((id, proc));
    }
    wait_for("three ready agents", || async {
        all_ready(&statuses(&data), 3).then_some(())
    })
    .await;
    let listed = drover_tests::agents_json(&data);
    assert!(
        listed.iter().all(|a| a["labels"]["role"] == "train,serve"
            && a["version"] == drover_protocol::DROVER_VERSION)
    );
    assert!(listed.iter().all(|a| {
        a["last_heartbeat_ms"].as_u64().is_some()
            && a["address"]
                .as_str()
                .is_some_and(|s| s.starts_with("127.0.0.1:"))
    }));

    // Each agent serves health and metrics on its own HTTP listener.
    let http = drover_tests::logged_http_addr(&agents[1].1).await;
    assert!(
        drover_tests::http_get(http, "/v2/health/ready")
            .await
            .starts_with("HTTP/1.1 200")
    );
    assert!(
        drover_tests::http_get(http, "/v2/health/live")
            .await
            .starts_with("HTTP/1.1 200")
    );
    let metrics = drover_tests::http_get(http, "/metrics").await;
    assert!(
        metrics.contains("drover_agent_connected 1")
            && metrics.contains("drover_agent_connects_total 1"),
        "{metrics}"
    );

    // SIGKILL one agent: no goodbye, only silence. It is lost within 3 heartbeat intervals.
    let (killed_id, killed) = agents.remove(0);
    killed.signal("KILL");
    wait_for("the killed agent to be lost", || async {
        let list = statuses(&data);
        list.iter()
            .any(|(id, s)| *id == killed_id && s == "lost")
            .then_some(())
    })
    .await;
    assert_eq!(
        statuses(&data).iter().filter(|(_, s)| s == "ready").count(),
        2
    );

    // It comes back: ready again, without joining again.
    let state0 = tmp.path().join("agent0");
    let revived = Proc::spawn(
        &bin("drover-agent"),
        &[
            "run",
            "--state-dir",
            state0.to_str().expect("utf-8"),
            "--http",
            "off",
        ],
        tmp.path().join("agent0-again.log"),
    );
    wait_for("the agent to be ready again", || async {
        all_ready(&statuses(&data), 3).then_some(())
    })
    .await;
    agents.insert(0, (killed_id, revived));

    // A clean coordinator stop: SIGTERM exits 0 and verbs then say nothing runs.
    coordinator.signal("TERM");
    assert_eq!(
        coordinator.wait_exit().await,
        Some(0),
        "coordinator log:\n{}",
        coordinator.log_text()
    );
    let none = drover(&["agents", "--data-dir", &data_s]);
    assert_eq!(none.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&none.stderr);
    assert!(
        stderr.contains("no coordinator is running") && stderr.lines().count() == 1,
        "{stderr}"
    );

    // Restart on the same address: all three agents reconnect by themselves.
    let listen = addr.to_string();
    let (coordinator, _) = spawn_coordinator(&data, &listen, tmp.path().join("coord2.log")).await;
    wait_for("all agents to reconnect", || async {
        all_ready(&statuses(&data), 3).then_some(())
    })
    .await;

    // SIGKILL the coordinator: on restart no agent or token record is lost.
    coordinator.signal("KILL");
    let (_coordinator, _) = spawn_coordinator(&data, &listen, tmp.path().join("coord3.log")).await;
    wait_for("agents after a SIGKILL restart", || async {
        all_ready(&statuses(&data), 3).then_some(())
    })
    .await;
    let late = tmp.path().join("late-agent");
    let joined = drover_agent(&["join", &token, "--state-dir", late.to_str().expect("utf-8")]);
    assert!(
        joined.status.success(),
        "the token's 4th use survived SIGKILL: {}",
        String::from_utf8_lossy(&joined.stderr)
    );
    let again = drover_agent(&[
        "join",
        &token,
        "--state-dir",
        tmp.path().join("too-late").to_str().expect("utf-8"),
    ]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already been used"));
    assert_eq!(statuses(&data).len(), 4);

    // A clean agent stop: SIGTERM exits 0.
    for (_, agent) in &mut agents {
        agent.signal("TERM");
        assert_eq!(
            agent.wait_exit().await,
            Some(0),
            "agent log:\n{}",
            agent.log_text()
        );
    }
}
