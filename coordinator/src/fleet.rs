//! The live view of the fleet: which agents are connected, their last heartbeat and load.
//! In memory for speed (1,000 agents heartbeating every second is one lock and a few field
//! writes each); the store keeps the durable part, flushed in batches.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use drover_protocol::msg::{AgentCommand, ClockSkew};
use drover_protocol::serve::{Serving, ServingWindow};
use drover_protocol::types::{
    AgentId, AgentInfo, AgentStatus, Capacity, HostLoad, Labels, unix_ms,
};
use tokio::sync::mpsc;

use crate::store::AgentRecord;

/// How many missed heartbeat intervals make an agent `lost`.
pub const MISSED_BEATS_FOR_LOST: u32 = 3;

struct Live {
    record: AgentRecord,
    load: Option<HostLoad>,
    session: Option<Session>,
    last_beat: Option<Instant>,
    status: AgentStatus,
    seen_dirty: bool,
    /// The agent said it is shutting down: no new jobs for it.
    draining: bool,
    clock: Option<ClockSkew>,
    /// What the agent last reported serving.
    serving: Vec<Serving>,
    /// Its last serving windows.
    windows: Vec<ServingWindow>,
}

/// Most versions one agent's serving report may list; the rest is dropped.
pub const MAX_SERVING: usize = 256;

struct Session {
    id: u64,
    commands: mpsc::Sender<AgentCommand>,
}

/// What a heartbeat changed.
#[derive(Debug, PartialEq, Eq)]
pub enum Beat {
    /// The agent was ready and stays ready.
    Steady,
    /// The agent had been marked lost by timeout and is ready again.
    Recovered,
    /// The heartbeat belongs to a session that has been replaced or removed.
    Stale,
}

/// An agent that can take training jobs.
pub struct Trainer {
    pub id: AgentId,
    pub slots: u32,
    /// Jobs it runs now (filled in by the scheduler).
    pub busy: u32,
    pub commands: mpsc::Sender<AgentCommand>,
}

/// An agent as deployments see it: its labels, what it last reported serving, and the
/// command channel of its session when connected.
pub struct Server {
    pub id: AgentId,
    pub labels: Labels,
    pub serving: Vec<Serving>,
    /// Its last serving windows.
    pub windows: Vec<ServingWindow>,
    pub commands: Option<mpsc::Sender<AgentCommand>>,
}

/// Every enrolled agent and its live state.
pub struct Fleet {
    agents: Mutex<HashMap<AgentId, Live>>,
    interval: Duration,
    next_session: AtomicU64,
}

impl Fleet {
    /// Starts from the stored agents, all `lost` until they connect.
    pub fn new(records: Vec<AgentRecord>, interval: Duration) -> Self {
        let agents = records
            .into_iter()
            .map(|r| (r.id.clone(), Live::offline(r)))
            .collect();
        Self {
            agents: Mutex::new(agents),
            interval,
            next_session: AtomicU64::new(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<AgentId, Live>> {
        // A panic while holding this lock leaves plain data behind; keep serving with it.
        self.agents
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The heartbeat interval agents are told to use.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// An operator changed the labels granted to the agent of `record`; the agent as
    /// operators now see it (`None` when the fleet does not know it).
    pub fn relabel(&self, record: &AgentRecord) -> Option<AgentInfo> {
        let mut agents = self.lock();
        let live = agents.get_mut(&record.id)?;
        live.record.labels.clone_from(&record.labels);
        live.record.claimed.clone_from(&record.claimed);
        live.record.labels_fixed = record.labels_fixed;
        Some(live.info())
    }

    /// Adds a newly enrolled agent.
    pub fn enrolled(&self, record: AgentRecord) {
        self.lock().insert(record.id.clone(), Live::offline(record));
    }

    /// Starts a session for an agent, replacing (and returning the command channel of) any
    /// session it still had.
    pub fn connect(
        &self,
        record: AgentRecord,
        commands: mpsc::Sender<AgentCommand>,
    ) -> (u64, Option<mpsc::Sender<AgentCommand>>) {
        let id = self.next_session.fetch_add(1, Ordering::Relaxed);
        let mut agents = self.lock();
        let live = agents
            .entry(record.id.clone())
            .or_insert_with(|| Live::offline(record.clone()));
        live.record = record;
        live.record.last_seen_ms = Some(unix_ms());
        live.last_beat = Some(Instant::now());
        live.status = AgentStatus::Ready;
        live.seen_dirty = true;
        live.draining = false;
        let old = live.session.replace(Session { id, commands });
        (id, old.map(|s| s.commands))
    }

    /// Records a heartbeat from session `session` of agent `id`.
    pub fn heartbeat(&self, id: &AgentId, session: u64, load: HostLoad) -> Beat {
        let mut agents = self.lock();
        let Some(live) = agents.get_mut(id) else {
            return Beat::Stale;
        };
        if live.session.as_ref().map(|s| s.id) != Some(session) {
            return Beat::Stale;
        }
        live.last_beat = Some(Instant::now());
        live.record.last_seen_ms = Some(unix_ms());
        live.load = Some(load);
        live.seen_dirty = true;
        if live.status == AgentStatus::Lost {
            live.status = AgentStatus::Ready;
            Beat::Recovered
        } else {
            Beat::Steady
        }
    }

    /// Ends session `session`; true when that turned a ready agent into a lost one.
    pub fn disconnect(&self, id: &AgentId, session: u64) -> bool {
        let mut agents = self.lock();
        let Some(live) = agents.get_mut(id) else {
            return false;
        };
        if live.session.as_ref().map(|s| s.id) != Some(session) {
            return false;
        }
        live.session = None;
        std::mem::replace(&mut live.status, AgentStatus::Lost) == AgentStatus::Ready
    }

    /// Runs `change` on the live state of session `session` of agent `id`; false when the
    /// session is stale.
    fn with_session(&self, id: &AgentId, session: u64, change: impl FnOnce(&mut Live)) -> bool {
        let mut agents = self.lock();
        match agents.get_mut(id) {
            Some(live) if live.session.as_ref().map(|s| s.id) == Some(session) => {
                change(live);
                true
            }
            _ => false,
        }
    }

    /// The agent is shutting down: it gets no new jobs until it connects again.
    pub fn draining(&self, id: &AgentId, session: u64) -> bool {
        self.with_session(id, session, |live| live.draining = true)
    }

    /// The agent reloaded its config; returns its updated record for the store. The labels
    /// it claims count only within its grant ([`settle_labels`]).
    pub fn reconfigured(
        &self,
        id: &AgentId,
        session: u64,
        labels: Labels,
        capacity: Capacity,
    ) -> Option<AgentRecord> {
        let mut record = None;
        self.with_session(id, session, |live| {
            settle_labels(&mut live.record, labels);
            live.record.capacity = Some(capacity);
            record = Some(live.record.clone());
        });
        record
    }

    /// Records the agent's clock offset, measured now.
    pub fn clock(&self, id: &AgentId, session: u64, skew_ms: i64) {
        self.with_session(id, session, |live| {
            live.clock = Some(ClockSkew {
                agent: id.clone(),
                skew_ms,
                measured_ms: unix_ms(),
            });
        });
    }

    /// The clock offset of every connected agent that reported one, by id.
    pub fn clock_skews(&self) -> Vec<ClockSkew> {
        let mut skews: Vec<ClockSkew> = self
            .lock()
            .values()
            .filter(|l| l.session.is_some())
            .filter_map(|l| l.clock.clone())
            .collect();
        skews.sort_by(|a, b| a.agent.cmp(&b.agent));
        skews
    }

    /// Marks ready agents whose heartbeats stopped as lost; returns them with their silence.
    pub fn expire(&self, now: Instant) -> Vec<(AgentId, Duration)> {
        let limit = self.interval * MISSED_BEATS_FOR_LOST;
        let mut lost = Vec::new();
        for (id, live) in self.lock().iter_mut() {
            let silent = live
                .last_beat
                .map_or(Duration::MAX, |t| now.saturating_duration_since(t));
            if live.status == AgentStatus::Ready && silent > limit {
                live.status = AgentStatus::Lost;
                lost.push((id.clone(), silent));
            }
        }
        lost
    }

    /// Forgets an agent; returns its session's command channel if it was connected.
    pub fn remove(&self, id: &AgentId) -> Option<mpsc::Sender<AgentCommand>> {
        self.lock()
            .remove(id)
            .and_then(|l| l.session)
            .map(|s| s.commands)
    }

    /// Ready agents labelled for training (`role` includes `train`), with their job slots.
    pub fn trainers(&self) -> Vec<Trainer> {
        let agents = self.lock();
        let mut trainers: Vec<Trainer> = agents
            .iter()
            .filter(|(_, l)| l.status == AgentStatus::Ready && !l.draining)
            .filter(|(_, l)| {
                l.record
                    .labels
                    .get("role")
                    .is_some_and(|r| r.split(',').any(|r| r.trim() == "train"))
            })
            .filter_map(|(id, l)| {
                let session = l.session.as_ref()?;
                let slots = l.record.capacity.map_or(1, |c| c.job_slots);
                Some(Trainer {
                    id: id.clone(),
                    slots,
                    busy: 0,
                    commands: session.commands.clone(),
                })
            })
            .collect();
        trainers.sort_by(|a, b| a.id.cmp(&b.id));
        trainers
    }

    /// Records what session `session` of agent `id` reports serving (at most
    /// [`MAX_SERVING`] versions).
    pub fn serving(&self, id: &AgentId, session: u64, mut serving: Vec<Serving>) {
        serving.truncate(MAX_SERVING);
        self.with_session(id, session, |live| live.serving = serving);
    }

    /// Keeps the serving windows session `session` of agent `id` just reported (at most
    /// [`MAX_SERVING`]).
    pub fn windows(&self, id: &AgentId, session: u64, mut windows: Vec<ServingWindow>) {
        windows.truncate(MAX_SERVING);
        self.with_session(id, session, |live| live.windows = windows);
    }

    /// An agent's labels and, when connected, its session's command channel.
    pub fn labels(&self, id: &AgentId) -> Option<(Labels, Option<mpsc::Sender<AgentCommand>>)> {
        self.lock().get(id).map(|l| {
            (
                l.record.labels.clone(),
                l.session.as_ref().map(|s| s.commands.clone()),
            )
        })
    }

    /// Every enrolled agent as deployments see it, by id.
    pub fn servers(&self) -> Vec<Server> {
        let mut servers: Vec<Server> = self
            .lock()
            .iter()
            .map(|(id, l)| Server {
                id: id.clone(),
                labels: l.record.labels.clone(),
                serving: l.serving.clone(),
                windows: l.windows.clone(),
                commands: l.session.as_ref().map(|s| s.commands.clone()),
            })
            .collect();
        servers.sort_by(|a, b| a.id.cmp(&b.id));
        servers
    }

    /// The command channel of an agent's current session.
    pub fn commands(&self, id: &AgentId) -> Option<mpsc::Sender<AgentCommand>> {
        self.lock()
            .get(id)
            .and_then(|l| l.session.as_ref())
            .map(|s| s.commands.clone())
    }

    /// Every agent as operators see it, by id.
    pub fn list(&self) -> Vec<AgentInfo> {
        let mut list: Vec<AgentInfo> = self.lock().values().map(Live::info).collect();
        list.sort_by(|a, b| a.id.cmp(&b.id));
        list
    }

    /// `(ready, total)` agent counts.
    pub fn counts(&self) -> (usize, usize) {
        let agents = self.lock();
        (
            agents
                .values()
                .filter(|l| l.status == AgentStatus::Ready)
                .count(),
            agents.len(),
        )
    }

    /// The longest time since the last heartbeat among ready agents.
    pub fn max_lag(&self, now: Instant) -> Duration {
        self.lock()
            .values()
            .filter(|l| l.status == AgentStatus::Ready)
            .filter_map(|l| l.last_beat.map(|t| now.saturating_duration_since(t)))
            .max()
            .unwrap_or_default()
    }

    /// Heartbeat times changed since the last call, for a batched store write.
    pub fn take_seen(&self) -> Vec<(AgentId, u64)> {
        let mut seen = Vec::new();
        for (id, live) in self.lock().iter_mut() {
            if std::mem::take(&mut live.seen_dirty)
                && let Some(ms) = live.record.last_seen_ms
            {
                seen.push((id.clone(), ms));
            }
        }
        seen
    }
}

impl Live {
    fn offline(record: AgentRecord) -> Self {
        Self {
            record,
            load: None,
            session: None,
            last_beat: None,
            status: AgentStatus::Lost,
            seen_dirty: false,
            draining: false,
            clock: None,
            serving: Vec::new(),
            windows: Vec::new(),
        }
    }

    fn info(&self) -> AgentInfo {
        let r = &self.record;
        AgentInfo {
            id: r.id.clone(),
            hostname: r.hostname.clone(),
            labels: r.labels.clone(),
            status: match self.status {
                AgentStatus::Ready if self.draining => AgentStatus::Draining,
                status => status,
            },
            last_heartbeat_ms: r.last_seen_ms,
            version: r.version.clone(),
            address: r.address.clone(),
            capacity: r.capacity,
            load: self.load,
            claimed: r.claimed.clone(),
        }
    }
}

/// Settles what agent `record` claims (in a hello or a reload) against its grant: the first
/// claim after an enrollment without granted labels becomes the grant; any later claim
/// changes nothing but the record of what was claimed beyond it.
pub fn settle_labels(record: &mut AgentRecord, claimed: Labels) {
    if let Err(e) = drover_protocol::types::check_labels(&claimed) {
        tracing::warn!(agent = %record.id, cause = %e, "agent claimed malformed labels; ignored");
        metrics::counter!("drover_labels_refused_total", "reason" => "malformed").increment(1);
        return;
    }
    if !record.labels_fixed {
        record.labels = claimed;
        record.labels_fixed = true;
        record.claimed = Labels::new();
        return;
    }
    let beyond = drover_protocol::types::beyond_grant(&claimed, &record.labels);
    if !beyond.is_empty() {
        tracing::warn!(
            agent = %record.id,
            claimed = %drover_protocol::types::format_labels(&beyond),
            "agent claimed labels it was not granted; ignored (grant them with drover agents label)"
        );
        metrics::counter!("drover_labels_refused_total", "reason" => "not_granted").increment(1);
    }
    record.claimed = beyond;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::record;

    #[test]
    fn silence_makes_lost_and_a_beat_recovers() {
        let fleet = Fleet::new(vec![record("a")], Duration::from_millis(100));
        assert_eq!(fleet.counts(), (0, 1));
        let (tx, _rx) = mpsc::channel(1);
        let (session, old) = fleet.connect(record("a"), tx);
        assert!(old.is_none());
        assert_eq!(fleet.counts(), (1, 1));
        assert!(fleet.expire(Instant::now()).is_empty());
        let lost = fleet.expire(Instant::now() + Duration::from_millis(301));
        assert_eq!(lost.len(), 1);
        assert_eq!(fleet.list()[0].status, AgentStatus::Lost);
        assert_eq!(
            fleet.heartbeat(&AgentId("a".into()), session, HostLoad::default()),
            Beat::Recovered
        );
        assert_eq!(
            fleet.heartbeat(&AgentId("a".into()), session + 1, HostLoad::default()),
            Beat::Stale
        );
        assert!(fleet.disconnect(&AgentId("a".into()), session));
        assert_eq!(fleet.take_seen().len(), 1);
        assert!(fleet.take_seen().is_empty());
    }

    #[test]
    fn a_replaced_session_ending_does_not_mark_lost() {
        let fleet = Fleet::new(vec![], Duration::from_secs(1));
        let (tx1, _r1) = mpsc::channel(1);
        let (tx2, _r2) = mpsc::channel(1);
        let (first, _) = fleet.connect(record("a"), tx1);
        let (_second, old) = fleet.connect(record("a"), tx2);
        assert!(old.is_some());
        assert!(!fleet.disconnect(&AgentId("a".into()), first));
        assert_eq!(fleet.counts(), (1, 1));
    }
}
