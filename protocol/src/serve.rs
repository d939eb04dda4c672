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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentStatus {
    pub deployment: Deployment,
    /// Per agent the selector picks (connected or last known), what it reported.
    pub agents: Vec<(AgentId, Vec<Serving>)>,
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
