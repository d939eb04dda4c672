//! `drover bench train`: 5-fold cross-validated accuracy and time of each classifier on the
//! wine-quality data and a synthetic table, next to scikit-learn with comparable settings
//! measured in the same run on the same folds (when `python3` with scikit-learn and pandas is available).

use std::collections::BTreeMap;
use std::time::Instant;

use drover_ml::search;
use drover_ml::table;
use drover_protocol::spec::{ParamValue, Params, TrainSpec};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

const SCRIPT: &str = include_str!("sklearn_cv.py");
const FOLDS: usize = 5;

/// One algorithm on one data set.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Score {
    pub accuracy: f64,
    pub seconds: f64,
}

/// Results per data set and algorithm, for drover and (when it ran) scikit-learn.
#[derive(Debug, Serialize)]
pub struct TrainReport {
    pub drover: BTreeMap<String, BTreeMap<String, Score>>,
    pub sklearn: BTreeMap<String, BTreeMap<String, Score>>,
    pub sklearn_error: Option<String>,
}

/// The settings both libraries use, per algorithm.
fn algorithms() -> Vec<(&'static str, Params)> {
    let p = |pairs: &[(&str, ParamValue)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect::<Params>()
    };
    vec![
        (
            "logistic_regression",
            p(&[
                ("alpha", ParamValue::Float(1.0)),
                ("max_iterations", ParamValue::Int(100)),
            ]),
        ),
        ("decision_tree", p(&[("max_depth", ParamValue::Int(8))])),
        (
            "random_forest",
            p(&[
                ("n_trees", ParamValue::Int(50)),
                ("max_depth", ParamValue::Int(8)),
                ("feature_fraction", ParamValue::Float(0.7)),
            ]),
        ),
        ("gaussian_nb", Params::new()),
    ]
}

/// The algorithms named in `only` (all when empty), with an error for an unknown name.
fn selected(only: &[String]) -> anyhow::Result<Vec<(&'static str, Params)>> {
    let all = algorithms();
    if let Some(unknown) = only.iter().find(|n| !all.iter().any(|(a, _)| a == n)) {
        let names: Vec<&str> = all.iter().map(|(a, _)| *a).collect();
        anyhow::bail!(
            "unknown algorithm {unknown}; expected one of {}",
            names.join(", ")
        );
    }
    Ok(all
        .into_iter()
        .filter(|(name, _)| only.is_empty() || only.iter().any(|n| n == name))
        .collect())
}

/// A synthetic binary table: `features` standard-normal columns, the label a noisy linear
/// threshold of them.
pub(super) fn synthetic(rows: usize, features: usize) -> String {
    let mut rng = StdRng::seed_from_u64(11);
    let weights: Vec<f64> = (0..features)
        .map(|i| {
            if i % 3 == 0 {
                0.0
            } else {
                rng.gen_range(-1.0..1.0)
            }
        })
        .collect();
    let mut csv: String = (0..features).map(|i| format!("x{i},")).collect();
    csv.push_str("label\n");
    for _ in 0..rows {
        let x: Vec<f64> = (0..features)
            .map(|_| rng.gen_range(-1.0f64..1.0) + rng.gen_range(-1.0f64..1.0))
            .collect();
        let z: f64 =
            x.iter().zip(&weights).map(|(a, b)| a * b).sum::<f64>() + rng.gen_range(-0.5..0.5);
        x.iter().for_each(|v| csv.push_str(&format!("{v:.5},")));
        csv.push_str(if z > 0.0 { "1\n" } else { "0\n" });
    }
    csv
}

/// The spec the benchmark trains `algorithm` with (its default seed fixes the folds).
pub(super) fn spec(target: &str, algorithm: &str) -> anyhow::Result<TrainSpec> {
    TrainSpec::from_toml(&format!(
        "experiment = \"bench\"\nmodel = \"bench\"\ndataset = \"bench\"\ntarget = \"{target}\"\ntask = \"classification\"\nalgorithm = \"{algorithm}\"\n"
    ))
    .map_err(anyhow::Error::msg)
}

/// The cross-validation fold of every row, one per line, so that scikit-learn validates on
/// exactly the rows drover does.
fn fold_ids(rows: usize, target: &str) -> anyhow::Result<String> {
    let seed = spec(target, "gaussian_nb")?.seed;
    let mut ids = vec![0; rows];
    for (position, row) in search::shuffled(rows, seed).into_iter().enumerate() {
        ids[row] = position % FOLDS;
    }
    Ok(ids.iter().map(|f| format!("{f}\n")).collect())
}

fn drover_scores(
    table: &table::Table,
    target: &str,
    only: &[String],
) -> anyhow::Result<BTreeMap<String, Score>> {
    let mut out = BTreeMap::new();
    for (name, params) in selected(only)? {
        let spec = spec(target, name)?;
        let started = Instant::now();
        let metrics = drover_agent::train::cross_validate(&spec, table, &params, FOLDS)?;
        out.insert(
            name.to_string(),
            Score {
                accuracy: metrics["accuracy"],
                seconds: started.elapsed().as_secs_f64(),
            },
        );
        eprintln!("  drover {name}: accuracy {:.4}", metrics["accuracy"]);
    }
    Ok(out)
}

fn sklearn_scores(
    path: &std::path::Path,
    target: &str,
    folds: &std::path::Path,
    script: &std::path::Path,
    only: &[String],
) -> anyhow::Result<BTreeMap<String, Score>> {
    super::script_json(
        std::process::Command::new("python3")
            .arg(script)
            .arg(path)
            .arg(target)
            .arg(folds)
            .args(only)
            .env("OMP_NUM_THREADS", "1")
            .env("OPENBLAS_NUM_THREADS", "1")
            .env("MKL_NUM_THREADS", "1"),
    )
}

/// Runs every algorithm (or those in `only`) on wine quality and a `rows` x 20 synthetic table.
pub fn run(rows: usize, only: &[String]) -> anyhow::Result<TrainReport> {
    selected(only)?;
    let tmp = std::env::temp_dir().join(format!("drover-bench-train-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let script = tmp.join("sklearn_cv.py");
    std::fs::write(&script, SCRIPT)?;
    let mut wine = Vec::new();
    super::sample::write("winequality", &mut wine)?;
    let sets = [
        ("winequality", wine, "quality"),
        ("synthetic", synthetic(rows, 20).into_bytes(), "label"),
    ];
    let mut report = TrainReport {
        drover: BTreeMap::new(),
        sklearn: BTreeMap::new(),
        sklearn_error: None,
    };
    for (name, csv, target) in sets {
        eprintln!("{name}:");
        let table = table::parse(&csv)?;
        report
            .drover
            .insert(name.to_string(), drover_scores(&table, target, only)?);
        let path = tmp.join(format!("{name}.csv"));
        std::fs::write(&path, &csv)?;
        let folds = tmp.join(format!("{name}.folds"));
        std::fs::write(&folds, fold_ids(table.rows, target)?)?;
        match sklearn_scores(&path, target, &folds, &script, only) {
            Ok(scores) => {
                report.sklearn.insert(name.to_string(), scores);
            }
            Err(e) => report.sklearn_error = Some(format!("{e:#}")),
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(report)
}

/// Prints accuracy differences in points and time ratios against scikit-learn.
pub fn print(report: &TrainReport) {
    println!(
        "5-fold cross-validated accuracy and time, drover vs scikit-learn (same run, one thread each)"
    );
    for (set, scores) in &report.drover {
        println!("{set}:");
        for (name, d) in scores {
            match report.sklearn.get(set).and_then(|s| s.get(name)) {
                Some(s) => println!(
                    "  {name:<20} drover {:.4} in {:>7.2}s   sklearn {:.4} in {:>7.2}s   accuracy {:+.2} points, time {:.2}x",
                    d.accuracy,
                    d.seconds,
                    s.accuracy,
                    s.seconds,
                    (d.accuracy - s.accuracy) * 100.0,
                    d.seconds / s.seconds.max(1e-9)
                ),
                None => println!(
                    "  {name:<20} drover {:.4} in {:>7.2}s",
                    d.accuracy, d.seconds
                ),
            }
        }
    }
    if let Some(e) = &report.sklearn_error {
        println!("scikit-learn did not run: {e}");
    }
}
