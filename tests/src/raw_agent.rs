//! An enrolled agent that speaks the wire protocol by hand: real certificate, real QUIC, and
//! whatever frames a test (or an attacker) wants to send.

use std::path::Path;
use std::time::Duration;

use drover_coordinator::Coordinator;
use drover_protocol::conn::{FramedRecv, FramedSend, open_bi};
use drover_protocol::msg::{
    AgentCommand, AgentHello, AgentReport, Hello, HelloOutcome, HelloReply, Intent,
};
use drover_protocol::run::JobAssignment;
use drover_protocol::serve::Deployment;
use drover_protocol::types::{AgentId, Capacity, HostLoad, parse_labels};
use drover_protocol::{DROVER_VERSION, PROTOCOL_VERSION};

use crate::{connect_raw, token};

/// A hand-driven agent session: its connection and control stream.
pub struct RawAgent {
    pub id: AgentId,
    pub conn: quinn::Connection,
    pub send: FramedSend,
    pub recv: FramedRecv,
    seq: u64,
}

impl RawAgent {
    /// Enrolls `name` with a fresh token (state in `dir/name`), connects and says hello as an
    /// agent of this protocol version labelled `role=train` with one job slot.
    pub async fn join(coordinator: &Coordinator, data_dir: &Path, dir: &Path, name: &str) -> Self {
        let join = token(&coordinator.handle(), 1, 60).await;
        Self::join_claiming(coordinator, data_dir, dir, name, &join, "role=train").await
    }

    /// Enrolls `name` with the join token `join` and says hello claiming `labels`.
    pub async fn join_claiming(
        coordinator: &Coordinator,
        data_dir: &Path,
        dir: &Path,
        name: &str,
        join: &str,
        labels: &str,
    ) -> Self {
        let state = drover_agent::enroll::join(join, &dir.join(name), None, name)
            .await
            .expect("joins");
        let conn = connect_raw(coordinator, data_dir, Some(&state.identity))
            .await
            .expect("connects");
        let (mut send, mut recv) = open_bi(&conn).await.expect("control stream");
        let hello = AgentHello {
            hostname: name.into(),
            labels: parse_labels(labels).expect("labels"),
            capacity: Capacity {
                cpus: 2,
                memory_bytes: 1 << 30,
                job_slots: 1,
            },
        };
        send.send(&Hello {
            proto_version: PROTOCOL_VERSION,
            drover_version: DROVER_VERSION.into(),
            intent: Intent::Agent(hello),
        })
        .await
        .expect("hello");
        let reply: HelloReply = recv.expect_versioned().await.expect("reply");
        assert!(
            matches!(reply.outcome, HelloOutcome::Welcome(_)),
            "{reply:?}"
        );
        Self {
            id: state.agent_id,
            conn,
            send,
            recv,
            seq: 0,
        }
    }

    /// Sends one report on the control stream.
    pub async fn report(&mut self, report: &AgentReport) {
        self.send.send(report).await.expect("report");
    }

    /// Heartbeats until the coordinator sends a command other than an acknowledgement or a
    /// list of deployments (a raw agent serves nothing).
    pub async fn next_command(&mut self) -> AgentCommand {
        loop {
            tokio::select! {
                command = self.recv.recv::<AgentCommand>() => match command.expect("command") {
                    Some(AgentCommand::MetricsAck { .. } | AgentCommand::Serve(_)) => {}
                    Some(command) => return command,
                    None => panic!("the coordinator closed the session"),
                },
                _ = tokio::time::sleep(Duration::from_millis(100)) => self.heartbeat().await,
            }
        }
    }

    /// The lists of deployments the coordinator sends within `wait`, heartbeating meanwhile.
    pub async fn plans(&mut self, wait: Duration) -> Vec<Vec<Deployment>> {
        let mut plans = Vec::new();
        let deadline = tokio::time::Instant::now() + wait;
        while tokio::time::Instant::now() < deadline {
            tokio::select! {
                command = self.recv.recv::<AgentCommand>() => match command.expect("command") {
                    Some(AgentCommand::Serve(plan)) => plans.push(plan),
                    Some(_) => {}
                    None => panic!("the coordinator closed the session"),
                },
                _ = tokio::time::sleep(Duration::from_millis(100)) => self.heartbeat().await,
            }
        }
        plans
    }

    async fn heartbeat(&mut self) {
        self.seq += 1;
        let load = HostLoad {
            cpu_percent: 1.0,
            memory_used_bytes: 1 << 20,
        };
        let beat = AgentReport::Heartbeat {
            seq: self.seq,
            load,
        };
        self.send.send(&beat).await.expect("heartbeat");
    }

    /// Waits for a job to be assigned.
    pub async fn next_job(&mut self) -> JobAssignment {
        match self.next_command().await {
            AgentCommand::AssignJob(job) => *job,
            other => panic!("expected a job, got {other:?}"),
        }
    }

    /// Waits for the acknowledgement of metric batch `seq`.
    pub async fn acked(&mut self, seq: u64) {
        loop {
            let command = tokio::time::timeout(crate::PATIENCE, self.recv.recv::<AgentCommand>())
                .await
                .expect("an acknowledgement in time")
                .expect("command");
            if !matches!(command, Some(AgentCommand::Serve(_))) {
                assert_eq!(command, Some(AgentCommand::MetricsAck { seq }));
                return;
            }
        }
    }
}
