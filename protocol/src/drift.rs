//! Drift: the reference profile a model version carries from its training data, the live
//! sketches serving agents bin with its edges, the drift scores the coordinator computes,
//! and alerts.

use serde::{Deserialize, Serialize};

/// Quantile bins per numeric column of a reference profile (fewer when values repeat).
pub const REFERENCE_BINS: usize = 20;
/// Most categories a reference lists per column; the rest share one "other" bin.
pub const REFERENCE_CATEGORIES: usize = 64;
/// Most columns a sketch may carry: a bound on what an agent may send.
pub const MAX_SKETCH_COLUMNS: usize = 1_024;
/// Most bins of one input column in a sketch.
pub const MAX_SKETCH_BINS: usize = REFERENCE_CATEGORIES + 1;
/// Most bins of the predictions' counts: one per class of a classifier.
pub const MAX_PREDICTION_BINS: usize = 10_000;

/// How a column's values fall into bins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Shape {
    /// Bin `i` holds values `v` with `edges[i-1] <= v < edges[i]`: `edges.len() + 1` bins.
    /// `min` and `max` bound the reference values (the outer bins' extent).
    Numeric {
        #[serde(with = "crate::float::vec")]
        edges: Vec<f64>,
        #[serde(with = "crate::float")]
        min: f64,
        #[serde(with = "crate::float")]
        max: f64,
        #[serde(with = "crate::float")]
        mean: f64,
        #[serde(with = "crate::float")]
        std: f64,
    },
    /// One bin per category, in this order. With `other`, the last bin holds every category
    /// the reference saw beyond the most frequent ones (and every live value not listed):
    /// a column of many categories is then no stream of "unseen" values.
    Categorical {
        categories: Vec<String>,
        #[serde(default)]
        other: bool,
    },
}

impl Shape {
    /// How many bins the shape has.
    pub fn bins(&self) -> usize {
        match self {
            Shape::Numeric { edges, .. } => edges.len() + 1,
            Shape::Categorical { categories, other } => categories.len() + usize::from(*other),
        }
    }

    /// Each bin's name: `< e0`, `e0..e1`, ..., `>= en` for numbers, the category for labels.
    pub fn bin_names(&self) -> Vec<String> {
        match self {
            Shape::Numeric { edges, .. } => {
                let mut names = Vec::with_capacity(edges.len() + 1);
                for (i, edge) in edges.iter().enumerate() {
                    names.push(match i {
                        0 => format!("< {edge:.4}"),
                        _ => format!("{:.4}..{edge:.4}", edges[i - 1]),
                    });
                }
                names.push(edges.last().map_or("all".into(), |e| format!(">= {e:.4}")));
                names
            }
            Shape::Categorical { categories, other } => {
                let mut names = categories.clone();
                if *other {
                    names.push("(other)".into());
                }
                names
            }
        }
    }

    /// The bin of a number: `None` for NaN or an infinity.
    pub fn bin_number(edges: &[f64], value: f64) -> Option<usize> {
        value
            .is_finite()
            .then(|| edges.partition_point(|&e| e <= value))
    }
}

/// One column of a reference profile: its bins and the training values' counts in them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnReference {
    pub name: String,
    pub shape: Shape,
    pub counts: Vec<u64>,
    /// Missing values in the training data.
    pub nulls: u64,
}

impl ColumnReference {
    /// Values counted in bins.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// The profile of a model version's training data: every input column in the model's
/// order, and its predictions on held-out rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    pub rows: u64,
    pub columns: Vec<ColumnReference>,
    pub predictions: ColumnReference,
    /// Permutation importance of each input column on the held-out rows, in input order:
    /// how much the model's score drops when the column's values are shuffled.
    #[serde(default, with = "crate::float::vec")]
    pub importance: Vec<f64>,
}

/// Permutation importance a serving agent measured on recent labelled feedback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportanceWindow {
    pub model: String,
    pub version: u32,
    /// Labelled rows it was measured on.
    pub rows: u64,
    /// Accuracy drop per input column, in the reference's order.
    #[serde(with = "crate::float::vec")]
    pub importance: Vec<f64>,
}

/// One input column's importance at training time and on live feedback, and its rank in
/// each (1 is the most important).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportanceRank {
    pub column: String,
    #[serde(with = "crate::float")]
    pub training: f64,
    #[serde(with = "crate::float")]
    pub live: f64,
    pub training_rank: u32,
    pub live_rank: u32,
}

/// One column's live counts in the bins of its reference.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnCounts {
    pub counts: Vec<u64>,
    pub nulls: u64,
    /// NaN or infinite numbers, or categories the reference never saw.
    pub invalid: u64,
}

impl ColumnCounts {
    /// Empty counts for `bins` bins.
    pub fn empty(bins: usize) -> Self {
        Self {
            counts: vec![0; bins],
            ..Self::default()
        }
    }

    /// Values counted in bins.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Every value seen: binned, missing or invalid.
    pub fn seen(&self) -> u64 {
        self.total() + self.nulls + self.invalid
    }

    /// Adds `other`'s counts; false (and nothing added) when their bins differ.
    pub fn merge(&mut self, other: &ColumnCounts) -> bool {
        if other.counts.len() != self.counts.len() {
            return false;
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a = a.saturating_add(*b);
        }
        self.nulls = self.nulls.saturating_add(other.nulls);
        self.invalid = self.invalid.saturating_add(other.invalid);
        true
    }
}

/// What one version's inputs and predictions looked like on one agent over one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SketchWindow {
    pub model: String,
    pub version: u32,
    /// Unix milliseconds, agent clock.
    pub start_ms: u64,
    pub end_ms: u64,
    /// Per input column, in the reference's order.
    pub columns: Vec<ColumnCounts>,
    pub predictions: ColumnCounts,
}

impl SketchWindow {
    /// Whether the sketch stays within the bounds an agent may send.
    pub fn bounded(&self) -> bool {
        self.columns.len() <= MAX_SKETCH_COLUMNS
            && self
                .columns
                .iter()
                .all(|c| c.counts.len() <= MAX_SKETCH_BINS)
            && self.predictions.counts.len() <= MAX_PREDICTION_BINS
    }
}

/// A drift statistic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Population stability index.
    Psi,
    /// Kolmogorov–Smirnov statistic (largest gap between the two cumulative shares).
    Ks,
    /// Jensen–Shannon distance (natural log).
    JensenShannon,
    /// Pearson's chi-squared statistic of the live counts against the reference shares.
    ChiSquared,
    /// Wasserstein-1 distance over the reference's standard deviation.
    Wasserstein,
}

impl Method {
    /// Every method, in the order reports list them.
    pub const ALL: [Method; 5] = [
        Method::Ks,
        Method::Psi,
        Method::Wasserstein,
        Method::JensenShannon,
        Method::ChiSquared,
    ];

    /// The name configs and reports use.
    pub fn name(self) -> &'static str {
        match self {
            Method::Psi => "psi",
            Method::Ks => "ks",
            Method::JensenShannon => "jensen_shannon",
            Method::ChiSquared => "chi_squared",
            Method::Wasserstein => "wasserstein",
        }
    }

    /// Whether the method applies to numbers only.
    pub fn numeric_only(self) -> bool {
        matches!(self, Method::Ks | Method::Wasserstein)
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Method {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Method::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                format!("unknown drift method {s:?}: use ks, psi, wasserstein, jensen_shannon or chi_squared")
            })
    }
}

/// Where a column stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Too few live values to judge.
    Inconclusive,
    Stable,
    /// Beyond its threshold (or nulls or unseen values beyond the reference's).
    Drifted,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Inconclusive => "inconclusive",
            Status::Stable => "stable",
            Status::Drifted => "drifted",
        })
    }
}

/// One column's drift over the live window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnDrift {
    /// The input column's name, or `prediction`.
    pub column: String,
    pub method: Method,
    #[serde(with = "crate::float")]
    pub score: f64,
    /// The score beyond which the column drifted.
    #[serde(with = "crate::float")]
    pub threshold: f64,
    /// Live values the score is computed on.
    pub samples: u64,
    /// Live share of missing values, and the reference's.
    #[serde(with = "crate::float")]
    pub null_share: f64,
    #[serde(with = "crate::float")]
    pub reference_null_share: f64,
    /// Live share of NaN, infinite or unseen values (the reference has none).
    #[serde(with = "crate::float")]
    pub invalid_share: f64,
    pub status: Status,
    /// Why it drifted, in words (empty otherwise).
    pub reason: String,
    /// Each bin's name, and its share of the reference values and of the live ones (the
    /// histograms the console draws side by side).
    #[serde(default)]
    pub bins: Vec<String>,
    #[serde(default, with = "crate::float::vec")]
    pub reference_shares: Vec<f64>,
    #[serde(default, with = "crate::float::vec")]
    pub live_shares: Vec<f64>,
}

/// A model version's drift at one evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftReport {
    pub model: String,
    pub version: u32,
    /// Coordinator Unix milliseconds.
    pub at_ms: u64,
    /// Worst first.
    pub columns: Vec<ColumnDrift>,
    /// Feature importance at training time next to live feedback's, when measured; and the
    /// labelled rows behind the live one.
    #[serde(default)]
    pub importance: Vec<ImportanceRank>,
    #[serde(default)]
    pub importance_rows: u64,
}

/// One column's score at one past evaluation, for sparklines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftPoint {
    pub column: String,
    pub at_ms: u64,
    #[serde(with = "crate::float")]
    pub score: f64,
    #[serde(with = "crate::float")]
    pub threshold: f64,
    pub status: Status,
}

/// What an alert watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    Drift,
    /// Live accuracy below the version's test accuracy by more than the rule allows.
    Accuracy,
    /// p99 latency above the rule's bound.
    Latency,
    ErrorRate,
    AgentLost,
    /// An input column moved by at least the rule's `above` places in the ranking of
    /// feature importance on live feedback, against training.
    Importance,
}

impl std::fmt::Display for AlertKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AlertKind::Drift => "drift",
            AlertKind::Accuracy => "accuracy",
            AlertKind::Latency => "latency",
            AlertKind::ErrorRate => "error_rate",
            AlertKind::AgentLost => "agent_lost",
            AlertKind::Importance => "importance",
        })
    }
}

/// What the coordinator does when an alert fires.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertAction {
    #[default]
    Notify,
    /// Queue the model's training spec on the newest version of its dataset.
    Retrain,
    /// Roll back the model's active rollout, if any.
    Rollback,
}

impl std::fmt::Display for AlertAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AlertAction::Notify => "notify",
            AlertAction::Retrain => "retrain",
            AlertAction::Rollback => "rollback",
        })
    }
}

/// An alert, firing or resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub id: u64,
    pub rule: String,
    pub kind: AlertKind,
    /// The model (or agent, for `agent_lost`) it is about.
    pub subject: String,
    pub version: Option<u32>,
    /// The drifted column, for drift alerts (each column alerts on its own).
    pub column: Option<String>,
    pub action: AlertAction,
    pub firing: bool,
    pub fired_ms: u64,
    pub resolved_ms: Option<u64>,
    /// The value that fired it, its bound, and what it means.
    #[serde(with = "crate::float")]
    pub value: f64,
    #[serde(with = "crate::float")]
    pub bound: f64,
    pub detail: String,
}

impl Alert {
    /// What the alert is about, in one line.
    pub fn line(&self) -> String {
        let version = self.version.map(|v| format!("@{v}")).unwrap_or_default();
        let column = self
            .column
            .as_deref()
            .map(|c| format!(" column {c}"))
            .unwrap_or_default();
        format!(
            "{} {}{version}{column}: {} (rule {}, action {})",
            self.kind, self.subject, self.detail, self.rule, self.action
        )
    }
}
