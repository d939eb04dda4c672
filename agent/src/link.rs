//! The agent's link to the coordinator: one QUIC connection with a control stream; `Hello`,
//! then a heartbeat every interval the coordinator asks for. When the link drops the agent
//! reconnects with exponential backoff and jitter, until it is told to stop or is refused.
//! Jobs the coordinator assigns run in the background and report on the same control stream;
//! they are cancelled when the session ends (the coordinator queues them again).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use drover_protocol::conn::{ConnError, FramedSend, open_bi};
use drover_protocol::dial::{self, DialError};
use drover_protocol::msg::{
    AgentCommand, AgentHello, AgentReport, Hello, HelloOutcome, HelloReply, Intent,
};
use drover_protocol::tls::{self, TlsError};
use drover_protocol::types::unix_ms;
use drover_protocol::{DROVER_VERSION, PROTOCOL_VERSION};
use rand::Rng;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::host::HostProbe;
use crate::jobs::Runner;
use crate::serve::catalog::Catalog;
use crate::state::AgentState;

/// Why the link gave up for good.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("the coordinator refused this agent: {0}")]
    Refused(String),
    #[error("the coordinator disconnected this agent: {0}")]
    Removed(String),
    #[error(
        "protocol version mismatch: this agent speaks up to version {ours}, the coordinator speaks {theirs}; upgrade the older side"
    )]
    VersionMismatch { ours: u32, theirs: u32 },
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// Why one session ended; all of these are retried.
#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error(transparent)]
    Dial(#[from] DialError),
    #[error(transparent)]
    Stream(ConnError),
    #[error("the coordinator closed the session")]
    Closed,
    #[error(transparent)]
    Fatal(LinkError),
}

impl From<ConnError> for SessionError {
    fn from(e: ConnError) -> Self {
        match e {
            ConnError::VersionMismatch { ours, theirs } => {
                SessionError::Fatal(LinkError::VersionMismatch { ours, theirs })
            }
            other => SessionError::Stream(other),
        }
    }
}

/// Exponential backoff with jitter: each wait is a random point in the upper half of
/// `base * 2^attempt`, capped at `max`.
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max,
            attempt: 0,
        }
    }

    /// The next wait.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1 << self.attempt.min(16))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        ceiling.mul_f64(rand::thread_rng().gen_range(0.5..=1.0))
    }

    /// Back to the shortest wait, after a session that worked.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// What the agent tells the coordinator about itself and may change on a config reload.
#[derive(Debug, Clone, PartialEq)]
pub struct Presence {
    pub hello: AgentHello,
    /// How long a drain waits for running jobs before cancelling them.
    pub grace: Duration,
}

/// When to stop: `drain` starts a graceful shutdown (no new jobs, running ones get the grace
/// period), `now` ends the session at once. The same token twice stops at once.
#[derive(Clone)]
pub struct Stops {
    pub drain: CancellationToken,
    pub now: CancellationToken,
}

impl Stops {
    /// Both kinds of stop on one token: the agent stops at once when it fires.
    pub fn immediate(token: CancellationToken) -> Self {
        Self {
            drain: token.clone(),
            now: token,
        }
    }
}

/// Everything a session needs besides the connection.
pub struct Link<'a> {
    pub state: &'a AgentState,
    pub coordinator: &'a str,
    pub presence: watch::Receiver<Presence>,
    pub probe: HostProbe,
    /// True while a session is up and the agent is not draining.
    pub connected: watch::Sender<bool>,
    pub jobs: Runner,
    /// The models served here, kept across sessions, as deployments ask.
    pub catalog: Arc<Catalog>,
    /// Where fetched model artifacts are cached.
    pub cache_dir: PathBuf,
    /// How often serving statistics go to the coordinator.
    pub serving_window: Duration,
    pub stops: Stops,
}

/// Keeps the agent connected until it is stopped (`Ok`) or the coordinator refuses it.
pub async fn run(mut link: Link<'_>) -> Result<(), LinkError> {
    let client = tls::client_config(&link.state.ca_pem, Some(&link.state.identity))?;
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(30));
    let mut endpoint: Option<(SocketAddr, quinn::Endpoint)> = None;
    loop {
        let result = session(&mut link, &mut endpoint, &client, &mut backoff).await;
        link.connected.send_replace(false);
        metrics::gauge!("drover_agent_connected").set(0.0);
        match result {
            Ok(()) => break,
            Err(SessionError::Fatal(e)) => {
                close(endpoint).await;
                return Err(e);
            }
            Err(e) => {
                let wait = backoff.next_delay();
                metrics::counter!("drover_agent_link_failures_total").increment(1);
                tracing::warn!(cause = %e, retry_in_ms = wait.as_millis() as u64, "link to coordinator down");
                tokio::select! {
                    _ = link.stops.drain.cancelled() => break,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
    close(endpoint).await;
    Ok(())
}

async fn close(endpoint: Option<(SocketAddr, quinn::Endpoint)>) {
    if let Some((_, endpoint)) = endpoint {
        endpoint.close(0u32.into(), b"agent stopping");
        let _ = tokio::time::timeout(Duration::from_secs(1), endpoint.wait_idle()).await;
    }
}

/// How often an agent reports its clock to a coordinator that understands it.
const CLOCK_EVERY: Duration = Duration::from_secs(60);
/// Feature importance on live feedback is measured every this many serving windows, for
/// versions with at least this many labelled rows.
const IMPORTANCE_EVERY: u64 = 6;
const IMPORTANCE_MIN_ROWS: usize = 200;

/// One session: connect, hello, heartbeat until it ends. `Ok` only on shutdown.
async fn session(
    link: &mut Link<'_>,
    endpoint: &mut Option<(SocketAddr, quinn::Endpoint)>,
    client: &quinn::ClientConfig,
    backoff: &mut Backoff,
) -> Result<(), SessionError> {
    let addr = dial::resolve(link.coordinator).await?;
    let endpoint = match endpoint {
        Some((family, ep)) if family.is_ipv6() == addr.is_ipv6() => ep.clone(),
        slot => {
            let ep = dial::endpoint_for(addr)?;
            *slot = Some((addr, ep.clone()));
            ep
        }
    };
    let conn = tokio::select! {
        _ = link.stops.drain.cancelled() => return Ok(()),
        conn = dial::connect(&endpoint, client.clone(), addr) => conn?,
    };
    let (mut send, mut recv) = open_bi(&conn).await?;
    let mut presence = link.presence.borrow_and_update().clone();
    let hello = Hello {
        proto_version: PROTOCOL_VERSION,
        drover_version: DROVER_VERSION.into(),
        intent: Intent::Agent(presence.hello.clone()),
    };
    send.send(&hello).await?;
    let reply: HelloReply = recv.expect_versioned().await?;
    let welcome = match reply.outcome {
        HelloOutcome::Welcome(welcome) => welcome,
        HelloOutcome::Refused(reason) => {
            return Err(SessionError::Fatal(LinkError::Refused(reason)));
        }
        HelloOutcome::Enrolled(_) => return Err(SessionError::Closed),
    };
    let peer = PeerFeatures::of(reply.proto_version);
    let interval = Duration::from_millis(welcome.heartbeat_interval_ms.clamp(50, 60_000));
    tracing::info!(coordinator = %addr, interval_ms = interval.as_millis() as u64, protocol = reply.proto_version, "connected to coordinator");
    link.connected.send_replace(true);
    metrics::gauge!("drover_agent_connected").set(1.0);
    metrics::counter!("drover_agent_connects_total").increment(1);
    backoff.reset();
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut clock = tokio::time::interval(CLOCK_EVERY);
    clock.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seq = 0u64;
    let mut windows = tokio::time::interval_at(
        tokio::time::Instant::now() + link.serving_window,
        link.serving_window,
    );
    windows.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (reports_tx, mut reports) = mpsc::channel::<AgentReport>(64);
    let (plans, plans_rx) = watch::channel(None);
    let deployer = tokio::spawn(crate::serve::deployer::run(
        link.catalog.clone(),
        link.cache_dir.clone(),
        conn.clone(),
        plans_rx,
        peer.serving_reports.then(|| reports_tx.clone()),
    ));
    let _stop_deployer = AbortOnDrop(deployer);
    let session_jobs = CancellationToken::new();
    let _cancel_jobs_on_exit = session_jobs.clone().drop_guard();
    let mut running: HashMap<String, CancellationToken> = HashMap::new();
    let mut drain_deadline: Option<tokio::time::Instant> = None;
    let mut windows_closed: u64 = 0;
    let mut presence_open = true;
    loop {
        if drain_deadline.is_some() && running.is_empty() {
            tracing::info!("drained: no job left running");
            return leave(&conn, &mut send).await;
        }
        tokio::select! {
            _ = tick.tick() => {
                seq += 1;
                send.send(&AgentReport::Heartbeat { seq, load: link.probe.sample() }).await?;
            }
            _ = clock.tick(), if peer.lifecycle_reports => {
                send.send(&AgentReport::Clock { unix_ms: unix_ms() }).await?;
            }
            _ = windows.tick(), if peer.serving_reports && !link.catalog.is_empty() => {
                let (mut closed, mut shadowed) = link.catalog.windows(unix_ms());
                closed.truncate(crate::serve::catalog::MAX_WINDOWS);
                send.send(&AgentReport::ServingWindows(closed)).await?;
                shadowed.truncate(crate::serve::catalog::MAX_WINDOWS);
                if peer.shadow_reports && !shadowed.is_empty() {
                    send.send(&AgentReport::ShadowWindows(shadowed)).await?;
                }
                let mut sketches = link.catalog.sketches(unix_ms());
                sketches.truncate(crate::serve::catalog::MAX_WINDOWS);
                if peer.sketch_reports && !sketches.is_empty() {
                    send.send(&AgentReport::Sketches(sketches)).await?;
                }
                windows_closed += 1;
                if peer.sketch_reports && windows_closed.is_multiple_of(IMPORTANCE_EVERY) {
                    let catalog = link.catalog.clone();
                    let measured = tokio::task::spawn_blocking(move || {
                        catalog.importance(IMPORTANCE_MIN_ROWS)
                    })
                    .await
                    .unwrap_or_default();
                    if !measured.is_empty() {
                        send.send(&AgentReport::Importance(measured)).await?;
                    }
                }
            }
            Some(report) = reports.recv() => {
                if let AgentReport::JobFinished { run_id, .. } = &report {
                    running.remove(run_id);
                }
                send.send(&report).await?;
            }
            command = recv.recv::<AgentCommand>() => match command? {
                Some(AgentCommand::Disconnect { reason }) => {
                    conn.close(0u32.into(), b"disconnected");
                    return Err(SessionError::Fatal(LinkError::Removed(reason)));
                }
                Some(AgentCommand::AssignJob(job)) if drain_deadline.is_some() => {
                    tracing::info!(run = %job.run_id, "draining: job declined; the coordinator queues it again when this agent leaves");
                }
                Some(AgentCommand::AssignJob(job)) => {
                    let cancel = session_jobs.child_token();
                    running.insert(job.run_id.clone(), cancel.clone());
                    link.jobs.start(conn.clone(), *job, reports_tx.clone(), cancel);
                }
                Some(AgentCommand::MetricsAck { seq }) => tracing::trace!(seq, "metrics stored"),
                Some(AgentCommand::Serve(plan)) => {
                    tracing::info!(deployments = plan.len(), "deployments from the coordinator");
                    plans.send_replace(Some(plan));
                }
                Some(AgentCommand::CancelJob { run_id }) => {
                    // The job stays counted until its work has stopped and it says so.
                    if let Some(cancel) = running.get(&run_id) {
                        tracing::info!(run = %run_id, "job cancelled");
                        cancel.cancel();
                    }
                }
                None => return Err(SessionError::Closed),
            },
            changed = link.presence.changed(), if presence_open => {
                if changed.is_err() {
                    presence_open = false;
                    continue;
                }
                let next = link.presence.borrow_and_update().clone();
                if next.hello != presence.hello {
                    if peer.lifecycle_reports {
                        send.send(&AgentReport::Reconfigured {
                            labels: next.hello.labels.clone(),
                            capacity: next.hello.capacity,
                        }).await?;
                    } else {
                        tracing::warn!("the coordinator predates config reloads: new labels and job slots apply when the agent next connects");
                    }
                }
                presence = next;
            }
            _ = link.stops.drain.cancelled(), if drain_deadline.is_none() => {
                if running.is_empty() {
                    return leave(&conn, &mut send).await;
                }
                drain_deadline = Some(tokio::time::Instant::now() + presence.grace);
                link.connected.send_replace(false);
                if peer.lifecycle_reports {
                    send.send(&AgentReport::Draining).await?;
                }
                let status = format!("draining: waiting up to {:?} for {} job(s)", presence.grace, running.len());
                tracing::info!("{status}");
                crate::systemd::status(&status);
            }
            _ = sleep_until(drain_deadline) => {
                tracing::warn!(jobs = running.len(), "grace period over: cancelling the jobs still running; the coordinator queues them again");
                return leave(&conn, &mut send).await;
            }
            _ = link.stops.now.cancelled() => {
                conn.close(0u32.into(), b"agent shutting down");
                return Ok(());
            }
        }
    }
}

/// Waits until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Ends the session cleanly: the control stream is finished so that every report sent so far
/// reaches the coordinator before the connection closes.
async fn leave(conn: &quinn::Connection, send: &mut FramedSend) -> Result<(), SessionError> {
    send.finish();
    let _ = tokio::time::timeout(Duration::from_secs(2), conn.closed()).await;
    conn.close(0u32.into(), b"agent shutting down");
    Ok(())
}

/// What the coordinator's protocol version lets the agent send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerFeatures {
    /// [`AgentReport::Draining`], [`AgentReport::Reconfigured`] and [`AgentReport::Clock`]
    /// (protocol 3).
    pub lifecycle_reports: bool,
    /// [`AgentReport::Serving`] (protocol 4).
    pub serving_reports: bool,
    /// [`AgentReport::ShadowWindows`] (protocol 5).
    pub shadow_reports: bool,
    /// [`AgentReport::Sketches`] (protocol 6).
    pub sketch_reports: bool,
}

/// Stops a task when the session that started it ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl PeerFeatures {
    /// The features of a coordinator speaking `version`.
    pub fn of(version: u32) -> Self {
        Self {
            lifecycle_reports: version >= 3,
            serving_reports: version >= 4,
            shadow_reports: version >= 5,
            sketch_reports: version >= 6,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_reports_go_only_to_coordinators_that_know_them() {
        assert!(!PeerFeatures::of(2).lifecycle_reports);
        assert!(PeerFeatures::of(3).lifecycle_reports);
        assert!(PeerFeatures::of(PROTOCOL_VERSION).lifecycle_reports);
        assert!(!PeerFeatures::of(3).serving_reports);
        assert!(!PeerFeatures::of(4).shadow_reports);
        assert!(!PeerFeatures::of(5).sketch_reports);
        assert!(PeerFeatures::of(PROTOCOL_VERSION).sketch_reports);
        assert!(PeerFeatures::of(PROTOCOL_VERSION).shadow_reports);
        assert!(PeerFeatures::of(PROTOCOL_VERSION).serving_reports);
    }

    #[test]
    fn backoff_grows_with_jitter_and_caps() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let first = b.next_delay();
        assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
        let waits: Vec<_> = (0..10).map(|_| b.next_delay()).collect();
        assert!(waits.iter().all(|w| *w <= Duration::from_secs(1)));
        assert!(
            waits
                .last()
                .is_some_and(|w| *w >= Duration::from_millis(500))
        );
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }
}
