//! Jobs cancelled on an agent whose work has not yet stopped. Their slots stay taken until the
//! agent reports the job ended, its session ends, or (for agents older than this release,
//! which never report it) a deadline passes, so a cancel never makes an agent look free while
//! its core is still busy.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use drover_protocol::types::AgentId;

/// How long a cancelled job may hold its slot without a report.
const DEADLINE: Duration = Duration::from_secs(60);

/// Cancelled jobs still stopping, by agent.
#[derive(Default)]
pub struct Stopping {
    jobs: Mutex<HashMap<(AgentId, String), Instant>>,
}

impl Stopping {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(AgentId, String), Instant>> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `run` was cancelled on `agent`.
    pub fn insert(&self, agent: &AgentId, run: &str) {
        self.lock()
            .insert((agent.clone(), run.to_string()), Instant::now() + DEADLINE);
    }

    /// `agent` reported that the work of `run` stopped.
    pub fn remove(&self, agent: &AgentId, run: &str) {
        self.lock().remove(&(agent.clone(), run.to_string()));
    }

    /// Whether `run` was cancelled on `agent` and is still stopping.
    pub fn contains(&self, agent: &AgentId, run: &str) -> bool {
        self.lock().contains_key(&(agent.clone(), run.to_string()))
    }

    /// `agent`'s session ended: its jobs stopped with it.
    pub fn forget(&self, agent: &AgentId) {
        self.lock().retain(|(a, _), _| a != agent);
    }

    /// One entry per slot still taken by a stopping job.
    pub fn busy(&self) -> Vec<AgentId> {
        let now = Instant::now();
        let mut jobs = self.lock();
        jobs.retain(|_, deadline| *deadline > now);
        jobs.keys().map(|(agent, _)| agent.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_is_taken_until_the_job_reports_or_the_session_ends() {
        let stopping = Stopping::default();
        let (a, b) = (AgentId("a".into()), AgentId("b".into()));
        stopping.insert(&a, "run-1");
        stopping.insert(&a, "run-2");
        stopping.insert(&b, "run-3");
        assert_eq!(stopping.busy().len(), 3);
        assert!(stopping.contains(&a, "run-1"));
        stopping.remove(&a, "run-1");
        assert!(!stopping.contains(&a, "run-1"));
        assert_eq!(stopping.busy().iter().filter(|x| **x == a).count(), 1);
        stopping.forget(&a);
        assert_eq!(stopping.busy(), vec![b]);
    }
}
