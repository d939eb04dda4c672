//! Rollouts: moving a model's traffic from its deployed version (the baseline) to a candidate
//! version, step by step, with an analysis deciding each step. The spec (TOML, every field
//! documented in `config/rollout.example.toml`), the state the coordinator persists, and the
//! decisions it records with their numbers.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How traffic moves to the candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Weight steps, each analysed before the next.
    Canary,
    /// A fixed split until a winner is clear or time runs out.
    Ab,
    /// The candidate gets copies of requests; its answers are compared, never returned.
    Shadow,
    /// The candidate is loaded at zero weight, then takes all traffic at once.
    Bluegreen,
}

impl Strategy {
    /// Parses the lower-case name.
    pub fn parse(text: &str) -> Option<Self> {
        [
            Strategy::Canary,
            Strategy::Ab,
            Strategy::Shadow,
            Strategy::Bluegreen,
        ]
        .into_iter()
        .find(|s| s.to_string() == text)
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Strategy::Canary => "canary",
            Strategy::Ab => "ab",
            Strategy::Shadow => "shadow",
            Strategy::Bluegreen => "bluegreen",
        })
    }
}

/// What a failed analysis does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    Rollback,
    Pause,
}

/// How far the candidate may be worse than the baseline before a check fails.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tolerances {
    /// Largest increase of the error rate (0.01: one percentage point).
    #[serde(with = "crate::float")]
    pub errors: f64,
    /// Largest drop of live accuracy from feedback.
    #[serde(with = "crate::float")]
    pub accuracy: f64,
    /// Largest increase of the share of requests slower than the baseline's p50.
    #[serde(with = "crate::float")]
    pub latency_p50: f64,
    /// Largest increase of the share of requests slower than the baseline's p99.
    #[serde(with = "crate::float")]
    pub latency_p99: f64,
    /// Largest shift of any class's share of predictions.
    #[serde(with = "crate::float")]
    pub predictions: f64,
    /// Largest share of rows on which a shadow candidate disagrees with the answer given.
    #[serde(with = "crate::float")]
    pub disagreement: f64,
}

impl Default for Tolerances {
    fn default() -> Self {
        Self {
            errors: 0.01,
            accuracy: 0.02,
            latency_p50: 0.10,
            latency_p99: 0.01,
            predictions: 0.10,
            disagreement: 0.05,
        }
    }
}

/// A rollout's plan and thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RolloutSpec {
    pub strategy: Strategy,
    /// Chance of a wrong decision over the whole rollout, shared evenly by the checks.
    #[serde(with = "crate::float")]
    pub error_rate: f64,
    pub on_failure: OnFailure,
    /// Canary: the candidate's weight at each step, in percent, ending at 100.
    pub steps: Vec<u32>,
    /// Least time a step lasts before its analysis may pass it.
    #[serde(with = "text_duration")]
    pub step_duration: Duration,
    /// Least requests the candidate serves in a step before its analysis may pass it.
    pub step_samples: u64,
    /// A step still inconclusive this long after it began pauses for the operator.
    #[serde(with = "text_duration")]
    pub step_deadline: Duration,
    /// Least feedback labels on each side before accuracy is compared.
    pub min_feedback: u64,
    /// Whether a step must see feedback to pass (otherwise accuracy is skipped without any).
    pub require_feedback: bool,
    /// After the candidate takes all traffic, how long it is still analysed and rolled
    /// back at once if it degrades.
    #[serde(with = "text_duration")]
    pub guard: Duration,
    /// A/B: the candidate's weight in percent.
    pub ab_weight: u32,
    /// A/B and shadow: how long before an undecided comparison ends with no winner.
    #[serde(with = "text_duration")]
    pub max_duration: Duration,
    /// A/B and shadow: a winner is reported and held for the operator to promote.
    pub manual_gate: bool,
    pub tolerances: Tolerances,
}

impl Default for RolloutSpec {
    fn default() -> Self {
        Self {
            strategy: Strategy::Canary,
            error_rate: 0.05,
            on_failure: OnFailure::Rollback,
            steps: vec![5, 25, 50, 100],
            step_duration: Duration::from_secs(60),
            step_samples: 500,
            step_deadline: Duration::from_secs(15 * 60),
            min_feedback: 200,
            require_feedback: false,
            guard: Duration::from_secs(5 * 60),
            ab_weight: 50,
            max_duration: Duration::from_secs(60 * 60),
            manual_gate: false,
            tolerances: Tolerances::default(),
        }
    }
}

impl RolloutSpec {
    /// Parses a spec from TOML and checks it.
    pub fn parse(text: &str) -> Result<Self, String> {
        let spec: Self = toml::from_str(text).map_err(|e| e.to_string().trim().to_string())?;
        spec.validate()?;
        Ok(spec)
    }

    /// Checks every field is usable: a spec may come from any operator client.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.error_rate > 0.0 && self.error_rate <= 0.5) {
            return Err(format!(
                "error_rate = {}: must be above 0 and at most 0.5",
                self.error_rate
            ));
        }
        if self.steps.is_empty() || self.steps.len() > 20 {
            return Err("steps: give 1 to 20 weights".into());
        }
        if self.steps.windows(2).any(|w| w[0] >= w[1]) || self.steps[0] == 0 {
            return Err(format!(
                "steps = {:?}: weights must rise and start above 0",
                self.steps
            ));
        }
        if self.steps.last() != Some(&100) {
            return Err(format!(
                "steps = {:?}: the last step must be 100",
                self.steps
            ));
        }
        if !(1..=99).contains(&self.ab_weight) {
            return Err(format!("ab_weight = {}: must be 1 to 99", self.ab_weight));
        }
        if self.step_deadline < self.step_duration {
            return Err("step_deadline must be at least step_duration".into());
        }
        let t = &self.tolerances;
        for (name, value) in [
            ("errors", t.errors),
            ("accuracy", t.accuracy),
            ("latency_p50", t.latency_p50),
            ("latency_p99", t.latency_p99),
            ("predictions", t.predictions),
            ("disagreement", t.disagreement),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(format!("tolerances.{name} = {value}: must be 0 to 1"));
            }
        }
        Ok(())
    }
}

/// Durations as text (`"30s"`, `"5m"`) in TOML and JSON, for `#[serde(with)]`.
pub mod text_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*value).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text)
            .map_err(|e| serde::de::Error::custom(format!("{text:?} is not a duration: {e}")))
    }
}

/// Where a rollout is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// At step `Rollout::step`, analysing.
    Running,
    /// Stopped at its step's weights until the operator resumes, promotes or aborts it.
    Paused { reason: String },
    /// A winner is reported; the operator promotes or aborts.
    Held { reason: String },
    /// The candidate takes all traffic and is still watched.
    Guard,
    /// The candidate is production.
    Succeeded,
    /// Traffic went back to the baseline.
    RolledBack { reason: String },
}

impl Phase {
    /// Whether the rollout is over.
    pub fn is_final(&self) -> bool {
        matches!(self, Phase::Succeeded | Phase::RolledBack { .. })
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Phase::Running => f.write_str("running"),
            Phase::Paused { reason } => write!(f, "paused: {reason}"),
            Phase::Held { reason } => write!(f, "held: {reason}"),
            Phase::Guard => f.write_str("guard"),
            Phase::Succeeded => f.write_str("succeeded"),
            Phase::RolledBack { reason } => write!(f, "rolled back: {reason}"),
        }
    }
}

/// A rollout as the coordinator persists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rollout {
    pub id: u64,
    pub model: String,
    pub baseline: u32,
    pub candidate: u32,
    pub spec: RolloutSpec,
    pub phase: Phase,
    /// Canary: the index of the current weight step; other strategies: 0 before the
    /// candidate takes traffic, 1 after.
    pub step: usize,
    /// Coordinator Unix milliseconds when the current step or phase began.
    pub since_ms: u64,
    pub started_ms: u64,
    pub updated_ms: u64,
}

/// The weights a rollout puts on its deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Weights {
    pub baseline: u32,
    pub candidate: u32,
    /// The candidate gets copies of requests instead of a share.
    pub shadow: bool,
}

/// What a check concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Within tolerance (or, for a winner check, the candidate is better).
    Pass,
    /// Beyond tolerance (or, for a winner check, the baseline is better).
    Fail,
    /// Too few samples, or an interval still straddling the tolerance.
    Inconclusive,
    /// Not applicable (no feedback, a regressor's classes).
    Skipped,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Inconclusive => "inconclusive",
            Verdict::Skipped => "skipped",
        })
    }
}

/// One comparison of candidate and baseline, with its numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// What was compared, e.g. `error rate`.
    pub metric: String,
    /// The test and its error rate.
    pub test: String,
    pub candidate_n: u64,
    #[serde(with = "crate::float")]
    pub candidate_value: f64,
    pub baseline_n: u64,
    #[serde(with = "crate::float")]
    pub baseline_value: f64,
    /// Always-valid interval of candidate minus baseline (absent with too few samples).
    #[serde(default, with = "crate::float::option")]
    pub low: Option<f64>,
    #[serde(default, with = "crate::float::option")]
    pub high: Option<f64>,
    #[serde(with = "crate::float")]
    pub tolerance: f64,
    pub verdict: Verdict,
}

/// What a rollout did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Action {
    Started,
    /// Moved to canary step `step` (candidate weight `weight`).
    Advanced {
        step: usize,
        weight: u32,
    },
    Paused,
    Held,
    Resumed,
    /// The candidate took all traffic; the guard window began.
    Promoted,
    Succeeded,
    RolledBack,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Started => f.write_str("started"),
            Action::Advanced { step, weight } => write!(f, "step {} ({weight}%)", step + 1),
            Action::Paused => f.write_str("paused"),
            Action::Held => f.write_str("held"),
            Action::Resumed => f.write_str("resumed"),
            Action::Promoted => f.write_str("promoted"),
            Action::Succeeded => f.write_str("succeeded"),
            Action::RolledBack => f.write_str("rolled back"),
        }
    }
}

/// A decision with its reason and the analysis behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub at_ms: u64,
    pub action: Action,
    pub reason: String,
    pub checks: Vec<Check>,
}

/// An operator's command to a running rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    Pause,
    Resume,
    /// Give the candidate all traffic now (a guard window follows).
    Promote,
    /// Put all traffic back on the baseline.
    Abort,
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Command::Pause => "pause",
            Command::Resume => "resume",
            Command::Promote => "promote",
            Command::Abort => "abort",
        })
    }
}

/// A rollout as operators see it: its state, weights, latest analysis and decisions, newest
/// last.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutStatus {
    pub rollout: Rollout,
    pub weights: Weights,
    /// The latest analysis of a running rollout, whether or not it decided anything.
    pub analysis: Vec<Check>,
    pub decisions: Vec<Decision>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_spec_is_the_defaults() {
        let text = include_str!("../../config/rollout.example.toml");
        assert_eq!(
            RolloutSpec::parse(text).expect("example"),
            RolloutSpec::default()
        );
    }

    #[test]
    fn specs_parse_with_defaults_and_bad_ones_say_why() {
        let spec = RolloutSpec::parse(
            "strategy = \"ab\"\nstep_duration = \"10s\"\n[tolerances]\nerrors = 0.02\n",
        )
        .expect("spec");
        assert_eq!(spec.strategy, Strategy::Ab);
        assert_eq!(spec.step_duration, Duration::from_secs(10));
        assert_eq!(spec.tolerances.errors, 0.02);
        assert_eq!(spec.steps, [5, 25, 50, 100]);
        for (text, says) in [
            ("steps = [5, 50]", "last step must be 100"),
            ("steps = [50, 25, 100]", "must rise"),
            ("error_rate = 0", "error_rate"),
            ("step_duration = \"soon\"", "not a duration"),
            ("colour = 1", "unknown field"),
            ("ab_weight = 100", "ab_weight"),
        ] {
            let e = RolloutSpec::parse(text).expect_err(text);
            assert!(e.contains(says), "{text}: {e}");
        }
    }
}
