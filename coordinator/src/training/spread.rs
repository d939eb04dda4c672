//! One run's search spread over several agents. Each agent cross-validates its share of the
//! trials in a search-only job; when every share is in, the agent that finished last refits
//! the best candidate on all training rows, measures it and uploads the model, as a run on a
//! single agent would. Which agent holds which share lives in memory only: a coordinator
//! restart re-queues running runs anyway.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};

use drover_protocol::run::JobAssignment;
use drover_protocol::types::AgentId;

/// Runs whose search is spread, with the agents still cross-validating a share.
#[derive(Default)]
pub struct Spreads(Mutex<HashMap<String, Spread>>);

struct Spread {
    searching: BTreeSet<AgentId>,
    /// The run's job, to be sent again for the refit.
    job: JobAssignment,
}

/// What a finished share means for its run.
#[derive(Debug)]
pub enum ShareDone {
    /// The agent held no share of this run.
    NotShared,
    /// Other agents are still searching.
    Waiting,
    /// That was the last share: the best trial can be refitted with this job.
    Complete(Box<JobAssignment>),
}

impl Spreads {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Spread>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records that `agents` each search a share of `job`'s run.
    pub fn start(&self, job: JobAssignment, agents: impl IntoIterator<Item = AgentId>) {
        let spread = Spread {
            searching: agents.into_iter().collect(),
            job,
        };
        self.lock().insert(spread.job.run_id.clone(), spread);
    }

    /// Whether `run`'s search is spread and not yet complete.
    pub fn contains(&self, run: &str) -> bool {
        self.lock().contains_key(run)
    }

    /// Every (run, agent) share still being searched.
    pub fn busy(&self) -> Vec<(String, AgentId)> {
        self.lock()
            .iter()
            .flat_map(|(run, s)| s.searching.iter().map(move |a| (run.clone(), a.clone())))
            .collect()
    }

    /// Runs in which `agent` still searches a share.
    pub fn runs_of(&self, agent: &AgentId) -> Vec<String> {
        self.lock()
            .iter()
            .filter(|(_, s)| s.searching.contains(agent))
            .map(|(run, _)| run.clone())
            .collect()
    }

    /// Marks `agent`'s share of `run` done.
    pub fn share_done(&self, run: &str, agent: &AgentId) -> ShareDone {
        let mut spreads = self.lock();
        let Some(spread) = spreads.get_mut(run) else {
            return ShareDone::NotShared;
        };
        if !spread.searching.remove(agent) {
            return ShareDone::NotShared;
        }
        if !spread.searching.is_empty() {
            return ShareDone::Waiting;
        }
        match spreads.remove(run) {
            Some(spread) => ShareDone::Complete(Box::new(spread.job)),
            None => ShareDone::NotShared,
        }
    }

    /// Stops tracking `run`; returns the agents still searching a share of it.
    pub fn forget(&self, run: &str) -> Vec<AgentId> {
        self.lock()
            .remove(run)
            .map(|s| s.searching.into_iter().collect())
            .unwrap_or_default()
    }
}

/// Trial numbers `1..=total` dealt round-robin into `agents` shares.
pub fn shares(total: u32, agents: usize) -> Vec<Vec<u32>> {
    let agents = agents.max(1);
    let mut out = vec![Vec::new(); agents];
    for trial in 1..=total {
        out[(trial as usize - 1) % agents].push(trial);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_cover_every_trial_once() {
        assert_eq!(shares(5, 2), vec![vec![1, 3, 5], vec![2, 4]]);
        assert_eq!(shares(2, 1), vec![vec![1, 2]]);
    }

    fn job(run: &str) -> JobAssignment {
        let spec = drover_protocol::spec::TrainSpec::from_toml(
            "experiment = \"e\"\nmodel = \"m\"\ndataset = \"d\"\ntarget = \"t\"\ntask = \"classification\"\nalgorithm = \"gaussian_nb\"\n",
        )
        .expect("spec");
        JobAssignment {
            run_id: run.into(),
            spec,
            dataset: drover_protocol::run::DatasetPin {
                name: "d".into(),
                version: 1,
                hash: drover_protocol::hash::ContentHash::of(b"h"),
                size_bytes: 1,
            },
            baseline: None,
            trials: None,
            search_only: true,
        }
    }

    #[test]
    fn the_last_share_completes_the_search() {
        let spreads = Spreads::default();
        let (a, b) = (AgentId("a".into()), AgentId("b".into()));
        spreads.start(job("r"), [a.clone(), b.clone()]);
        assert_eq!(spreads.busy().len(), 2);
        assert_eq!(spreads.runs_of(&a), vec!["r".to_string()]);
        assert!(matches!(spreads.share_done("r", &a), ShareDone::Waiting));
        assert!(matches!(spreads.share_done("r", &a), ShareDone::NotShared));
        assert!(matches!(spreads.share_done("r", &b), ShareDone::Complete(j) if j.run_id == "r"));
        assert!(!spreads.contains("r"));
        spreads.start(job("s"), [a.clone(), b]);
        assert_eq!(spreads.forget("s").len(), 2);
        assert!(spreads.busy().is_empty());
    }
}
