//! One agent's session: checks its certificate against the enrolled record, welcomes it,
//! takes heartbeats, forwards commands, and marks it lost when the session ends. Reports about
//! runs are accepted only for the runs assigned to the agent in this session (see
//! [`crate::net::grants`]).

use std::sync::Arc;

use drover_protocol::conn::{ConnError, FramedRecv, FramedSend};
use drover_protocol::msg::{
    AgentCommand, AgentHello, AgentReport, Event, HelloOutcome, HelloReply, Welcome,
};
use drover_protocol::types::{AgentId, Labels, unix_ms};
use drover_protocol::{DROVER_VERSION, PROTOCOL_VERSION};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::agent_bulk;
use super::peer::{ConnectionError, peer_fingerprint, reply};
use crate::deployments;
use crate::fleet::Beat;
use crate::net::backlog::Backlog;
use crate::net::grants::Grants;
use crate::quota::Quota;
use crate::state::Shared;
use crate::throttle::Throttle;
use crate::training::runs;

/// Who connected: the name in its certificate and what its hello said.
pub struct Arrival {
    pub name: String,
    pub drover_version: String,
    pub hello: AgentHello,
    /// The protocol version the agent speaks: serving commands go only to version 4 and up.
    pub proto_version: u32,
}

/// Runs an agent session until the agent goes, is removed, or the coordinator stops.
pub async fn run(
    shared: Arc<Shared>,
    conn: quinn::Connection,
    arrival: Arrival,
    mut send: FramedSend,
    mut recv: FramedRecv,
    shutdown: CancellationToken,
) -> Result<(), ConnectionError> {
    let Arrival {
        name,
        drover_version,
        hello,
        proto_version,
    } = arrival;
    let serves = proto_version >= 4;
    let id = AgentId(name);
    let looked_up = id.clone();
    let enrolled = shared
        .store
        .call(move |store| store.agent(&looked_up))
        .await
        .map_err(|e| ConnectionError::Refused(e.to_string()))?;
    let Some(mut record) = enrolled else {
        metrics::counter!("drover_connections_refused_total", "reason" => "revoked").increment(1);
        let reason =
            format!("agent {id} was removed or never enrolled here; join again with a new token");
        return reply(&conn, &mut send, HelloOutcome::Refused(reason)).await;
    };
    if peer_fingerprint(&conn).as_deref() != Some(record.cert_sha256.as_str()) {
        metrics::counter!("drover_connections_refused_total", "reason" => "revoked").increment(1);
        let reason = format!("this certificate is not the one agent {id} enrolled with");
        return reply(&conn, &mut send, HelloOutcome::Refused(reason)).await;
    }
    if let Err(e) = drover_protocol::types::check_hostname(&hello.hostname) {
        metrics::counter!("drover_connections_refused_total", "reason" => "hello").increment(1);
        return reply(&conn, &mut send, HelloOutcome::Refused(e)).await;
    }
    record.hostname = hello.hostname;
    crate::fleet::settle_labels(&mut record, hello.labels);
    record.capacity = Some(hello.capacity);
    record.address = conn.remote_address().to_string();
    record.version = drover_version;
    record.last_seen_ms = Some(unix_ms());
    let stored = record.clone();
    let updated = shared
        .store
        .call(move |store| store.update_agent_session(&stored))
        .await;
    if let Err(e) = updated {
        tracing::error!(cause = %e, agent = %id, "could not record agent session");
    }
    let (commands, mut command_rx) = mpsc::channel(8);
    let (session, replaced) = shared.fleet.connect(record.clone(), commands);
    if let Some(old) = replaced {
        // The previous session is stale (the agent reconnected before we noticed it left).
        let _ = old.try_send(AgentCommand::Disconnect {
            reason: "replaced by a newer session".into(),
        });
    }
    let welcome = Welcome {
        coordinator_version: DROVER_VERSION.into(),
        agent_id: Some(id.clone()),
        heartbeat_interval_ms: shared.fleet.interval().as_millis() as u64,
    };
    send.send(&HelloReply {
        proto_version: PROTOCOL_VERSION,
        outcome: HelloOutcome::Welcome(welcome),
    })
    .await?;
    metrics::gauge!("drover_agents_connected").increment(1.0);
    shared.events.publish(Event::AgentConnected {
        id: id.clone(),
        address: record.address.clone(),
    });

    if serves {
        send_plan(&shared, &id).await;
    }
    let backlog = Backlog::start(shared.clone());
    let ended = session_loop(
        &shared,
        &conn,
        &id,
        session,
        &mut send,
        &mut recv,
        &mut command_rx,
        &backlog,
        &shutdown,
        serves,
    )
    .await;
    metrics::gauge!("drover_agents_connected").decrement(1.0);
    backlog.finish().await;
    let current = shared.fleet.disconnect(&id, session);
    shared.stopping.forget(&id);
    let (requeued, reason) = (id.clone(), ended.clone());
    shared
        .blocking(move |shared| runs::requeue_agent(shared, &requeued, &reason))
        .await;
    if current {
        shared.events.publish(Event::AgentLost {
            id,
            reason: ended.clone(),
        });
    }
    tracing::info!(reason = %ended, "agent session ended");
    Ok(())
}

/// Queues for agent `id` the deployments its labels select (through its session, which
/// grants their artifacts and sends them only to agents that serve).
pub(super) async fn send_plan(shared: &Arc<Shared>, id: &AgentId) {
    let Some((labels, Some(commands))) = shared.fleet.labels(id) else {
        return;
    };
    let plan = shared
        .blocking(move |shared| deployments::plan_for(shared, &labels))
        .await;
    if commands.try_send(AgentCommand::Serve(plan)).is_err() {
        tracing::warn!(agent = %id, "could not queue the agent's deployments");
    }
}

/// Loops until the session ends and says why.
#[allow(clippy::too_many_arguments)]
async fn session_loop(
    shared: &Arc<Shared>,
    conn: &quinn::Connection,
    id: &AgentId,
    session: u64,
    send: &mut FramedSend,
    recv: &mut FramedRecv,
    commands: &mut mpsc::Receiver<AgentCommand>,
    backlog: &Backlog,
    shutdown: &CancellationToken,
    serves: bool,
) -> String {
    let (acks, mut acked) = mpsc::unbounded_channel::<u64>();
    let grants = Arc::new(Grants::default());
    let foreign = Throttle::new(std::time::Duration::from_secs(10));
    let mut quota = Quota::new(shared.reports);
    let over_quota = Throttle::new(std::time::Duration::from_secs(10));
    loop {
        tokio::select! {
            Some(seq) = acked.recv() => {
                if let Err(e) = send.send(&AgentCommand::MetricsAck { seq }).await {
                    return format!("could not acknowledge metrics: {e}");
                }
            }
            report = recv.recv_sized::<AgentReport>() => match report {
                Ok(Some((report, bytes))) if serving_report(&report) && !quota.admit(bytes) => {
                    metrics::counter!("drover_reports_refused_total", "reason" => "quota").increment(1);
                    if let Some(suppressed) = over_quota.allow() {
                        tracing::warn!(agent = %id, suppressed, "agent is over its quota of serving reports; dropped");
                    }
                }
                Ok(Some((AgentReport::Heartbeat { load, .. }, _))) => {
                    metrics::counter!("drover_frames_received_total").increment(1);
                    if shared.fleet.heartbeat(id, session, load) == Beat::Recovered {
                        shared.events.publish(Event::AgentConnected { id: id.clone(), address: conn.remote_address().to_string() });
                    }
                }
                Ok(Some((report @ (AgentReport::JobProgress { .. } | AgentReport::JobFinished { .. } | AgentReport::MetricBatch { .. }), _))) => {
                    metrics::counter!("drover_frames_received_total").increment(1);
                    run_report(shared, id, &grants, &foreign, report, &acks, backlog).await;
                }
                Ok(Some((report, _))) => {
                    metrics::counter!("drover_frames_received_total").increment(1);
                    lifecycle(shared, conn, id, session, report).await;
                }
                Ok(None) => return "the agent closed its session".into(),
                Err(e) => return ended_by(conn, e),
            },
            stream = conn.accept_bi() => {
                let Ok((bulk_send, bulk_recv)) = stream else { continue };
                let (shared, id, grants) = (shared.clone(), id.clone(), grants.clone());
                tokio::spawn(async move {
                    agent_bulk::serve(&shared, &id, &grants, FramedSend::new(bulk_send), FramedRecv::new(bulk_recv)).await;
                });
            }
            command = commands.recv() => match command {
                Some(AgentCommand::Disconnect { reason }) => {
                    if let Err(e) = send.send(&AgentCommand::Disconnect { reason: reason.clone() }).await {
                        return format!("could not send a command: {e}");
                    }
                    send.finish();
                    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), conn.closed()).await;
                    conn.close(2u32.into(), reason.as_bytes());
                    return reason;
                }
                Some(AgentCommand::Serve(_)) if !serves => {}
                Some(command) => {
                    match &command {
                        AgentCommand::AssignJob(job) => grants.assign(job),
                        AgentCommand::CancelJob { run_id } => grants.revoke(run_id),
                        AgentCommand::Serve(plan) => grants.serve(plan),
                        _ => {}
                    }
                    if let Err(e) = send.send(&command).await {
                        return format!("could not send a command: {e}");
                    }
                }
                None => return "session replaced".into(),
            },
            _ = shutdown.cancelled() => {
                conn.close(0u32.into(), b"coordinator shutting down");
                return "coordinator shutting down".into();
            }
        }
    }
}

/// Whether `report` is about serving, and so counts against the session's [`Quota`].
fn serving_report(report: &AgentReport) -> bool {
    matches!(
        report,
        AgentReport::ServingWindows(_)
            | AgentReport::ShadowWindows(_)
            | AgentReport::Sketches(_)
            | AgentReport::Importance(_)
    )
}

/// A report about a run: accepted only when the run is assigned to this agent in this
/// session; anything else is dropped, counted and logged (at most once per interval).
async fn run_report(
    shared: &Shared,
    id: &AgentId,
    grants: &Arc<Grants>,
    foreign: &Throttle,
    report: AgentReport,
    acks: &mpsc::UnboundedSender<u64>,
    backlog: &Backlog,
) {
    let run_id = match &report {
        AgentReport::JobProgress { run_id, .. }
        | AgentReport::JobFinished { run_id, .. }
        | AgentReport::MetricBatch { run_id, .. } => run_id.clone(),
        _ => return,
    };
    if shared.stopping.contains(id, &run_id) {
        // A cancelled job: whatever it still sends is dropped; its end frees its slot.
        match &report {
            AgentReport::JobFinished { .. } => {
                grants.revoke(&run_id);
                shared.stopping.remove(id, &run_id);
                shared.schedule.notify_one();
                tracing::debug!(agent = %id, run = %run_id, "cancelled job stopped");
            }
            AgentReport::MetricBatch { seq, .. } => {
                let _ = acks.send(*seq);
            }
            _ => {}
        }
        return;
    }
    if !grants.holds(&run_id) {
        metrics::counter!("drover_reports_refused_total").increment(1);
        if let AgentReport::MetricBatch { seq, .. } = &report {
            // Acknowledged as dropped, so that an honest agent whose run was cancelled
            // meanwhile does not keep it.
            let _ = acks.send(*seq);
        }
        if let Some(suppressed) = foreign.allow() {
            tracing::warn!(agent = %id, run = %run_id, suppressed, "refused a report about a run not assigned to this agent");
        }
        return;
    }
    match report {
        AgentReport::JobProgress { run_id, trial } => {
            backlog
                .push(move |shared| runs::progress(shared, &run_id, &trial))
                .await;
        }
        AgentReport::JobFinished { run_id, outcome } => {
            grants.revoke(&run_id);
            let (id, grants) = (id.clone(), grants.clone());
            backlog
                .push(move |shared| {
                    runs::finish(shared, &id, &grants, &run_id, outcome);
                    // Its work here has ended, even if finishing it cancelled the run's
                    // other shares (this one included).
                    shared.stopping.remove(&id, &run_id);
                })
                .await;
        }
        AgentReport::MetricBatch {
            run_id,
            seq,
            points,
        } => {
            shared
                .ingest
                .submit(run_id, seq, points, acks.clone())
                .await;
        }
        _ => {}
    }
}

/// The reports about the agent itself (protocol 3): draining, a reloaded config, its clock.
async fn lifecycle(
    shared: &Arc<Shared>,
    conn: &quinn::Connection,
    id: &AgentId,
    session: u64,
    report: AgentReport,
) {
    match report {
        AgentReport::Draining => {
            if shared.fleet.draining(id, session) {
                tracing::info!(agent = %id, "agent draining: no new jobs for it");
                shared
                    .events
                    .publish(Event::AgentDraining { id: id.clone() });
            }
        }
        AgentReport::Reconfigured { labels, capacity } => {
            if let Some(record) = shared.fleet.reconfigured(id, session, labels, capacity) {
                tracing::info!(agent = %id, labels = ?record.labels, "agent reloaded its config");
                send_plan(shared, id).await;
                let updated = shared
                    .store
                    .call(move |store| store.update_agent_session(&record))
                    .await;
                if let Err(e) = updated {
                    tracing::error!(cause = %e, agent = %id, "could not record agent labels");
                }
            }
        }
        AgentReport::Clock { unix_ms: theirs } => {
            let half_rtt = (conn.rtt().as_millis() / 2) as i64;
            let skew = theirs as i64 + half_rtt - unix_ms() as i64;
            shared.fleet.clock(id, session, skew);
        }
        AgentReport::Serving(serving) => shared.fleet.serving(id, session, serving),
        AgentReport::ServingWindows(windows) => {
            if let Some(kept) = record(shared, id, windows, deployments::record_windows).await {
                shared.fleet.windows(id, session, kept);
            }
        }
        AgentReport::ShadowWindows(windows) => {
            record(shared, id, windows, deployments::record_shadow_windows).await;
        }
        AgentReport::Sketches(sketches) => {
            record(shared, id, sketches, crate::drift::record_sketches).await;
        }
        AgentReport::Importance(windows) => {
            record(shared, id, windows, crate::drift::record_importance).await;
        }
        AgentReport::Heartbeat { .. }
        | AgentReport::JobProgress { .. }
        | AgentReport::JobFinished { .. }
        | AgentReport::MetricBatch { .. } => {}
    }
}

/// Runs `store` on what agent `id` reported, with the agent's labels, on the blocking pool;
/// `None` (nothing stored) when the agent is not known any more.
async fn record<T: Send + 'static, R: Send + 'static>(
    shared: &Arc<Shared>,
    id: &AgentId,
    reported: T,
    store: fn(&Shared, &AgentId, &Labels, T) -> R,
) -> Option<R> {
    let (labels, _) = shared.fleet.labels(id)?;
    let agent = id.clone();
    Some(
        shared
            .blocking(move |shared| store(shared, &agent, &labels, reported))
            .await,
    )
}

/// Why a session whose control stream failed ended: the agent closed the connection, the
/// connection died, or the agent sent a bad frame (then the connection is closed here).
fn ended_by(conn: &quinn::Connection, error: ConnError) -> String {
    match (conn.close_reason(), error) {
        (Some(quinn::ConnectionError::ApplicationClosed(close)), _) => {
            format!(
                "the agent disconnected ({})",
                String::from_utf8_lossy(&close.reason)
            )
        }
        (Some(reason), _) => format!("connection lost: {reason}"),
        (None, error @ (ConnError::Frame(_) | ConnError::Truncated)) => {
            metrics::counter!("drover_frames_rejected_total").increment(1);
            conn.close(1u32.into(), b"bad frame");
            format!("bad frame from the agent: {error}")
        }
        (None, error) => format!("connection failed: {error}"),
    }
}
