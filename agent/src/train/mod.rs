//! Training on an agent: the spec's features and target are taken from the table, rows are
//! split (seeded) into training and held-out test rows, every hyperparameter candidate is
//! cross-validated on the training rows with a pipeline fitted per fold, the best candidate is
//! refitted on all training rows and measured on the test rows, and the result is written as a
//! canonical, content-addressed model artifact. Same data, spec and seed: same bytes.

pub mod importance;
pub mod model;
pub mod pipeline;
mod profile;
mod scored;
pub mod stop;
pub mod tree;

use std::collections::BTreeSet;

use drover_ml::score;
use drover_ml::search::{self, best_trial};
use drover_ml::table::{ColumnData, Table};
use drover_protocol::drift::Reference;
use drover_protocol::hash::ContentHash;
use drover_protocol::spec::{Algorithm, MAX_TRIALS, Params, Task, TrainSpec};
use ndarray::Array1;
use serde::{Deserialize, Serialize};

use drover_protocol::run::{Metrics, Trial};

use self::model::{FitError, Model, Targets};
use self::pipeline::Pipeline;
use self::scored::Scored;
use self::stop::{Stop, Stopped};

/// Version of the artifact layout.
pub const ARTIFACT_FORMAT: u32 = 1;

/// A finished training.
#[derive(Debug, Clone)]
pub struct Trained {
    pub trials: Vec<Trial>,
    /// Index into `trials` of the chosen candidate.
    pub best: usize,
    /// Metrics of the refitted best model on the held-out test rows.
    pub test_metrics: Metrics,
    pub artifact: Vec<u8>,
    pub artifact_hash: ContentHash,
    pub rows_train: usize,
    pub rows_test: usize,
}

/// Everything needed to serve the model: the fitted pipeline, the model and the class names.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelArtifact {
    pub format: u32,
    pub algorithm: Algorithm,
    pub params: Params,
    pub target: String,
    pub classes: Vec<String>,
    pub pipeline: Pipeline,
    pub model: Model,
    /// The profile of the training data and of the predictions on held-out rows, against
    /// which serving agents sketch live traffic (absent from artifacts of older agents).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<Reference>,
}

/// Why training could not run or finish.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("{0}")]
    Data(String),
    #[error(transparent)]
    Fit(#[from] FitError),
    #[error("could not write the model artifact: {0}")]
    Artifact(String),
    #[error(transparent)]
    Stopped(#[from] Stopped),
}

struct Prepared {
    features: Vec<usize>,
    /// Class names (classification; empty for regression).
    classes: Vec<String>,
    /// Target per row of the table: a class index (classification) or a value (regression);
    /// `None` where it is missing.
    labels: Vec<Option<usize>>,
    values: Vec<Option<f64>>,
}

fn column_index(table: &Table, name: &str, role: &str) -> Result<usize, TrainError> {
    table
        .schema
        .columns
        .iter()
        .position(|c| c.name == name)
        .ok_or_else(|| {
            let names: Vec<&str> = table
                .schema
                .columns
                .iter()
                .map(|c| c.name.as_str())
                .collect();
            TrainError::Data(format!(
                "unknown {role} column {name:?}; the dataset has: {}",
                names.join(", ")
            ))
        })
}

fn prepare(spec: &TrainSpec, table: &Table) -> Result<Prepared, TrainError> {
    let target = column_index(table, &spec.target, "target")?;
    for excluded in &spec.exclude {
        column_index(table, excluded, "excluded")?;
    }
    let features = match &spec.features {
        Some(names) => names
            .iter()
            .map(|n| column_index(table, n, "feature"))
            .collect::<Result<Vec<_>, _>>()?,
        None => (0..table.schema.columns.len())
            .filter(|&i| i != target && !spec.exclude.contains(&table.schema.columns[i].name))
            .collect(),
    };
    if features.is_empty() {
        return Err(TrainError::Data(
            "no feature columns left besides the target".into(),
        ));
    }
    if features.contains(&target) {
        return Err(TrainError::Data(format!(
            "the target {:?} cannot also be a feature",
            spec.target
        )));
    }
    if spec.task == Task::Regression {
        let ColumnData::Numeric(values) = &table.columns[target] else {
            return Err(TrainError::Data(format!(
                "target column {:?} is categorical; regression needs a numeric target",
                spec.target
            )));
        };
        let labels = values.iter().map(|v| v.map(|_| 0)).collect();
        return Ok(Prepared {
            features,
            classes: Vec::new(),
            labels,
            values: values.clone(),
        });
    }
    let values: Vec<Option<String>> = match &table.columns[target] {
        ColumnData::Numeric(v) => v.iter().map(|x| x.map(|x| x.to_string())).collect(),
        ColumnData::Categorical(v) => v.clone(),
    };
    let classes: Vec<String> = values
        .iter()
        .flatten()
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if classes.len() < 2 {
        return Err(TrainError::Data(format!(
            "target column {:?} has {} class{} ({}); classification needs at least two",
            spec.target,
            classes.len(),
            if classes.len() == 1 { "" } else { "es" },
            classes.join(", ")
        )));
    }
    let labels = values
        .iter()
        .map(|v| v.as_ref().and_then(|v| classes.binary_search(v).ok()))
        .collect();
    Ok(Prepared {
        features,
        classes,
        labels,
        values: Vec::new(),
    })
}

/// Fits the pipeline and model on `fit` rows and measures them on `score` rows.
fn fit_and_score(
    spec: &TrainSpec,
    table: &Table,
    prepared: &Prepared,
    params: &Params,
    fit: &[usize],
    score: &[usize],
    stop: &Stop,
) -> Result<(Pipeline, Model, Metrics), TrainError> {
    stop.check()?;
    let pipeline = Pipeline::fit(table, &prepared.features, fit);
    let transform = |rows: &[usize]| {
        pipeline
            .transform(table, rows)
            .map_err(|e| TrainError::Data(e.to_string()))
    };
    let (x, x_score) = (transform(fit)?, transform(score)?);
    let (model, metrics) = match spec.task {
        Task::Classification => {
            let label = |rows: &[usize]| {
                rows.iter()
                    .filter_map(|&r| prepared.labels[r])
                    .collect::<Vec<usize>>()
            };
            let y = Array1::from(label(fit));
            let model = Model::fit(
                spec.algorithm,
                params,
                &x,
                Targets::Classes(&y),
                spec.seed,
                stop,
            )?;
            let probabilities = model.probabilities(&x_score, prepared.classes.len());
            let metrics = score::classification(&label(score), &probabilities);
            (model, metrics)
        }
        Task::Regression => {
            let value = |rows: &[usize]| {
                rows.iter()
                    .filter_map(|&r| prepared.values[r])
                    .collect::<Vec<f64>>()
            };
            let y = Array1::from(value(fit));
            let model = Model::fit(
                spec.algorithm,
                params,
                &x,
                Targets::Values(&y),
                spec.seed,
                stop,
            )?;
            let metrics = score::regression(&value(score), &model.values(&x_score).to_vec());
            (model, metrics)
        }
    };
    Ok((pipeline, model, metrics))
}

fn mean(folds: &[Metrics]) -> Metrics {
    let mut mean = Metrics::new();
    for fold in folds {
        for (name, value) in fold {
            *mean.entry(name.clone()).or_default() += value / folds.len() as f64;
        }
    }
    mean
}

/// Mean `k`-fold cross-validated metrics of `params` over every row of `table` (seeded fold
/// assignment), for benchmarks against other libraries.
pub fn cross_validate(
    spec: &TrainSpec,
    table: &Table,
    params: &Params,
    k: usize,
) -> Result<Metrics, TrainError> {
    let prepared = prepare(spec, table)?;
    let mut rows = search::shuffled(table.rows, spec.seed);
    rows.retain(|&r| prepared.labels[r].is_some());
    let folds = search::folds(&rows, k)
        .iter()
        .map(|(fit, validate)| {
            fit_and_score(
                spec,
                table,
                &prepared,
                params,
                fit,
                validate,
                &Stop::default(),
            )
            .map(|(_, _, m)| m)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(mean(&folds))
}

/// Rows with a target value, split into training and held-out test rows.
fn split_rows(
    spec: &TrainSpec,
    table: &Table,
    prepared: &Prepared,
) -> Result<(Vec<usize>, Vec<usize>), TrainError> {
    let usable: Vec<usize> = (0..table.rows)
        .filter(|&r| prepared.labels[r].is_some())
        .collect();
    if usable.len() < (spec.cv_folds as usize) * 2 + 2 {
        return Err(TrainError::Data(format!(
            "only {} rows have a target value; too few to split and cross-validate",
            usable.len()
        )));
    }
    let (train_pos, test_pos) = search::holdout(usable.len(), spec.test_fraction, spec.seed);
    Ok((
        train_pos.iter().map(|&i| usable[i]).collect(),
        test_pos.iter().map(|&i| usable[i]).collect(),
    ))
}

/// Cross-validates the search's candidates on the training rows (only the trial numbers in
/// `only`, counted from 1, when given), reporting each trial as it completes; ends early
/// when `stop` is set.
pub fn search(
    spec: &TrainSpec,
    table: &Table,
    only: Option<&[u32]>,
    on_trial: &mut dyn FnMut(&Trial),
    stop: &Stop,
) -> Result<Vec<Trial>, TrainError> {
    let prepared = prepare(spec, table)?;
    let (train_rows, _) = split_rows(spec, table, &prepared)?;
    search_prepared(spec, table, &prepared, &train_rows, only, on_trial, stop)
}

fn search_prepared(
    spec: &TrainSpec,
    table: &Table,
    prepared: &Prepared,
    train_rows: &[usize],
    only: Option<&[u32]>,
    on_trial: &mut dyn FnMut(&Trial),
    stop: &Stop,
) -> Result<Vec<Trial>, TrainError> {
    let mut trials = Vec::new();
    for (i, params) in search::candidates(&spec.search, spec.seed, MAX_TRIALS)
        .into_iter()
        .enumerate()
    {
        let number = i as u32 + 1;
        if only.is_some_and(|o| !o.contains(&number)) {
            continue;
        }
        let folds = search::folds(train_rows, spec.cv_folds as usize)
            .iter()
            .map(|(fit, validate)| {
                fit_and_score(spec, table, prepared, &params, fit, validate, stop)
                    .map(|(_, _, m)| m)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let trial = Trial {
            trial: number,
            params,
            mean: mean(&folds),
            folds,
        };
        on_trial(&trial);
        trials.push(trial);
    }
    if trials.is_empty() {
        return Err(TrainError::Data("no trial to run".into()));
    }
    Ok(trials)
}

/// Trains as `spec` says on `table` (searching only the trial numbers in `only` when given),
/// reporting each trial as it completes; ends early when `stop` is set.
pub fn train(
    spec: &TrainSpec,
    table: &Table,
    baseline: Option<&ModelArtifact>,
    only: Option<&[u32]>,
    on_trial: &mut dyn FnMut(&Trial),
    stop: &Stop,
) -> Result<Trained, TrainError> {
    let prepared = prepare(spec, table)?;
    let (train_rows, test_rows) = split_rows(spec, table, &prepared)?;
    let trials = search_prepared(spec, table, &prepared, &train_rows, only, on_trial, stop)?;
    let best = best_trial(spec.task, &trials);
    let params = trials[best].params.clone();
    let (pipeline, model, mut test_metrics) = fit_and_score(
        spec,
        table,
        &prepared,
        &params,
        &train_rows,
        &test_rows,
        stop,
    )?;
    let candidate = Scored::new(
        spec,
        table,
        &prepared,
        &pipeline,
        &model,
        &prepared.classes,
        &test_rows,
    )?;
    if let Some(column) = &spec.gates.sensitive {
        test_metrics.extend(candidate.fairness(table, column, &test_rows)?);
    }
    if let Some(baseline) = baseline {
        let scored = Scored::new(
            spec,
            table,
            &prepared,
            &baseline.pipeline,
            &baseline.model,
            &baseline.classes,
            &test_rows,
        )?;
        test_metrics.extend(candidate.against(&scored));
    }
    let reference = profile::reference(
        spec,
        table,
        &prepared,
        (&pipeline, &model),
        &candidate,
        (&train_rows, &test_rows),
    );
    let artifact = ModelArtifact {
        reference: Some(reference),
        format: ARTIFACT_FORMAT,
        algorithm: spec.algorithm,
        params,
        target: spec.target.clone(),
        classes: prepared.classes,
        pipeline,
        model,
    };
    let bytes = canonical_json(&artifact)?;
    Ok(Trained {
        artifact_hash: ContentHash::of(&bytes),
        artifact: bytes,
        trials,
        best,
        test_metrics,
        rows_train: train_rows.len(),
        rows_test: test_rows.len(),
    })
}

/// JSON with object keys sorted, so equal models give equal bytes (some learners keep their
/// state in hash maps, whose order varies between runs).
fn canonical_json(artifact: &ModelArtifact) -> Result<Vec<u8>, TrainError> {
    let value = serde_json::to_value(artifact).map_err(|e| TrainError::Artifact(e.to_string()))?;
    serde_json::to_vec(&sort_keys(value)).map_err(|e| TrainError::Artifact(e.to_string()))
}

fn sort_keys(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<(String, serde_json::Value)> =
                map.into_iter().map(|(k, v)| (k, sort_keys(v))).collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            serde_json::Value::Object(entries.into_iter().collect())
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(sort_keys).collect())
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trains every candidate with no baseline, no progress and no stop.
    fn train_all(spec: &TrainSpec, table: &Table) -> Result<Trained, TrainError> {
        train(spec, table, None, None, &mut |_| {}, &Stop::default())
    }
    use drover_ml::table::parse;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// A learnable table: the label follows `x + bonus(plan)` with noise; `noise` is useless.
    fn table(rows: usize) -> Table {
        let mut rng = StdRng::seed_from_u64(3);
        let mut csv = String::from("x,noise,plan,label\n");
        for i in 0..rows {
            let x: f64 = rng.gen_range(-2.0..2.0);
            let plan = ["basic", "plus", "pro"][i % 3];
            let bonus = match plan {
                "basic" => -0.5,
                "plus" => 0.0,
                _ => 0.8,
            };
            let label = u8::from(x + bonus + rng.gen_range(-0.5..0.5) > 0.0);
            let x = if i % 50 == 0 {
                String::new()
            } else {
                format!("{x:.4}")
            };
            csv.push_str(&format!(
                "{x},{:.3},{plan},{label}\n",
                rng.gen_range(0.0..1.0)
            ));
        }
        parse(csv.as_bytes()).expect("csv")
    }

    fn spec(algorithm: &str, params: &str) -> TrainSpec {
        TrainSpec::from_toml(&format!(
            "experiment = \"t\"\nmodel = \"t\"\ndataset = \"t\"\ntarget = \"label\"\ntask = \"classification\"\nalgorithm = \"{algorithm}\"\nseed = 7\ncv_folds = 3\n[search]\nparams = {{ {params} }}\n"
        ))
        .expect("spec")
    }

    #[test]
    fn every_classifier_learns_and_reports_each_trial() {
        let table = table(600);
        for (algorithm, params, trials) in [
            ("logistic_regression", "alpha = [0.0, 1.0]", 2),
            ("decision_tree", "max_depth = [2, 4, 6]", 3),
            ("gaussian_nb", "var_smoothing = [1e-9]", 1),
            ("random_forest", "n_trees = [25], max_depth = [4]", 1),
        ] {
            let mut seen = Vec::new();
            let trained = train(
                &spec(algorithm, params),
                &table,
                None,
                None,
                &mut |t| seen.push(t.trial),
                &Stop::default(),
            )
            .expect(algorithm);
            assert_eq!(seen, (1..=trials).collect::<Vec<u32>>(), "{algorithm}");
            assert_eq!(trained.trials[0].folds.len(), 3);
            assert!(
                trained.test_metrics["accuracy"] > 0.75,
                "{algorithm}: {:?}",
                trained.test_metrics
            );
            assert_eq!((trained.rows_train, trained.rows_test), (480, 120));
            let artifact: ModelArtifact =
                serde_json::from_slice(&trained.artifact).expect("artifact reads back");
            assert_eq!(artifact.classes, vec!["0", "1"]);
        }
    }

    #[test]
    fn the_artifact_carries_a_reference_profile_and_permutation_importance() {
        let trained =
            train_all(&spec("logistic_regression", "alpha = [0.0]"), &table(600)).expect("trained");
        let artifact: ModelArtifact = serde_json::from_slice(&trained.artifact).expect("reads");
        let reference = artifact.reference.expect("a reference profile");
        let names: Vec<&str> = reference.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            ["x", "noise", "plan"],
            "the model's inputs, in order"
        );
        assert_eq!(reference.rows, 480, "the training rows");
        assert!(
            (1..=12).contains(&reference.columns[0].nulls),
            "x is missing in 2% of rows"
        );
        assert_eq!(
            reference.predictions.counts.iter().sum::<u64>(),
            120,
            "held-out rows"
        );
        let [x, noise, plan] = reference.importance[..] else {
            panic!("one importance per input: {:?}", reference.importance);
        };
        assert!(
            x > 0.2 && x > plan && plan > noise,
            "{:?}",
            reference.importance
        );
        assert!(
            noise.abs() < 0.02,
            "a useless column matters little: {noise}"
        );
    }

    #[test]
    fn regressors_fit_a_linear_signal() {
        let mut rng = StdRng::seed_from_u64(5);
        let mut csv = String::from("x,plan,y\n");
        for i in 0..400 {
            let x: f64 = rng.gen_range(-2.0..2.0);
            let plan = ["basic", "pro"][i % 2];
            let y = 3.0 * x + if plan == "pro" { 2.0 } else { 0.0 } + rng.gen_range(-0.3..0.3);
            csv.push_str(&format!("{x:.4},{plan},{y:.4}\n"));
        }
        let table = parse(csv.as_bytes()).expect("csv");
        for (algorithm, params) in [
            ("linear_regression", ""),
            ("ridge", "alpha = [0.01, 1.0]"),
            ("lasso", "alpha = [0.01]"),
        ] {
            let text = format!(
                "experiment = \"t\"\nmodel = \"t\"\ndataset = \"t\"\ntarget = \"y\"\ntask = \"regression\"\nalgorithm = \"{algorithm}\"\ncv_folds = 3\n[search]\nparams = {{ {params} }}\n"
            );
            let trained =
                train_all(&TrainSpec::from_toml(&text).expect("spec"), &table).expect(algorithm);
            assert!(
                trained.test_metrics["r2"] > 0.95,
                "{algorithm}: {:?}",
                trained.test_metrics
            );
            assert!(
                trained.test_metrics["rmse"] < 0.5,
                "{algorithm}: {:?}",
                trained.test_metrics
            );
        }
        let categorical = TrainSpec::from_toml(
            "experiment = \"t\"\nmodel = \"t\"\ndataset = \"t\"\ntarget = \"plan\"\ntask = \"regression\"\nalgorithm = \"ridge\"\n",
        )
        .expect("spec");
        let err = train_all(&categorical, &table).expect_err("categorical target");
        assert!(
            err.to_string()
                .contains("regression needs a numeric target"),
            "{err}"
        );
    }

    #[test]
    fn the_same_inputs_give_the_same_artifact_bytes() {
        let table = table(300);
        for (algorithm, params) in [
            ("logistic_regression", "alpha = [0.1]"),
            ("gaussian_nb", ""),
            ("decision_tree", "max_depth = [3]"),
        ] {
            let first = train_all(&spec(algorithm, params), &table).expect("trains");
            let second = train_all(&spec(algorithm, params), &table).expect("trains");
            assert_eq!(first.artifact_hash, second.artifact_hash, "{algorithm}");
        }
    }

    #[test]
    fn shares_of_a_search_add_up_to_the_whole_and_refit_the_same_model() {
        let table = table(300);
        let spec = spec("decision_tree", "max_depth = [1, 2, 3, 4, 5]");
        let whole = train_all(&spec, &table).expect("trains");
        let mut shared = search(
            &spec,
            &table,
            Some(&[1, 3, 5]),
            &mut |_| {},
            &Stop::default(),
        )
        .expect("searches");
        shared.extend(
            search(&spec, &table, Some(&[2, 4]), &mut |_| {}, &Stop::default()).expect("searches"),
        );
        shared.sort_by_key(|t| t.trial);
        assert_eq!(shared, whole.trials);
        let best = shared[best_trial(spec.task, &shared)].trial;
        assert_eq!(best, whole.trials[whole.best].trial);
        let refit = train(
            &spec,
            &table,
            None,
            Some(&[best]),
            &mut |_| {},
            &Stop::default(),
        )
        .expect("refits");
        assert_eq!(refit.artifact_hash, whole.artifact_hash);
        assert_eq!(refit.test_metrics, whole.test_metrics);
    }

    #[test]
    fn unusable_data_is_a_clear_error() {
        let one_class =
            parse(b"x,label\n1,0\n2,0\n3,0\n4,0\n5,0\n6,0\n7,0\n8,0\n9,0\n10,0\n").expect("csv");
        let err = train_all(&spec("gaussian_nb", ""), &one_class).expect_err("one class");
        assert!(err.to_string().contains("has 1 class (0)"), "{err}");
        let mut unknown = spec("gaussian_nb", "");
        unknown.target = "lable".into();
        let err = train_all(&unknown, &table(60)).expect_err("unknown column");
        assert!(
            err.to_string().contains("unknown target column \"lable\""),
            "{err}"
        );
    }
}
