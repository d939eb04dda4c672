//! A comparison of runs as headers and rows: settings that differ, then every metric with the
//! best marked `*`. The CLI prints it as text and the console's Compare view as a table.

use std::collections::BTreeSet;

use drover_ml::metric;
use drover_protocol::run::RunDetail;

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
    for name in metrics {
        let values: Vec<Option<f64>> = runs
            .iter()
            .map(|r| r.summary.metrics.get(&name).copied())
            .collect();
        let best = values
            .iter()
            .copied()
            .min_by(|a, b| metric::rank(&name, *a, *b))
            .flatten();
        let mut row = vec![name.clone()];
        row.extend(values.iter().map(|v| match v {
            Some(v) if Some(*v) == best && runs.len() > 1 => {
                format!("{} *", metric::display(&name, *v))
            }
            Some(v) => metric::display(&name, *v),
            None => "-".into(),
        }));
        rows.push(row);
    }
    let mut headers = vec!["".to_string()];
    headers.extend(runs.iter().map(|r| r.summary.id.clone()));
    (headers, rows)
}
