//! The agent's link to the coordinator: one QUIC connection with a control stream; `Hello`,
//! then a heartbeat every interval the coordinator asks for. When the link drops the agent
//! reconnects with exponential backoff and jitter, until it is told to stop or is refused.
//! Jobs the coordinator assigns run in the background and report on the same control stream;
//! they are cancelled when the session ends (the coordinator queues them again).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use drover_protocol::conn::{ConnError, open_bi};
use drover_protocol::dial::{self, DialError};
use drover_protocol::msg::{
    AgentCommand, AgentHello, AgentReport, Hello, HelloOutcome, HelloReply, Intent,
};
use drover_protocol::tls::{self, TlsError};
use drover_protocol::{DROVER_VERSION, PROTOCOL_VERSION};
use rand::Rng;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::host::HostProbe;
use crate::jobs::Runner;
use crate::state::AgentState;

/// Why the link gave up for good.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("the coordinator refused this agent: {0}")]
    Refused(String),
    #[error("the coordinator disconnected this agent: {0}")]
    Removed(String),
    #[error(
        "protocol version mismatch: this agent speaks {ours}, the coordinator speaks {theirs}; run the same drover version on both"
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

/// Keeps the agent connected until `shutdown` fires (`Ok`) or the coordinator refuses it.
/// `connected` is true while a session is up.
pub async fn run(
    state: &AgentState,
    coordinator: &str,
    hello: AgentHello,
    mut probe: HostProbe,
    connected: watch::Sender<bool>,
    jobs: Runner,
    shutdown: CancellationToken,
) -> Result<(), LinkError> {
    let client = tls::client_config(&state.ca_pem, Some(&state.identity))?;
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(30));
    let mut endpoint: Option<(SocketAddr, quinn::Endpoint)> = None;
    loop {
        let result = session(
            &mut endpoint,
            coordinator,
            &client,
            &hello,
            &mut probe,
            &connected,
            &mut backoff,
            &jobs,
            &shutdown,
        )
        .await;
        connected.send_replace(false);
        match result {
            Ok(()) => break,
            Err(SessionError::Fatal(e)) => {
                close(endpoint).await;
                return Err(e);
            }
            Err(e) => {
                let wait = backoff.next_delay();
                tracing::warn!(cause = %e, retry_in_ms = wait.as_millis() as u64, "link to coordinator down");
                tokio::select! {
                    _ = shutdown.cancelled() => break,
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

/// One session: connect, hello, heartbeat until it ends. `Ok` only on shutdown.
#[allow(clippy::too_many_arguments)]
async fn session(
    endpoint: &mut Option<(SocketAddr, quinn::Endpoint)>,
    coordinator: &str,
    client: &quinn::ClientConfig,
    hello: &AgentHello,
    probe: &mut HostProbe,
    connected: &watch::Sender<bool>,
    backoff: &mut Backoff,
    jobs: &Runner,
    shutdown: &CancellationToken,
) -> Result<(), SessionError> {
    let addr = dial::resolve(coordinator).await?;
    let endpoint = match endpoint {
        Some((family, ep)) if family.is_ipv6() == addr.is_ipv6() => ep.clone(),
        slot => {
            let ep = dial::endpoint_for(addr)?;
            *slot = Some((addr, ep.clone()));
            ep
        }
    };
    let conn = tokio::select! {
        _ = shutdown.cancelled() => return Ok(()),
        conn = dial::connect(&endpoint, client.clone(), addr) => conn?,
    };
    let (mut send, mut recv) = open_bi(&conn).await?;
    let hello = Hello {
        proto_version: PROTOCOL_VERSION,
        drover_version: DROVER_VERSION.into(),
        intent: Intent::Agent(hello.clone()),
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
    let interval = Duration::from_millis(welcome.heartbeat_interval_ms.clamp(50, 60_000));
    tracing::info!(coordinator = %addr, interval_ms = interval.as_millis() as u64, "connected to coordinator");
    connected.send_replace(true);
    backoff.reset();
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seq = 0u64;
    let (reports_tx, mut reports) = mpsc::channel::<AgentReport>(64);
    let session_jobs = CancellationToken::new();
    let _cancel_jobs_on_exit = session_jobs.clone().drop_guard();
    let mut running: HashMap<String, CancellationToken> = HashMap::new();
    loop {
        tokio::select! {
            _ = tick.tick() => {
                seq += 1;
                send.send(&AgentReport::Heartbeat { seq, load: probe.sample() }).await?;
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
                Some(AgentCommand::AssignJob(job)) => {
                    let cancel = session_jobs.child_token();
                    running.insert(job.run_id.clone(), cancel.clone());
                    jobs.start(conn.clone(), *job, reports_tx.clone(), cancel);
                }
                Some(AgentCommand::MetricsAck { seq }) => tracing::trace!(seq, "metrics stored"),
                Some(AgentCommand::CancelJob { run_id }) => {
                    if let Some(cancel) = running.remove(&run_id) {
                        tracing::info!(run = %run_id, "job cancelled");
                        cancel.cancel();
                    }
                }
                None => return Err(SessionError::Closed),
            },
            _ = shutdown.cancelled() => {
                conn.close(0u32.into(), b"agent shutting down");
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
