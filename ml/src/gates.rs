//! Validation gates: which metrics a spec may gate on, and whether a run's test metrics pass.

use drover_protocol::run::Metrics;
use drover_protocol::spec::{Gates, Task, TrainSpec};

use crate::metric;

/// Checks a whole spec: its shape ([`TrainSpec::validate`]) and the metrics its gates name.
pub fn validate(spec: &TrainSpec) -> Result<(), String> {
    spec.validate()?;
    check_metrics(&spec.gates, spec.task)
}

/// Reads a spec from TOML text and checks all of it.
pub fn parse_spec(text: &str) -> Result<TrainSpec, String> {
    let spec = TrainSpec::from_toml(text)?;
    check_metrics(&spec.gates, spec.task)?;
    Ok(spec)
}

/// Gates may name only the metrics the task reports, plus the fairness metrics when a
/// sensitive column is given.
fn check_metrics(gates: &Gates, task: Task) -> Result<(), String> {
    let known: Vec<&str> = metric::of_task(task).collect();
    let is_fairness = |m: &str| metric::fairness().any(|f| f == m);
    let fairness = gates
        .max
        .keys()
        .chain(gates.min.keys())
        .any(|m| is_fairness(m));
    if fairness && gates.sensitive.is_none() {
        return Err(
            "gates: fairness metrics need gates.sensitive, the column whose groups to compare"
                .into(),
        );
    }
    if gates.sensitive.is_some() && task != Task::Classification {
        return Err("gates.sensitive applies to classification".into());
    }
    if let Some(no_regression) = &gates.no_regression
        && !known.contains(&no_regression.metric.as_str())
    {
        return Err(format!(
            "gates.no_regression: unknown metric {:?} (known: {})",
            no_regression.metric,
            known.join(", ")
        ));
    }
    for name in gates.min.keys().chain(gates.max.keys()) {
        if !known.contains(&name.as_str()) && !is_fairness(name) {
            return Err(format!(
                "gates: unknown metric {name:?} (known: {})",
                known.join(", ")
            ));
        }
    }
    Ok(())
}

/// Checks the gates against test metrics; returns each failure with its numbers.
pub fn failures(gates: &Gates, metrics: &Metrics) -> Vec<String> {
    let mut failures = Vec::new();
    if let Some(rule) = &gates.no_regression
        && let (Some(candidate), Some(production)) = (
            metrics.get(&rule.metric),
            metrics.get(&format!("baseline_{}", rule.metric)),
        )
    {
        let regressed = if metric::higher_is_better(&rule.metric) {
            *candidate < production - rule.tolerance
        } else {
            *candidate > production + rule.tolerance
        };
        if regressed {
            let p = metrics.get("paired_p_value").copied().unwrap_or(f64::NAN);
            failures.push(format!(
                "{} {candidate:.4} regresses from production's {production:.4} beyond the tolerance {} (paired exact test p = {p:.4})",
                rule.metric, rule.tolerance
            ));
        }
    }
    for (name, min) in &gates.min {
        match metrics.get(name) {
            Some(v) if v >= min => {}
            Some(v) => failures.push(format!("{name} {v:.4} is below the minimum {min}")),
            None => failures.push(format!("{name} was not measured")),
        }
    }
    for (name, max) in &gates.max {
        match metrics.get(name) {
            Some(v) if v <= max => {}
            Some(v) => failures.push(format!("{name} {v:.4} is above the maximum {max}")),
            None => failures.push(format!("{name} was not measured")),
        }
    }
    failures
}

#[cfg(test)]
mod tests {
    use drover_protocol::spec::NoRegression;

    use super::*;

    const SPEC: &str = r#"
experiment = "churn"
model = "churn"
dataset = "churn@latest"
target = "churned"
task = "classification"
algorithm = "logistic_regression"
[gates]
min = { accuracy = 0.6 }
"#;

    fn metrics(pairs: &[(&str, f64)]) -> Metrics {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn unknown_and_misplaced_metrics_are_named() {
        parse_spec(SPEC).expect("valid");
        let check = |from: &str, to: &str, expect: &str| {
            let err = parse_spec(&SPEC.replace(from, to)).expect_err(expect);
            assert!(err.contains(expect), "{err}");
        };
        check(
            "accuracy = 0.6",
            "acuracy = 0.6",
            "unknown metric \"acuracy\"",
        );
        check("accuracy = 0.6", "rmse = 0.6", "unknown metric \"rmse\"");
        check(
            "min = {",
            "max = { demographic_parity_diff = 0.1 }\nmin = {",
            "gates.sensitive",
        );
        check(
            "min = {",
            "no_regression = { metric = \"r2\" }\nmin = {",
            "gates.no_regression: unknown metric",
        );
    }

    #[test]
    fn minimums_maximums_and_missing_metrics_fail_with_their_numbers() {
        let gates = Gates {
            min: [("accuracy".to_string(), 0.8)].into(),
            max: [("log_loss".to_string(), 0.5), ("f1".to_string(), 1.0)].into(),
            ..Gates::default()
        };
        let failed = failures(&gates, &metrics(&[("accuracy", 0.75), ("log_loss", 0.4)]));
        assert_eq!(
            failed,
            [
                "accuracy 0.7500 is below the minimum 0.8",
                "f1 was not measured"
            ]
        );
        assert!(
            failures(
                &gates,
                &metrics(&[("accuracy", 0.8), ("log_loss", 0.5), ("f1", 0.2)])
            )
            .is_empty()
        );
    }

    #[test]
    fn no_regression_respects_each_metrics_direction_and_tolerance() {
        let gates = |metric: &str| Gates {
            no_regression: Some(NoRegression {
                metric: metric.into(),
                tolerance: 0.01,
            }),
            ..Gates::default()
        };
        let worse_rmse = metrics(&[("rmse", 0.52), ("baseline_rmse", 0.5)]);
        assert_eq!(failures(&gates("rmse"), &worse_rmse).len(), 1);
        let close_rmse = metrics(&[("rmse", 0.505), ("baseline_rmse", 0.5)]);
        assert!(failures(&gates("rmse"), &close_rmse).is_empty());
        let better_accuracy = metrics(&[("accuracy", 0.9), ("baseline_accuracy", 0.8)]);
        assert!(failures(&gates("accuracy"), &better_accuracy).is_empty());
        let no_production = metrics(&[("accuracy", 0.1)]);
        assert!(failures(&gates("accuracy"), &no_production).is_empty());
    }
}
