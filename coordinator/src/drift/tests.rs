//! The monitor on a real store: a registered version whose artifact carries a reference,
//! deployed, with sketches and serving windows as agents would send them. Drift and an
//! accuracy drop fire once after the hysteresis, a restarted monitor neither fires them again
//! nor forgets them, they resolve when the data comes back, and the reactions perform each
//! rule's action once.

use std::collections::BTreeMap;

use drover_ml::drift::reference;
use drover_protocol::drift::{
    AlertAction, AlertKind, ColumnCounts, Reference, SketchWindow, Status,
};
use drover_protocol::hash::ContentHash;
use drover_protocol::run::RunFilter;
use drover_protocol::serve::{Deployment, LATENCY_BUCKETS_US, ServingWindow, Variant};
use drover_protocol::spec::TrainSpec;
use drover_protocol::types::AgentId;

use super::config::{Monitoring, Rule};
use super::monitor::Monitor;
use crate::state::Shared;
use crate::{reactions, testing};

pub(super) const NOW: u64 = 1_800_000_000_000;

pub(super) fn profile() -> Reference {
    Reference {
        rows: 1_000,
        columns: vec![reference::numeric(
            "tenure",
            (0..1_000).map(|v| Some((v % 100) as f64)),
        )],
        predictions: reference::classes(&["0".into(), "1".into()], &[0, 1, 1, 0]),
        importance: vec![0.2],
    }
}

/// Registers the next version of `churn` (test accuracy 0.9) with an artifact carrying
/// [`profile`] (`salt` makes each artifact its own); its artifact's hash.
fn register(shared: &Shared, salt: u32) -> ContentHash {
    register_with(shared, salt, &profile())
}

/// Registers the next version of `churn` with an artifact carrying `reference`.
fn register_with(shared: &Shared, salt: u32, reference: &Reference) -> ContentHash {
    let artifact = serde_json::to_vec(
        &serde_json::json!({ "format": 1, "reference": reference, "salt": salt }),
    )
    .expect("json");
    let hash = ContentHash::of(&artifact);
    let path = shared.artifacts.path(&hash);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
    std::fs::write(&path, &artifact).expect("artifact");
    let spec = TrainSpec::from_toml(testing::SPEC).expect("spec");
    let run = crate::training::runs::submit(shared, spec).expect("queued");
    testing::succeed(shared, &run.id, true, hash.as_ref());
    reactions::react_pending(shared);
    hash
}

/// Registers `churn@1` and deploys it.
pub(super) fn deployed(shared: &Shared) {
    deployed_with(shared, &profile());
}

/// Registers `churn@1` with `reference` and deploys it.
fn deployed_with(shared: &Shared, reference: &Reference) {
    testing::dataset(shared, "churn", &testing::churn_csv(60));
    let hash = register_with(shared, 1, reference);
    shared
        .store
        .sync()
        .put_deployment(&Deployment {
            model: "churn".into(),
            variants: vec![Variant {
                version: 1,
                artifact_hash: hash,
                weight: 100,
                shadow: false,
            }],
            selector: BTreeMap::new(),
            updated_ms: 1,
        })
        .expect("deploy");
}

/// One agent's sketch at `at_ms`: 1,000 values as the reference has them, or all in the
/// top bin.
fn sketch(shared: &Shared, at_ms: u64, drifted: bool) {
    sketch_from(shared, "ag-1", at_ms, drifted);
}

/// `agent`'s sketch at `at_ms`, as [`sketch`].
pub(super) fn sketch_from(shared: &Shared, agent: &str, at_ms: u64, drifted: bool) {
    let r = profile();
    let tenure = &r.columns[0];
    let mut counts = ColumnCounts::empty(tenure.counts.len());
    if drifted {
        *counts.counts.last_mut().expect("bins") = 1_000;
    } else {
        counts.counts.clone_from(&tenure.counts);
    }
    let window = SketchWindow {
        model: "churn".into(),
        version: 1,
        start_ms: at_ms - 1_000,
        end_ms: at_ms,
        columns: vec![counts],
        predictions: ColumnCounts {
            counts: vec![500, 500],
            ..ColumnCounts::default()
        },
    };
    shared
        .store
        .sync()
        .insert_sketches(&AgentId(agent.into()), &[window], at_ms)
        .expect("sketch");
}

/// Feedback on 500 predictions at `at_ms`, `correct` of them right.
fn feedback(shared: &Shared, at_ms: u64, correct: u64) {
    served_by(shared, "ag-1", at_ms, 0, correct);
}

/// 500 requests `agent` served at `at_ms`, `errors` of them failed, with feedback on each,
/// `correct` of it right.
pub(super) fn served_by(shared: &Shared, agent: &str, at_ms: u64, errors: u64, correct: u64) {
    let mut latency = vec![0; LATENCY_BUCKETS_US.len() + 1];
    latency[0] = 500;
    let window = ServingWindow {
        model: "churn".into(),
        version: 1,
        start_ms: at_ms - 1_000,
        end_ms: at_ms,
        requests: 500,
        errors,
        latency,
        classes: vec![250, 250],
        feedback: 500,
        correct,
    };
    shared
        .store
        .sync()
        .insert_windows(&AgentId(agent.into()), &[window], at_ms)
        .expect("window");
}

pub(super) fn config() -> Monitoring {
    let rule = |name: &str, kind, above, action| Rule {
        name: name.into(),
        kind,
        model: None,
        above,
        action,
    };
    Monitoring {
        window: std::time::Duration::from_secs(5),
        every: std::time::Duration::from_secs(1),
        min_samples: 100,
        fire_after: 2,
        resolve_after: 2,
        rules: vec![
            rule("drift", AlertKind::Drift, None, AlertAction::Retrain),
            rule(
                "accuracy",
                AlertKind::Accuracy,
                Some(0.1),
                AlertAction::Notify,
            ),
        ],
        ..Monitoring::default()
    }
}

pub(super) fn firing(shared: &Shared) -> Vec<(String, Option<String>)> {
    let mut alerts: Vec<(String, Option<String>)> = shared
        .store
        .sync()
        .alerts(true, 100)
        .expect("alerts")
        .into_iter()
        .map(|a| (a.rule, a.column))
        .collect();
    alerts.sort();
    alerts
}

#[test]
fn drift_and_an_accuracy_drop_fire_once_survive_a_restart_resolve_and_retrain_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shared = testing::shared(dir.path());
    deployed(&shared);
    let mut monitor = Monitor::new(&shared, config());

    sketch(&shared, NOW, false);
    feedback(&shared, NOW, 460);
    monitor.evaluate(&shared, NOW);
    let report = &shared
        .store
        .sync()
        .latest_drift(Some("churn"))
        .expect("drift")[0];
    assert!(
        report.columns.iter().all(|c| c.status == Status::Stable),
        "{report:?}"
    );
    assert!(firing(&shared).is_empty());

    for (i, at) in [NOW + 1_000, NOW + 2_000].into_iter().enumerate() {
        sketch(&shared, at, true);
        sketch(&shared, at, true);
        feedback(&shared, at, 200);
        feedback(&shared, at, 200);
        monitor.evaluate(&shared, at);
        let expected = if i == 0 { 0 } else { 2 };
        assert_eq!(
            firing(&shared).len(),
            expected,
            "fires on the second bad evaluation"
        );
    }
    assert_eq!(
        firing(&shared),
        [
            ("accuracy".to_string(), None),
            ("drift".to_string(), Some("tenure".to_string()))
        ]
    );
    let report = &shared
        .store
        .sync()
        .latest_drift(Some("churn"))
        .expect("drift")[0];
    assert_eq!(report.columns[0].column, "tenure", "worst first");
    assert_eq!(report.columns[0].status, Status::Drifted);

    let mut restarted = Monitor::new(&shared, config());
    restarted.evaluate(&shared, NOW + 3_000);
    restarted.evaluate(&shared, NOW + 3_500);
    assert_eq!(
        shared
            .store
            .sync()
            .alerts(false, 100)
            .expect("alerts")
            .len(),
        2,
        "a restarted monitor does not fire them again"
    );

    reactions::react_pending(&shared);
    reactions::react_pending(&shared);
    let runs = shared
        .store
        .sync()
        .runs(&RunFilter::default(), 10)
        .expect("runs");
    assert_eq!(
        runs.len(),
        2,
        "one retrain for the drift alert, none for notify"
    );
    assert_eq!(
        runs[0].dataset, "churn@1",
        "on the newest version of the dataset"
    );

    for at in [NOW + 9_000, NOW + 10_000] {
        sketch(&shared, at, false);
        feedback(&shared, at, 460);
        restarted.evaluate(&shared, at);
    }
    assert!(
        firing(&shared).is_empty(),
        "both resolved once the data came back"
    );
    let all = shared.store.sync().alerts(false, 100).expect("alerts");
    assert!(
        all.iter().all(|a| a.resolved_ms == Some(NOW + 10_000)),
        "{all:?}"
    );
    let history = shared
        .store
        .sync()
        .drift_history("churn", 1, 0)
        .expect("history");
    assert!(
        history.len() >= 10,
        "every evaluation is kept: {}",
        history.len()
    );
}

#[test]
fn a_rollback_alert_rolls_back_the_running_rollout() {
    use drover_protocol::registry::Selector;
    use drover_protocol::rollout::{Phase, RolloutSpec};
    let dir = tempfile::tempdir().expect("tempdir");
    let shared = testing::shared(dir.path());
    deployed(&shared);
    register(&shared, 2);
    let started = crate::rollout::controller::start(
        &shared,
        "churn",
        &Selector::Number(2),
        RolloutSpec::default(),
    )
    .expect("a rollout of churn@2");
    assert_eq!(started.rollout.phase, Phase::Running);
    let alert = drover_protocol::drift::Alert {
        id: 0,
        rule: "errors".into(),
        kind: AlertKind::ErrorRate,
        subject: "churn".into(),
        version: Some(2),
        column: None,
        action: AlertAction::Rollback,
        firing: true,
        fired_ms: NOW,
        resolved_ms: None,
        value: 0.2,
        bound: 0.05,
        detail: "20% of 1000 requests failed".into(),
    };
    shared.store.sync().fire_alert(alert).expect("fired");
    reactions::react_pending(&shared);
    let after = shared
        .store
        .sync()
        .latest_rollout("churn")
        .expect("read")
        .expect("rollout");
    assert!(
        matches!(after.phase, Phase::RolledBack { .. }),
        "{:?}",
        after.phase
    );
}

#[test]
fn a_column_that_moves_in_the_importance_ranking_on_live_feedback_alerts() {
    use drover_protocol::drift::ImportanceWindow;
    let dir = tempfile::tempdir().expect("tempdir");
    let shared = testing::shared(dir.path());
    let numbers = |name: &str| reference::numeric(name, (0..100).map(|v| Some(v as f64)));
    let mut three = profile();
    three.columns = vec![numbers("a"), numbers("b"), numbers("c"), numbers("d")];
    three.importance = vec![0.30, 0.10, 0.05, 0.0];
    deployed_with(&shared, &three);
    let config = Monitoring {
        rules: vec![Rule {
            name: "importance".into(),
            kind: AlertKind::Importance,
            model: None,
            above: Some(3.0),
            action: AlertAction::Notify,
        }],
        ..config()
    };
    let mut monitor = Monitor::new(&shared, config);
    let live = |at: u64, importance: Vec<f64>| {
        let window = ImportanceWindow {
            model: "churn".into(),
            version: 1,
            rows: 300,
            importance,
        };
        shared
            .store
            .sync()
            .insert_importance(&AgentId("ag-1".into()), &[window], at)
            .expect("importance");
    };
    live(NOW, vec![0.28, 0.12, 0.04, 0.0]);
    monitor.evaluate(&shared, NOW);
    monitor.evaluate(&shared, NOW + 500);
    assert!(firing(&shared).is_empty(), "the same ranking");
    let report = &shared
        .store
        .sync()
        .latest_drift(Some("churn"))
        .expect("drift")[0];
    assert_eq!(report.importance_rows, 300);
    assert_eq!(report.importance[0].live_rank, 1);

    for at in [NOW + 6_000, NOW + 7_000] {
        live(at, vec![0.0, 0.12, 0.04, 0.02]);
        monitor.evaluate(&shared, at);
    }
    let alerts = shared.store.sync().alerts(true, 10).expect("alerts");
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(
        alerts[0].detail.starts_with("a moved from rank 1 to 4"),
        "{}",
        alerts[0].detail
    );
}

#[test]
fn a_latency_alert_past_every_bucket_is_stored_readable_and_later_runs_still_register() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shared = testing::shared(dir.path());
    deployed(&shared);
    let mut config = config();
    config.rules = vec![Rule {
        name: "slow".into(),
        kind: AlertKind::Latency,
        model: None,
        above: Some(500.0),
        action: AlertAction::Notify,
    }];
    let mut monitor = Monitor::new(&shared, config);
    for at in [NOW, NOW + 1_000] {
        let mut latency = vec![0; LATENCY_BUCKETS_US.len() + 1];
        *latency.last_mut().expect("buckets") = 300;
        let slow = ServingWindow {
            model: "churn".into(),
            version: 1,
            start_ms: at - 1_000,
            end_ms: at,
            requests: 300,
            errors: 0,
            latency,
            classes: vec![150, 150],
            feedback: 0,
            correct: 0,
        };
        let store = shared.store.sync();
        store
            .insert_windows(&AgentId("ag-1".into()), &[slow], at)
            .expect("window");
        monitor.evaluate(&shared, at);
    }
    let alerts = shared
        .store
        .sync()
        .alerts(true, 10)
        .expect("alerts read back");
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].value, 10_000.0, "the last bucket's bound, in ms");
    assert!(
        alerts[0].detail.contains("over 10000.0 ms"),
        "{}",
        alerts[0].detail
    );

    reactions::react_pending(&shared);
    register(&shared, 2);
    let versions = shared
        .store
        .sync()
        .model_versions("churn")
        .expect("versions");
    assert_eq!(
        versions.len(),
        2,
        "a run that passed its gates after the alert is registered"
    );
}
