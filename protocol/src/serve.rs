//! Serving: what the coordinator wants each agent to serve (deployments of model versions
//! with their traffic weights), what an agent reports it actually serves, and label
//! selectors that pick the agents.

use serde::{Deserialize, Serialize};

use crate::hash::ContentHash;
use crate::types::{AgentId, Labels};

/// One version of a deployment, with its share of traffic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Variant {
    pub version: u32,
    /// The model artifact the agent fetches, verifies and loads.
    pub artifact_hash: ContentHash,
    /// Relative share of requests (weights of a deployment need not sum to 100).
    pub weight: u32,
    /// Gets a copy of requests; its answers are recorded, never returned.
    pub shadow: bool,
}

/// A model served on the agents its selector picks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    pub model: String,
    pub variants: Vec<Variant>,
    /// Agents whose labels include all of these serve it.
    pub selector: Labels,
    pub updated_ms: u64,
}

/// Where a version stands on one agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LoadState {
    Loading,
    Ready,
    Failed(String),
}

impl std::fmt::Display for LoadState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadState::Loading => f.write_str("loading"),
            LoadState::Ready => f.write_str("ready"),
            LoadState::Failed(reason) => write!(f, "failed: {reason}"),
        }
    }
}

/// One version as an agent serves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Serving {
    pub model: String,
    pub version: u32,
    pub state: LoadState,
}

/// A deployment and how each agent it picks serves it, for operators.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentStatus {
    pub deployment: Deployment,
    /// Per agent the selector picks (connected or last known), what it reported.
    pub agents: Vec<(AgentId, Vec<Serving>)>,
    /// Per agent and version, its traffic in the agent's last window.
    pub rates: Vec<Rate>,
}

/// One version's traffic on one agent over its last window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    pub agent: AgentId,
    pub version: u32,
    #[serde(with = "crate::float")]
    pub requests_per_second: f64,
    /// Share of requests answered with an error.
    #[serde(with = "crate::float")]
    pub error_rate: f64,
    /// Microseconds under which 99% were answered (a bucket's bound).
    pub p99_us: Option<u64>,
}

impl Rate {
    /// The traffic `window` shows on `agent`.
    pub fn of(agent: &AgentId, window: &ServingWindow) -> Self {
        let seconds = (window.end_ms.saturating_sub(window.start_ms) as f64 / 1000.0).max(0.001);
        Self {
            agent: agent.clone(),
            version: window.version,
            requests_per_second: window.requests as f64 / seconds,
            error_rate: window.errors as f64 / window.requests.max(1) as f64,
            p99_us: window.latency_quantile_us(0.99),
        }
    }
}

/// Upper bounds of the latency buckets of a [`ServingWindow`], microseconds; a last bucket
/// holds everything slower.
pub const LATENCY_BUCKETS_US: [u64; 16] = [
    100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000,
    1_000_000, 2_000_000, 5_000_000, 10_000_000,
];

/// What one version served on one agent during one window: the input of rollout analysis
/// and of the console.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServingWindow {
    pub model: String,
    pub version: u32,
    /// Unix milliseconds, agent clock.
    pub start_ms: u64,
    pub end_ms: u64,
    pub requests: u64,
    /// Requests answered with an error (bad input or a failed prediction).
    pub errors: u64,
    /// Requests per latency bucket ([`LATENCY_BUCKETS_US`], then one for slower).
    pub latency: Vec<u64>,
    /// Predicted rows per class (classifiers, in the model's class order) or, for
    /// regressors, empty.
    pub classes: Vec<u64>,
    /// Feedback matched to a prediction of this version: how many, and how many right.
    pub feedback: u64,
    pub correct: u64,
}

impl ServingWindow {
    /// The latency under which `q` of the requests were answered, microseconds (the bucket's
    /// upper bound; `None` with no request or in the last, unbounded bucket).
    pub fn latency_quantile_us(&self, q: f64) -> Option<u64> {
        latency_quantile_us(&self.latency, q)
    }
}

/// The latency under which `q` of the requests counted per bucket in `latency` (of
/// [`LATENCY_BUCKETS_US`], then one for slower) were answered: the bucket's upper bound;
/// `None` with no request or in the last, unbounded bucket.
pub fn latency_quantile_us(latency: &[u64], q: f64) -> Option<u64> {
    let total: u64 = latency.iter().sum();
    if total == 0 {
        return None;
    }
    let wanted = (total as f64 * q).ceil() as u64;
    let mut seen = 0;
    for (i, n) in latency.iter().enumerate() {
        seen += n;
        if seen >= wanted {
            return LATENCY_BUCKETS_US.get(i).copied();
        }
    }
    None
}

/// One version's traffic over one slice of time, summed over agents: a point of the
/// series the console draws.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesPoint {
    pub version: u32,
    /// Coordinator Unix milliseconds at the slice's end.
    pub at_ms: u64,
    #[serde(with = "crate::float")]
    pub requests_per_second: f64,
    #[serde(with = "crate::float")]
    pub error_rate: f64,
    pub p99_us: Option<u64>,
    /// Share of feedback labels the version had right, when it got any.
    #[serde(default, with = "crate::float::option")]
    pub accuracy: Option<f64>,
}

/// What a shadow version answered during one window: the rows it got copies of, those on
/// which its answer differed from the one the caller got, and those it failed to predict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShadowWindow {
    pub model: String,
    pub version: u32,
    /// Unix milliseconds, agent clock.
    pub start_ms: u64,
    pub end_ms: u64,
    pub rows: u64,
    pub differing: u64,
    pub failed: u64,
}

/// Whether `labels` satisfy `selector`: every key is present and, for list values such as
/// `role=train,serve`, the selector's value is one of the list's.
pub fn selects(selector: &Labels, labels: &Labels) -> bool {
    selector.iter().all(|(key, wanted)| {
        labels.get(key).is_some_and(|have| {
            wanted
                .split(',')
                .all(|w| have.split(',').any(|h| h.trim() == w.trim()))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::parse_labels;

    #[test]
    fn selectors_match_one_value_of_a_list() {
        let agent = parse_labels("role=train,serve,zone=eu").expect("labels");
        for (selector, chosen) in [
            ("role=serve", true),
            ("role=serve,zone=eu", true),
            ("role=gpu", false),
            ("zone=us", false),
            ("", true),
        ] {
            let selector = parse_labels(selector).expect("selector");
            assert_eq!(selects(&selector, &agent), chosen, "{selector:?}");
        }
    }
}
