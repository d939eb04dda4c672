//! Training specs: the TOML an operator writes (`drover train SPEC.toml`), validated before
//! anything is queued. Every field is documented in `config/train.example.toml`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::data::DatasetRef;

/// What is learnt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    Classification,
    Regression,
}

/// The learning algorithms drover trains with linfa.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    LogisticRegression,
    DecisionTree,
    GaussianNb,
    RandomForest,
    LinearRegression,
    Ridge,
    Lasso,
}

impl Algorithm {
    /// The task the algorithm solves.
    pub fn task(self) -> Task {
        match self {
            Algorithm::LogisticRegression
            | Algorithm::DecisionTree
            | Algorithm::GaussianNb
            | Algorithm::RandomForest => Task::Classification,
            Algorithm::LinearRegression | Algorithm::Ridge | Algorithm::Lasso => Task::Regression,
        }
    }

    /// Hyperparameters it accepts, with their kind and the values allowed.
    pub fn params(self) -> &'static [Hyperparameter] {
        use Allowed::{Choices, Range};
        use ParamKind::{Float, Int, Text};
        const fn p(name: &'static str, kind: ParamKind, allowed: Allowed) -> Hyperparameter {
            Hyperparameter {
                name,
                kind,
                allowed,
            }
        }
        const ALPHA: Hyperparameter = p("alpha", Float, Range(0.0, 1e6));
        const LEAF: Hyperparameter = p("min_samples_leaf", Int, Range(1.0, 1e6));
        const DEPTH: Hyperparameter = p("max_depth", Int, Range(1.0, 64.0));
        const LOGISTIC: &[Hyperparameter] = &[
            ALPHA,
            p("max_iterations", Int, Range(1.0, 10_000.0)),
            p("tolerance", Float, Range(1e-12, 1.0)),
        ];
        const TREE: &[Hyperparameter] = &[
            DEPTH,
            p("min_samples_split", Int, Range(2.0, 1e6)),
            LEAF,
            p("split_quality", Text, Choices(&["gini", "entropy"])),
        ];
        const NB: &[Hyperparameter] = &[p("var_smoothing", Float, Range(0.0, 1.0))];
        const FOREST: &[Hyperparameter] = &[
            p("n_trees", Int, Range(1.0, 1000.0)),
            DEPTH,
            LEAF,
            p("feature_fraction", Float, Range(1e-6, 1.0)),
        ];
        const PENALISED: &[Hyperparameter] =
            &[ALPHA, p("max_iterations", Int, Range(1.0, 100_000.0))];
        match self {
            Algorithm::LogisticRegression => LOGISTIC,
            Algorithm::DecisionTree => TREE,
            Algorithm::GaussianNb => NB,
            Algorithm::RandomForest => FOREST,
            Algorithm::LinearRegression => &[],
            Algorithm::Ridge | Algorithm::Lasso => PENALISED,
        }
    }
}

/// A hyperparameter an algorithm accepts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hyperparameter {
    pub name: &'static str,
    pub kind: ParamKind,
    pub allowed: Allowed,
}

/// The values a hyperparameter may take; checked when a spec is submitted, so that no job can
/// ask an agent for unbounded work.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Allowed {
    /// From the first to the second, both included.
    Range(f64, f64),
    /// One of these words.
    Choices(&'static [&'static str]),
}

impl Hyperparameter {
    /// Checks one value: its type and its range.
    fn check(&self, value: &ParamValue) -> Result<(), String> {
        let name = self.name;
        if !value.fits(self.kind) {
            return Err(format!(
                "search.params.{name}: {value} is not a {:?} value",
                self.kind
            )
            .to_lowercase());
        }
        match (self.allowed, value.as_f64(), value) {
            (Allowed::Range(low, high), Some(v), _) if !(low..=high).contains(&v) => Err(format!(
                "search.params.{name}: {value} is outside the allowed range {low} to {high}"
            )),
            (Allowed::Choices(choices), _, ParamValue::Text(text))
                if !choices.contains(&text.as_str()) =>
            {
                Err(format!(
                    "search.params.{name}: {text:?} is not one of {}",
                    choices.join(", ")
                ))
            }
            _ => Ok(()),
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Algorithm::LogisticRegression => "logistic_regression",
            Algorithm::DecisionTree => "decision_tree",
            Algorithm::GaussianNb => "gaussian_nb",
            Algorithm::RandomForest => "random_forest",
            Algorithm::LinearRegression => "linear_regression",
            Algorithm::Ridge => "ridge",
            Algorithm::Lasso => "lasso",
        })
    }
}

/// The type a hyperparameter takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    Float,
    Int,
    Text,
}

/// One hyperparameter value. Written plainly (`0.1`, `4`, `"gini"`) in TOML and JSON; tagged
/// on the binary wire, whose decoder cannot guess a type.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    Int(i64),
    Float(f64),
    Text(String),
}

#[derive(Serialize, Deserialize)]
enum TaggedValue {
    Int(i64),
    Float(f64),
    Text(String),
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum PlainValue {
    Int(i64),
    Float(crate::float::Float),
    Text(String),
}

impl Serialize for ParamValue {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match (self, serializer.is_human_readable()) {
            (ParamValue::Int(v), true) => PlainValue::Int(*v).serialize(serializer),
            (ParamValue::Float(v), true) => {
                PlainValue::Float(crate::float::Float(*v)).serialize(serializer)
            }
            (ParamValue::Text(v), true) => PlainValue::Text(v.clone()).serialize(serializer),
            (ParamValue::Int(v), false) => TaggedValue::Int(*v).serialize(serializer),
            (ParamValue::Float(v), false) => TaggedValue::Float(*v).serialize(serializer),
            (ParamValue::Text(v), false) => TaggedValue::Text(v.clone()).serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for ParamValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            Ok(match PlainValue::deserialize(deserializer)? {
                PlainValue::Int(v) => ParamValue::Int(v),
                PlainValue::Float(v) => ParamValue::Float(v.0),
                PlainValue::Text(v) => ParamValue::Text(v),
            })
        } else {
            Ok(match TaggedValue::deserialize(deserializer)? {
                TaggedValue::Int(v) => ParamValue::Int(v),
                TaggedValue::Float(v) => ParamValue::Float(v),
                TaggedValue::Text(v) => ParamValue::Text(v),
            })
        }
    }
}

impl ParamValue {
    /// The value as a float (integers widen).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            ParamValue::Int(v) => Some(*v as f64),
            ParamValue::Float(v) => Some(*v),
            ParamValue::Text(_) => None,
        }
    }

    fn fits(&self, kind: ParamKind) -> bool {
        matches!(
            (self, kind),
            (ParamValue::Int(_), ParamKind::Int | ParamKind::Float)
                | (ParamValue::Float(_), ParamKind::Float)
                | (ParamValue::Text(_), ParamKind::Text)
        )
    }
}

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::Int(v) => write!(f, "{v}"),
            ParamValue::Float(v) => write!(f, "{v}"),
            ParamValue::Text(v) => f.write_str(v),
        }
    }
}

/// One combination of hyperparameters.
pub type Params = BTreeMap<String, ParamValue>;

/// How a hyperparameter search chooses its candidates (`search.strategy` in a spec; not to be
/// confused with a rollout's strategy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchMethod {
    /// Every combination of the listed values.
    #[default]
    Grid,
    /// `trials` combinations drawn at random (seeded) from the listed values.
    Random,
}

/// Hyperparameter search.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Search {
    /// Written `strategy` in specs and on the wire.
    #[serde(default, rename = "strategy")]
    pub method: SearchMethod,
    /// Most trials to run (required for random search; caps a grid).
    pub trials: Option<u32>,
    /// Candidate values per hyperparameter.
    #[serde(default)]
    pub params: BTreeMap<String, Vec<ParamValue>>,
}

/// Validation gates a run must pass to become a model version.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gates {
    /// Lowest acceptable value of each metric on the held-out test rows.
    #[serde(default, with = "crate::float::map")]
    pub min: BTreeMap<String, f64>,
    /// Highest acceptable value of each metric on the held-out test rows.
    #[serde(default, with = "crate::float::map")]
    pub max: BTreeMap<String, f64>,
    /// A sensitive column (e.g. `gender`): the fairness metrics `demographic_parity_diff` and
    /// `equal_opportunity_diff` are measured across its groups and may be gated with `max`.
    pub sensitive: Option<String>,
    /// No regression against the model's production version on the same held-out rows.
    pub no_regression: Option<NoRegression>,
}

/// The candidate may trail production on `metric` by at most `tolerance`; a paired exact
/// test (McNemar for classification, a sign test on absolute errors for regression) is
/// reported with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoRegression {
    pub metric: String,
    #[serde(default, with = "crate::float")]
    pub tolerance: f64,
}

/// A training job as written by an operator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSpec {
    pub experiment: String,
    pub model: String,
    /// `name`, `name@latest` or `name@N`.
    pub dataset: String,
    pub target: String,
    pub task: Task,
    pub algorithm: Algorithm,
    #[serde(default)]
    pub seed: u64,
    #[serde(default = "default_folds")]
    pub cv_folds: u32,
    #[serde(default = "default_test_fraction", with = "crate::float")]
    pub test_fraction: f64,
    /// Feature columns; every column but the target (and `exclude`) when absent.
    pub features: Option<Vec<String>>,
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Free-form labels recorded with every run, e.g. `{ team = "growth" }`.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub search: Search,
    #[serde(default)]
    pub gates: Gates,
    /// Cron pattern (UTC, five fields) on which the run repeats, e.g. `0 3 * * *`.
    pub schedule: Option<String>,
    /// Queue the run again whenever a new version of its dataset is added.
    #[serde(default)]
    pub retrain_on_new_data: bool,
}

fn default_folds() -> u32 {
    5
}

fn default_test_fraction() -> f64 {
    0.2
}

/// Most trials one search may run.
pub const MAX_TRIALS: usize = 1000;
/// Most combinations a search may list (random search draws from them).
pub const MAX_GRID: usize = 100_000;

impl TrainSpec {
    /// Reads a spec from TOML text and checks its shape (see [`TrainSpec::validate`]).
    pub fn from_toml(text: &str) -> Result<Self, String> {
        let spec: TrainSpec = toml::from_str(text).map_err(|e| e.to_string().trim().to_string())?;
        spec.validate()?;
        Ok(spec)
    }

    /// True when submitting the spec also sets up a schedule or trigger.
    pub fn repeats(&self) -> bool {
        self.schedule.is_some() || self.retrain_on_new_data
    }

    /// The spec of one run of a repeating spec (schedule and trigger removed).
    pub fn once(&self) -> TrainSpec {
        TrainSpec {
            schedule: None,
            retrain_on_new_data: false,
            ..self.clone()
        }
    }

    /// The dataset reference, parsed.
    pub fn dataset_ref(&self) -> Result<DatasetRef, String> {
        self.dataset.parse()
    }

    /// Combinations in the search's grid, saturating.
    pub fn grid_size(&self) -> usize {
        self.search
            .params
            .values()
            .fold(1usize, |n, values| n.saturating_mul(values.len()))
    }

    /// The search runs at most [`MAX_TRIALS`] trials, drawn from at most [`MAX_GRID`]
    /// combinations; a grid larger than the limit must be capped by `search.trials`.
    fn validate_search_size(&self) -> Result<(), String> {
        let grid = self.grid_size();
        if grid > MAX_GRID {
            return Err(format!(
                "the search lists {grid} combinations of hyperparameters, more than the limit of {MAX_GRID}"
            ));
        }
        match self.search.trials {
            Some(0) => Err("search.trials must be at least 1".into()),
            Some(t) if t as usize > MAX_TRIALS => Err(format!(
                "search.trials is {t}, more than the limit of {MAX_TRIALS}"
            )),
            None if grid > MAX_TRIALS => Err(format!(
                "the grid has {grid} combinations, more than the limit of {MAX_TRIALS} trials; list fewer values or set search.trials to draw at most {MAX_TRIALS}"
            )),
            _ => Ok(()),
        }
    }

    /// Checks the spec's shape: names, folds, split, hyperparameters and search size. The
    /// metric names its gates use are checked against the catalogue by
    /// `drover_ml::gates::validate`, which callers use to check a whole spec.
    pub fn validate(&self) -> Result<(), String> {
        crate::data::version::validate_name(&self.model).map_err(|e| format!("model: {e}"))?;
        crate::data::version::validate_name(&self.experiment)
            .map_err(|e| format!("experiment: {e}"))?;
        self.dataset_ref().map_err(|e| format!("dataset: {e}"))?;
        if self.algorithm.task() != self.task {
            return Err(format!(
                "algorithm {} does {:?}, but the task is {:?}",
                self.algorithm,
                self.algorithm.task(),
                self.task
            )
            .to_lowercase());
        }
        if !(2..=20).contains(&self.cv_folds) {
            return Err(format!(
                "cv_folds must be between 2 and 20, not {}",
                self.cv_folds
            ));
        }
        if !(self.test_fraction > 0.0 && self.test_fraction < 0.9) {
            return Err(format!(
                "test_fraction must be above 0 and below 0.9, not {}",
                self.test_fraction
            ));
        }
        let known = self.algorithm.params();
        for (name, values) in &self.search.params {
            let Some(param) = known.iter().find(|p| p.name == name) else {
                let names: Vec<&str> = known.iter().map(|p| p.name).collect();
                return Err(format!(
                    "{} has no hyperparameter {name:?} (it has: {})",
                    self.algorithm,
                    names.join(", ")
                ));
            };
            if values.is_empty() {
                return Err(format!("search.params.{name} lists no values"));
            }
            values.iter().try_for_each(|v| param.check(v))?;
        }
        self.validate_search_size()?;
        if self.search.method == SearchMethod::Random && self.search.trials.is_none() {
            return Err("random search needs search.trials".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
experiment = "churn"
model = "churn"
dataset = "churn@latest"
target = "churned"
task = "classification"
algorithm = "logistic_regression"
seed = 7
cv_folds = 5
test_fraction = 0.2
[search]
strategy = "grid"
params = { alpha = [0.0, 0.1, 1.0] }
[gates]
min = { accuracy = 0.6 }
"#;

    #[test]
    fn the_minimal_spec_parses() {
        let spec = TrainSpec::from_toml(MINIMAL).expect("valid");
        assert_eq!(spec.algorithm, Algorithm::LogisticRegression);
        assert_eq!(spec.search.params["alpha"].len(), 3);
        assert_eq!(spec.gates.min["accuracy"], 0.6);
    }

    #[test]
    fn the_example_spec_parses() {
        TrainSpec::from_toml(include_str!("../../config/train.example.toml"))
            .expect("example is valid");
    }

    #[test]
    fn specs_cross_the_binary_wire() {
        let spec =
            TrainSpec::from_toml(&MINIMAL.replace("alpha = [0.0, 0.1, 1.0]", "alpha = [0.5, 2]"))
                .expect("valid");
        let frame = crate::frame::encode(&spec).expect("encodes");
        let mut buf = frame.clone();
        let back: TrainSpec = crate::frame::decode(&mut buf)
            .expect("decodes")
            .expect("whole frame");
        assert_eq!(back, spec);
        assert_eq!(
            back.search.params["alpha"],
            vec![ParamValue::Float(0.5), ParamValue::Int(2)]
        );
    }

    #[test]
    fn mistakes_are_named() {
        let check = |from: &str, to: &str, expect: &str| {
            let err = TrainSpec::from_toml(&MINIMAL.replace(from, to)).expect_err(expect);
            assert!(err.contains(expect), "{err}");
        };
        check("logistic_regression", "xgboost", "xgboost");
        check("alpha =", "gamma =", "no hyperparameter \"gamma\"");
        check("cv_folds = 5", "cv_folds = 1", "cv_folds");
        check("seed = 7", "seed = 7\nsede = 8", "sede");
        check("[0.0, 0.1, 1.0]", "[\"high\"]", "not a float");
        check("churn@latest", "churn@x", "dataset");
    }

    #[test]
    fn hyperparameters_and_search_size_are_bounded_with_the_limit_named() {
        let forest = MINIMAL.replace("logistic_regression", "random_forest");
        let check = |spec: &str, from: &str, to: &str, expect: &str| {
            let err = TrainSpec::from_toml(&spec.replace(from, to)).expect_err(expect);
            assert!(err.contains(expect), "{err}");
        };
        let alpha = "alpha = [0.0, 0.1, 1.0]";
        check(&forest, alpha, "n_trees = [1000000]", "range 1 to 1000");
        check(&forest, alpha, "max_depth = [100000]", "range 1 to 64");
        check(MINIMAL, alpha, "alpha = [-5.0]", "range 0 to 1000000");
        check(MINIMAL, alpha, "max_iterations = [0]", "range 1 to 10000");
        let dt = MINIMAL.replace("logistic_regression", "decision_tree");
        check(
            &dt,
            alpha,
            "split_quality = [\"best\"]",
            "not one of gini, entropy",
        );
        let big: Vec<String> = (0..100).map(|i| format!("{i}.0")).collect();
        let grid = format!(
            "alpha = [{}], max_iterations = [{}]",
            big.join(","),
            (1..=100)
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(",")
        );
        check(
            MINIMAL,
            alpha,
            &grid,
            "10000 combinations, more than the limit of 1000 trials",
        );
        let capped = MINIMAL
            .replace(alpha, &grid)
            .replace("strategy = \"grid\"", "strategy = \"grid\"\ntrials = 50");
        TrainSpec::from_toml(&capped).expect("a capped grid is fine");
        check(
            &capped,
            "trials = 50",
            "trials = 5000",
            "more than the limit of 1000",
        );
        let huge = format!(
            "alpha = [{}], max_iterations = [{}], tolerance = [{}]",
            big.join(","),
            (1..=100)
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(","),
            big.iter().map(|_| "0.001").collect::<Vec<_>>().join(",")
        );
        check(&capped, &grid, &huge, "more than the limit of 100000");
    }
}
