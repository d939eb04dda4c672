//! Upgrades one side at a time: peers one protocol version apart work together. An agent
//! speaking the previous protocol (4, which lacks rollouts and shadow windows) joins the
//! current coordinator, heartbeats, takes a job and reports its metrics and result; the
//! current agent talks to a coordinator of the previous protocol without sending anything that
//! version cannot decode (no shadow window); a peer two versions back is refused with a clear
//! reason.

use std::time::Duration;

use drover_protocol::conn::open_bi;
use drover_protocol::msg::{
    AgentCommand, AgentHello, AgentReport, Hello, HelloOutcome, HelloReply, Intent, Welcome,
};
use drover_protocol::run::{JobOutcome, MetricPoint, RunStatus};
use drover_protocol::types::{AgentId, AgentStatus, Capacity, HostLoad, parse_labels};
use drover_protocol::{MIN_PROTOCOL_VERSION, PROTOCOL_VERSION};
use drover_tests::{
    FakeCoordinator, agents, connect_raw, coordinator_with_churn, finished, quick_spec, submit,
    token,
};
use tokio_util::sync::CancellationToken;

const PREVIOUS: u32 = PROTOCOL_VERSION - 1;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_of_the_previous_protocol_works_with_this_coordinator() {
    assert_eq!(
        PREVIOUS, MIN_PROTOCOL_VERSION,
        "one version back is supported"
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    let (coordinator, data) = coordinator_with_churn(tmp.path()).await;
    let handle = coordinator.handle();
    let token = token(&handle, 1, 60).await;
    let state = drover_agent::enroll::join(&token, &tmp.path().join("old"), None, "old-node")
        .await
        .expect("joins");

    let conn = connect_raw(&coordinator, &data, Some(&state.identity))
        .await
        .expect("connects");
    let (mut send, mut recv) = open_bi(&conn).await.expect("stream");
    send.send(&Hello {
        proto_version: PREVIOUS,
        drover_version: "0.0.9".into(),
        intent: Intent::Agent(AgentHello {
            hostname: "old-node".into(),
            labels: parse_labels("role=train").expect("labels"),
            capacity: Capacity {
                cpus: 2,
                memory_bytes: 1 << 30,
                job_slots: 1,
            },
        }),
    })
    .await
    .expect("hello");
    let reply: HelloReply = recv.expect_versioned().await.expect("reply");
    assert!(
        matches!(reply.outcome, HelloOutcome::Welcome(_)),
        "{reply:?}"
    );
    let listed = agents(&handle).await;
    let old = listed
        .iter()
        .find(|a| a.id == state.agent_id)
        .expect("listed");
    assert_eq!(
        (old.status, old.version.as_str()),
        (AgentStatus::Ready, "0.0.9")
    );

    let id = submit(&handle, &quick_spec("compat"))
        .await
        .expect("queued");
    let mut seq = 0;
    let job = loop {
        tokio::select! {
            command = recv.recv::<AgentCommand>() => match command.expect("command") {
                Some(AgentCommand::AssignJob(job)) => break job,
                Some(AgentCommand::Serve(plan)) => assert!(plan.is_empty(), "{plan:?}"),
                Some(other) => panic!("unexpected {other:?}"),
                None => panic!("the coordinator closed the session"),
            },
            _ = tokio::time::sleep(Duration::from_millis(100)) => {
                seq += 1;
                let load = HostLoad { cpu_percent: 1.0, memory_used_bytes: 1 << 20 };
                send.send(&AgentReport::Heartbeat { seq, load }).await.expect("heartbeat");
            }
        }
    };
    assert_eq!(job.run_id, id);
    let points = vec![MetricPoint {
        key: "cv_accuracy".into(),
        step: 1,
        value: 0.5,
        at_ms: 1,
    }];
    send.send(&AgentReport::MetricBatch {
        run_id: id.clone(),
        seq: 1,
        points,
    })
    .await
    .expect("metrics");
    let acked = recv.recv::<AgentCommand>().await.expect("ack");
    assert_eq!(acked, Some(AgentCommand::MetricsAck { seq: 1 }));
    send.send(&AgentReport::JobFinished {
        run_id: id.clone(),
        outcome: JobOutcome::Failed {
            reason: "no learner on this old node".into(),
        },
    })
    .await
    .expect("finished");
    let done = finished(&handle, &id).await;
    assert_eq!(done.summary.status, RunStatus::Failed);
    assert!(
        done.summary
            .error
            .as_deref()
            .is_some_and(|e| e.contains("no learner on this old node")),
        "{:?}",
        done.summary.error
    );
    conn.close(0u32.into(), b"done");

    // Two versions back is refused, naming the versions spoken.
    let conn = connect_raw(&coordinator, &data, Some(&state.identity))
        .await
        .expect("connects");
    let (mut send, mut recv) = open_bi(&conn).await.expect("stream");
    send.send(&Hello {
        proto_version: MIN_PROTOCOL_VERSION - 1,
        drover_version: "0.0.1".into(),
        intent: Intent::Operator,
    })
    .await
    .expect("hello");
    let reply: HelloReply = recv.expect_versioned().await.expect("reply");
    match reply.outcome {
        HelloOutcome::Refused(reason) => assert!(
            reason.contains(&format!(
                "speaks versions {MIN_PROTOCOL_VERSION} to {PROTOCOL_VERSION}, this peer speaks {}",
                MIN_PROTOCOL_VERSION - 1
            )),
            "{reason}"
        ),
        other => panic!("an old peer was not refused: {other:?}"),
    }
    coordinator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn this_agent_sends_a_previous_protocol_coordinator_only_what_it_knows() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let old = FakeCoordinator::start(tmp.path(), "ag-new");
    let config = FakeCoordinator::agent_config(tmp.path(), Duration::from_secs(5));
    let drain = CancellationToken::new();
    let drain_agent = drain.clone();
    // A coordinator of the previous protocol: it welcomes the agent, then records what it
    // sends for a while, then asks it to drain.
    let old = tokio::spawn(async move {
        let (_conn, mut send, mut recv) = old.accept().await;
        let hello: Hello = recv.expect_versioned().await.expect("hello");
        assert_eq!(hello.proto_version, PROTOCOL_VERSION);
        send.send(&HelloReply {
            proto_version: PREVIOUS,
            outcome: HelloOutcome::Welcome(Welcome {
                coordinator_version: "0.0.9".into(),
                agent_id: Some(AgentId("ag-new".into())),
                heartbeat_interval_ms: 100,
            }),
        })
        .await
        .expect("welcome");
        let mut reports = Vec::new();
        let window = tokio::time::sleep(Duration::from_millis(800));
        tokio::pin!(window);
        loop {
            tokio::select! {
                report = recv.recv::<AgentReport>() => match report {
                    Ok(Some(report)) => reports.push(report),
                    _ => break,
                },
                _ = &mut window, if !drain_agent.is_cancelled() => drain_agent.cancel(),
            }
        }
        reports
    });
    let lifecycle = drover_agent::Lifecycle {
        stops: drover_agent::link::Stops {
            drain,
            now: CancellationToken::new(),
        },
        reload: None,
    };
    tokio::time::timeout(
        Duration::from_secs(30),
        drover_agent::run_with(config, lifecycle),
    )
    .await
    .expect("the agent stops after the drain")
    .expect("clean stop");
    let reports = old.await.expect("old coordinator");
    assert!(reports.len() >= 3, "heartbeats flowed: {reports:?}");
    assert!(
        reports
            .iter()
            .any(|r| matches!(r, AgentReport::Heartbeat { .. })),
        "{reports:?}"
    );
    assert!(
        !reports
            .iter()
            .any(|r| matches!(r, AgentReport::ShadowWindows(_))),
        "no protocol 5 report: {reports:?}"
    );
}
