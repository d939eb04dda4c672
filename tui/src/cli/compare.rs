//! `drover runs compare A B [C..]` and `drover runs reproduce ID`, and the metric expressions
//! `runs list --where accuracy>0.8 --sort accuracy` accepts.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::bail;
use drover_protocol::msg::{OperatorRequest, OperatorResponse};
use drover_protocol::run::{RunDetail, RunSummary};

use super::table;
use crate::client::OperatorClient;
use crate::expect_response;

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
    let higher = drover_ml::metric::higher_is_better(metric);
    runs.sort_by(|a, b| {
        let (a, b) = (a.metrics.get(metric), b.metrics.get(metric));
        match (a, b) {
            (Some(a), Some(b)) if higher => b.total_cmp(a),
            (Some(a), Some(b)) => a.total_cmp(b),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        }
    });
}

async fn fetch(client: &OperatorClient, id: &str) -> anyhow::Result<RunDetail> {
    Ok(*expect_response!(
        client
            .request(&OperatorRequest::ShowRun { id: id.into() })
            .await?,
        OperatorResponse::Run
    )?)
}

/// The comparison as headers and rows: settings that differ, then every metric with the best
/// marked `*`. The CLI prints it as text and the console's Compare view as a table.
pub fn rows(runs: &[RunDetail]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut rows = Vec::new();
    let setting = |r: &RunDetail, key: &str| -> String {
        match key {
            "algorithm" => r.summary.algorithm.clone(),
            "dataset" => r.summary.dataset.clone(),
            "seed" => r.seed.to_string(),
            "cv_folds" => r
                .spec
                .as_ref()
                .map_or_else(|| "-".into(), |s| s.cv_folds.to_string()),
            "test_fraction" => r
                .spec
                .as_ref()
                .map_or_else(|| "-".into(), |s| s.test_fraction.to_string()),
            param => r
                .params
                .get(param)
                .map_or_else(|| "-".into(), |v| v.to_string()),
        }
    };
    let params: BTreeSet<String> = runs.iter().flat_map(|r| r.params.keys().cloned()).collect();
    let keys = ["algorithm", "dataset", "seed", "cv_folds", "test_fraction"]
        .into_iter()
        .map(String::from)
        .chain(params);
    for key in keys {
        let values: Vec<String> = runs.iter().map(|r| setting(r, &key)).collect();
        if values.iter().any(|v| *v != values[0]) {
            let mut row = vec![key.clone()];
            row.extend(values);
            rows.push(row);
        }
    }
    let metrics: BTreeSet<String> = runs
        .iter()
        .flat_map(|r| r.summary.metrics.keys().cloned())
        .collect();
    for metric in metrics {
        let values: Vec<Option<f64>> = runs
            .iter()
            .map(|r| r.summary.metrics.get(&metric).copied())
            .collect();
        let higher = drover_ml::metric::higher_is_better(&metric);
        let best = values
            .iter()
            .flatten()
            .copied()
            .fold(None, |best: Option<f64>, v| match best {
                Some(b) if (higher && b >= v) || (!higher && b <= v) => Some(b),
                _ => Some(v),
            });
        let mut row = vec![metric];
        row.extend(values.iter().map(|v| match v {
            Some(v) if Some(*v) == best && runs.len() > 1 => format!("{v:.4} *"),
            Some(v) => format!("{v:.4}"),
            None => "-".into(),
        }));
        rows.push(row);
    }
    let mut headers = vec!["".to_string()];
    headers.extend(runs.iter().map(|r| r.summary.id.clone()));
    (headers, rows)
}

/// The comparison as aligned text.
pub fn render(runs: &[RunDetail]) -> String {
    let (headers, rows) = rows(runs);
    let refs: Vec<&str> = headers.iter().map(String::as_str).collect();
    table(&refs, &rows)
}

/// Prints runs side by side.
pub async fn compare(
    data_dir: &Path,
    address: Option<&str>,
    ids: &[String],
    json: bool,
) -> anyhow::Result<()> {
    if ids.len() < 2 {
        bail!("compare needs at least two runs");
    }
    let runs = super::with_client(data_dir, address, async |c| {
        let mut runs = Vec::new();
        for id in ids {
            runs.push(fetch(c, id).await?);
        }
        Ok(runs)
    })
    .await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&runs)?);
    } else {
        println!("{}", render(&runs));
    }
    Ok(())
}

/// Retrains run `id` from its recorded lineage (same spec, same dataset version, same seed)
/// and checks that the model artifact is identical.
pub async fn reproduce(data_dir: &Path, address: Option<&str>, id: &str) -> anyhow::Result<()> {
    super::with_client(data_dir, address, async |c| {
        let original = fetch(c, id).await?;
        let Some(expected) = original.artifact_hash.clone() else {
            bail!(
                "run {id} has no model artifact to reproduce ({})",
                original.summary.status
            );
        };
        let Some(mut spec) = original.spec.clone() else {
            bail!(
                "run {id} was logged through the MLflow API; drover has no spec to retrain it from"
            );
        };
        spec.dataset = original.summary.dataset.clone();
        let events = c.subscribe().await?;
        let queued = expect_response!(
            c.request(&OperatorRequest::SubmitRun(Box::new(spec)))
                .await?,
            OperatorResponse::RunQueued
        )?;
        eprintln!("reproducing {id} as {} on {}", queued.id, queued.dataset);
        let rerun = super::runs::wait_for_end(c, events, &queued).await?;
        match rerun.artifact_hash {
            Some(hash) if hash == expected => {
                println!(
                    "{} reproduced {id}: the model artifact is identical (blake3 {hash})",
                    queued.id
                );
                Ok(())
            }
            Some(hash) => bail!(
                "{} did not reproduce {id}: artifact {hash} differs from {expected}",
                queued.id
            ),
            None => bail!(
                "{} ended {} without a model",
                queued.id,
                rerun.summary.status
            ),
        }
    })
    .await
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
