//! What a rollout's analysis looks at: what the versions served since its step began, and
//! whether the candidate is loaded where the deployment is served.

use super::analysis::Tally;

/// Whether the candidate is loaded where the deployment is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// Every serving agent reports it ready.
    Ready,
    /// Some agent is still loading it (or none serves the model yet).
    Loading,
    /// An agent could not load it.
    Failed(String),
}

/// What the versions served since [`observed_since`], summed over agents.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub candidate: Tally,
    pub baseline: Tally,
    /// Looked up only where it matters (a blue-green candidate waiting at zero weight).
    pub readiness: Readiness,
}
