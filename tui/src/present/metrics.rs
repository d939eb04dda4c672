//! Metrics as listings show and rank them, through `drover_ml::metric`, the one catalogue of
//! directions: each run's headline score, `--where` expressions and `--sort`.

use drover_ml::metric;
use drover_protocol::run::{Metrics, RunSummary};

/// The headline metric of a run or version as the CLI prints it: `accuracy 0.9120`.
pub fn score(metrics: &Metrics) -> String {
    metric::headline(metrics).map_or_else(
        || "-".into(),
        |(name, value)| format!("{name} {}", metric::display(name, value)),
    )
}

/// The headline metric, short, for the console's narrow columns: `acc 0.912`.
pub fn short_score(metrics: &Metrics) -> String {
    match metric::headline(metrics) {
        Some(("accuracy", v)) => format!("acc {v:.3}"),
        Some((name, v)) => format!("{name} {v:.3}"),
        None => "-".into(),
    }
}

/// The headline metric's value alone, three decimals.
pub fn value(metrics: &Metrics) -> String {
    metric::headline(metrics).map_or_else(|| "-".into(), |(_, v)| format!("{v:.3}"))
}

/// Checks that `name` is a metric drover measures or one of `runs` has (logged through the
/// MLflow API, say); the error lists the known ones.
pub fn check_known(name: &str, runs: &[RunSummary]) -> Result<(), String> {
    let mut known: Vec<&str> = metric::CATALOGUE.iter().map(|m| m.name).collect();
    for run in runs {
        for key in run.metrics.keys() {
            if !known.contains(&key.as_str()) {
                known.push(key);
            }
        }
    }
    if known.contains(&name) {
        return Ok(());
    }
    Err(format!(
        "unknown metric {name:?}; known: {}",
        known.join(", ")
    ))
}

/// `metric op value`, e.g. `accuracy>=0.8`.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricFilter {
    pub metric: String,
    pub op: String,
    pub value: f64,
}

impl std::str::FromStr for MetricFilter {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let at = text
            .find(['<', '>', '='])
            .ok_or_else(|| format!("{text:?}: expected METRIC OP VALUE, e.g. accuracy>0.8"))?;
        let (metric, rest) = text.split_at(at);
        let op_len = if rest.starts_with(">=") || rest.starts_with("<=") {
            2
        } else {
            1
        };
        let (op, value) = rest.split_at(op_len);
        let value = value
            .trim()
            .parse()
            .map_err(|_| format!("{text:?}: {value:?} is not a number"))?;
        Ok(Self {
            metric: metric.trim().to_string(),
            op: op.to_string(),
            value,
        })
    }
}

impl MetricFilter {
    /// Whether a run's test metrics satisfy the expression (runs without the metric do not).
    pub fn matches(&self, run: &RunSummary) -> bool {
        let Some(v) = run.metrics.get(&self.metric).copied() else {
            return false;
        };
        match self.op.as_str() {
            ">" => v > self.value,
            ">=" => v >= self.value,
            "<" => v < self.value,
            "<=" => v <= self.value,
            _ => (v - self.value).abs() < 1e-12,
        }
    }
}

/// Sorts runs by a metric, best first (lower first for losses and errors).
pub fn sort_by_metric(runs: &mut [RunSummary], metric: &str) {
    runs.sort_by(|a, b| {
        metric::rank(
            metric,
            a.metrics.get(metric).copied(),
            b.metrics.get(metric).copied(),
        )
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_and_match() {
        let f: MetricFilter = "accuracy>=0.8".parse().expect("parses");
        assert_eq!(
            (f.metric.as_str(), f.op.as_str(), f.value),
            ("accuracy", ">=", 0.8)
        );
        assert!("accuracy".parse::<MetricFilter>().is_err());
        assert!("accuracy>high".parse::<MetricFilter>().is_err());
    }
}
