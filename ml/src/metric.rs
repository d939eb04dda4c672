//! The metric catalogue: every metric drover measures, with its direction and how it is shown.
//! Training, gates, the CLI and the console all rank and print metrics through this file, so
//! "which metric ranks runs, and which way" is decided here only.

use std::cmp::Ordering;

use drover_protocol::run::Metrics;
use drover_protocol::spec::Task;

/// Which way a metric improves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    HigherIsBetter,
    LowerIsBetter,
}

/// What a metric measures, which decides the specs that may gate on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Classification,
    Regression,
    /// Measured across the groups of `gates.sensitive` (classification only).
    Fairness,
}

/// One metric of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    pub name: &'static str,
    pub family: Family,
    pub direction: Direction,
    /// Decimal places when shown.
    pub decimals: usize,
}

const fn metric(name: &'static str, family: Family, direction: Direction) -> Metric {
    Metric {
        name,
        family,
        direction,
        decimals: 4,
    }
}

use Direction::{HigherIsBetter, LowerIsBetter};
use Family::{Classification, Fairness, Regression};

/// Every metric drover measures, in the order listings show them.
pub const CATALOGUE: &[Metric] = &[
    metric("accuracy", Classification, HigherIsBetter),
    metric("precision", Classification, HigherIsBetter),
    metric("recall", Classification, HigherIsBetter),
    metric("f1", Classification, HigherIsBetter),
    metric("roc_auc", Classification, HigherIsBetter),
    metric("log_loss", Classification, LowerIsBetter),
    metric("rmse", Regression, LowerIsBetter),
    metric("mae", Regression, LowerIsBetter),
    metric("r2", Regression, HigherIsBetter),
    metric("demographic_parity_diff", Fairness, LowerIsBetter),
    metric("equal_opportunity_diff", Fairness, LowerIsBetter),
];

/// The catalogue entry of `name`, if drover measures it.
pub fn find(name: &str) -> Option<&'static Metric> {
    CATALOGUE.iter().find(|m| m.name == name)
}

/// The direction of `name`. Metrics outside the catalogue (logged through the MLflow API,
/// say) count as higher-is-better; `baseline_X` takes the direction of `X`.
pub fn direction(name: &str) -> Direction {
    let base = name.strip_prefix("baseline_").unwrap_or(name);
    find(base).map_or(HigherIsBetter, |m| m.direction)
}

/// True when a larger value of `name` is better.
pub fn higher_is_better(name: &str) -> bool {
    direction(name) == HigherIsBetter
}

/// The metric that picks the best trial and ranks a task's runs and versions.
pub fn selection(task: Task) -> &'static str {
    match task {
        Task::Classification => "accuracy",
        Task::Regression => "rmse",
    }
}

/// The metrics a task reports, in catalogue order (fairness ones excluded).
pub fn of_task(task: Task) -> impl Iterator<Item = &'static str> {
    let family = match task {
        Task::Classification => Classification,
        Task::Regression => Regression,
    };
    CATALOGUE
        .iter()
        .filter(move |m| m.family == family)
        .map(|m| m.name)
}

/// The fairness metrics.
pub fn fairness() -> impl Iterator<Item = &'static str> {
    CATALOGUE
        .iter()
        .filter(|m| m.family == Fairness)
        .map(|m| m.name)
}

/// `value` of `name` turned so that larger is better: what ranking sorts by. A missing or
/// NaN value ranks below every number.
pub fn merit(name: &str, value: Option<f64>) -> f64 {
    match value {
        Some(v) if !v.is_nan() => match direction(name) {
            HigherIsBetter => v,
            LowerIsBetter => -v,
        },
        _ => f64::NEG_INFINITY,
    }
}

/// Orders `a` before `b` when `a` is better on `name`.
pub fn rank(name: &str, a: Option<f64>, b: Option<f64>) -> Ordering {
    merit(name, b).total_cmp(&merit(name, a))
}

/// The selection metric of a run's metrics, whichever task it was: the first of the tasks'
/// selection metrics present. For listings that show runs of every task side by side.
pub fn headline(metrics: &Metrics) -> Option<(&'static str, f64)> {
    [Task::Classification, Task::Regression]
        .into_iter()
        .map(selection)
        .find_map(|name| metrics.get(name).map(|v| (name, *v)))
}

/// `value` of `name` as listings show it.
pub fn display(name: &str, value: f64) -> String {
    let base = name.strip_prefix("baseline_").unwrap_or(name);
    let decimals = find(base).map_or(4, |m| m.decimals);
    format!("{value:.decimals$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_and_losses_are_lower_is_better() {
        for name in [
            "log_loss",
            "rmse",
            "mae",
            "baseline_rmse",
            "demographic_parity_diff",
        ] {
            assert!(!higher_is_better(name), "{name}");
        }
        for name in [
            "accuracy",
            "r2",
            "roc_auc",
            "baseline_accuracy",
            "custom_metric",
        ] {
            assert!(higher_is_better(name), "{name}");
        }
    }

    #[test]
    fn ranking_puts_the_better_value_first_and_missing_values_last() {
        assert_eq!(rank("rmse", Some(0.1), Some(0.2)), Ordering::Less);
        assert_eq!(rank("accuracy", Some(0.1), Some(0.2)), Ordering::Greater);
        assert_eq!(rank("accuracy", None, Some(0.0)), Ordering::Greater);
        assert_eq!(rank("rmse", Some(f64::NAN), Some(1e9)), Ordering::Greater);
    }

    #[test]
    fn each_task_lists_its_own_metrics_and_selects_one_of_them() {
        for task in [Task::Classification, Task::Regression] {
            assert!(of_task(task).any(|m| m == selection(task)));
        }
        assert_eq!(
            of_task(Task::Regression).collect::<Vec<_>>(),
            ["rmse", "mae", "r2"]
        );
        assert_eq!(fairness().count(), 2);
    }

    #[test]
    fn headline_takes_the_selection_metric_present() {
        let metrics: Metrics = [("rmse".to_string(), 0.5), ("r2".to_string(), 0.9)].into();
        assert_eq!(headline(&metrics), Some(("rmse", 0.5)));
        assert_eq!(display("rmse", 0.5), "0.5000");
    }
}
