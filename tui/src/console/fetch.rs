//! What the console fetches, and the rule that keeps it in check: per feed, one request
//! running and one queued at most. A queued request is built when it starts, so it asks for
//! what the view shows then; an answer is applied only when it is the running request's.

use std::collections::{BTreeMap, BTreeSet};

use drover_protocol::data::DatasetSummary;
use drover_protocol::drift::{Alert, DriftPoint, DriftReport};
use drover_protocol::registry::{ModelSummary, ModelVersion};
use drover_protocol::rollout::RolloutStatus;
use drover_protocol::run::{RunDetail, RunPage, RunQuery};
use drover_protocol::serve::{DeploymentStatus, SeriesPoint};
use drover_protocol::types::AgentInfo;

/// One kind of data the console shows, fetched on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Feed {
    Agents,
    Runs,
    Datasets,
    Models,
    Compare,
    /// Rollouts (with the selected one's decisions and traffic), for the Rollouts and
    /// Overview views.
    Rollouts,
    /// Drift evaluations and alerts, for the Drift, Alerts and Overview views.
    Monitoring,
}

/// A request for a feed, with what it asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Ask {
    Agents,
    Runs(RunQuery),
    Datasets,
    /// Every model, the versions of the selected one, and where they are deployed.
    Models(Option<String>),
    /// The details of the runs being compared.
    Compare(Vec<String>),
    /// The newest rollouts, and the selected model's newest rollout with its traffic.
    Rollouts(Option<String>),
    /// Every served version's latest drift, the alerts, and the history of the selected
    /// version's columns.
    Monitoring(Option<(String, u32)>),
}

impl Ask {
    pub fn feed(&self) -> Feed {
        match self {
            Ask::Agents => Feed::Agents,
            Ask::Runs(_) => Feed::Runs,
            Ask::Datasets => Feed::Datasets,
            Ask::Models(_) => Feed::Models,
            Ask::Compare(_) => Feed::Compare,
            Ask::Rollouts(_) => Feed::Rollouts,
            Ask::Monitoring(_) => Feed::Monitoring,
        }
    }
}

/// What the coordinator answered to an [`Ask`].
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// The agents, and what the deployments say each serves.
    Agents(Vec<AgentInfo>, Vec<DeploymentStatus>),
    Runs(RunPage),
    Datasets(Vec<DatasetSummary>),
    /// The models, the selected one's versions, and the deployments.
    Models(Vec<ModelSummary>, Vec<ModelVersion>, Vec<DeploymentStatus>),
    Compare(Vec<RunDetail>),
    Rollouts(Box<Rollouts>),
    Monitoring(Box<Monitoring>),
}

/// What the Drift, Alerts and Overview views show.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Monitoring {
    /// Each served version's latest evaluation, worst column first.
    pub reports: Vec<DriftReport>,
    /// The newest alerts, firing or resolved.
    pub alerts: Vec<Alert>,
    /// The selected version's scores per column over time.
    pub history: Vec<DriftPoint>,
}

/// What the Rollouts and Overview views show.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Rollouts {
    /// The newest rollouts, each with its last decision.
    pub list: Vec<RolloutStatus>,
    /// The selected model's newest rollout, with every decision and its latest analysis.
    pub selected: Option<RolloutStatus>,
    /// Its model's traffic per version since the rollout started.
    pub history: Vec<SeriesPoint>,
}

/// Which request runs for each feed and which feeds wait for it to end.
#[derive(Debug, Default)]
pub struct Fetches {
    next: u64,
    running: BTreeMap<Feed, u64>,
    queued: BTreeSet<Feed>,
}

impl Fetches {
    /// Asks for `feed`: the ticket of a request to start now, or `None` when one is already
    /// running (then one more is queued, however often this is called).
    pub fn want(&mut self, feed: Feed) -> Option<u64> {
        if self.running.contains_key(&feed) {
            self.queued.insert(feed);
            return None;
        }
        self.next += 1;
        self.running.insert(feed, self.next);
        Some(self.next)
    }

    /// An answer (or failure) for `ticket` arrived. Returns whether it is the running
    /// request's (late answers are not) and, when a request was queued, the ticket to start
    /// it with now.
    pub fn settle(&mut self, feed: Feed, ticket: u64) -> (bool, Option<u64>) {
        if self.running.get(&feed) != Some(&ticket) {
            return (false, None);
        }
        self.running.remove(&feed);
        let again = self.queued.remove(&feed).then(|| self.want(feed)).flatten();
        (true, again)
    }

    /// Forgets every request (the connection they went over is gone): their answers will be
    /// dropped.
    pub fn reset(&mut self) {
        self.running.clear();
        self.queued.clear();
    }

    /// Whether a request for `feed` is running.
    pub fn running(&self, feed: Feed) -> bool {
        self.running.contains_key(&feed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_runs_one_waits_and_late_answers_are_dropped() {
        let mut fetches = Fetches::default();
        let first = fetches.want(Feed::Runs).expect("starts");
        assert_eq!(fetches.want(Feed::Runs), None, "queued behind the first");
        assert_eq!(fetches.want(Feed::Runs), None, "still one queued");
        assert!(
            fetches.want(Feed::Agents).is_some(),
            "feeds are independent"
        );
        let (current, again) = fetches.settle(Feed::Runs, first);
        let second = again.expect("the queued one starts");
        assert!(current);
        assert_eq!(fetches.settle(Feed::Runs, first), (false, None), "late");
        assert_eq!(fetches.settle(Feed::Runs, second), (true, None));
        assert!(!fetches.running(Feed::Runs));

        let lost = fetches.want(Feed::Models).expect("starts");
        fetches.reset();
        assert_eq!(fetches.settle(Feed::Models, lost), (false, None));
    }
}
