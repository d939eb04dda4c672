//! The store never writes what it cannot read back: every event, alert, decision, drift
//! score and importance window carrying arbitrary floats (NaN, infinities, subnormals,
//! extremes) is written and read back equal; and a record that does not decode is left out,
//! quarantined with an event naming it, and found by the doctor's check until then.

use drover_protocol::drift::{
    Alert, AlertAction, AlertKind, ColumnDrift, DriftReport, ImportanceWindow, Method, Status,
};
use drover_protocol::msg::Event;
use drover_protocol::rollout::{
    Action, Check, Decision, Phase, Rollout, RolloutSpec, Tolerances, Verdict,
};
use drover_protocol::types::AgentId;
use proptest::prelude::*;

use super::Store;
use super::quarantine::check_records;

fn any_float() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(f64::MIN_POSITIVE / 4.0),
        Just(f64::MAX),
        Just(f64::MIN),
        Just(-0.0),
        any::<f64>(),
    ]
}

/// Debug text compares NaN equal to NaN (and tells -0.0 from 0.0), which `==` does not.
fn same<T: std::fmt::Debug>(a: &T, b: &T) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

fn alert(v: [f64; 2]) -> Alert {
    Alert {
        id: 0,
        rule: "latency".into(),
        kind: AlertKind::Latency,
        subject: "churn".into(),
        version: Some(2),
        column: None,
        action: AlertAction::Rollback,
        firing: true,
        fired_ms: 5,
        resolved_ms: None,
        value: v[0],
        bound: v[1],
        detail: "p99".into(),
    }
}

fn decision(v: [f64; 5]) -> Decision {
    Decision {
        at_ms: 9,
        action: Action::Started,
        reason: "start".into(),
        checks: vec![Check {
            metric: "accuracy".into(),
            test: "always-valid".into(),
            candidate_n: 3,
            candidate_value: v[0],
            baseline_n: 4,
            baseline_value: v[1],
            low: Some(v[2]),
            high: Some(v[3]),
            tolerance: v[4],
            verdict: Verdict::Inconclusive,
        }],
    }
}

fn rollout(id: u64, v: [f64; 5]) -> Rollout {
    Rollout {
        id,
        model: "churn".into(),
        baseline: 1,
        candidate: 2,
        spec: RolloutSpec {
            error_rate: v[0],
            tolerances: Tolerances {
                errors: v[1],
                accuracy: v[2],
                latency_p50: v[3],
                latency_p99: v[4],
                ..Tolerances::default()
            },
            ..RolloutSpec::default()
        },
        phase: Phase::Running,
        step: 0,
        since_ms: 1,
        started_ms: 1,
        updated_ms: 1,
    }
}

fn column(v: [f64; 5]) -> ColumnDrift {
    ColumnDrift {
        column: "age".into(),
        method: Method::Psi,
        score: v[0],
        threshold: v[1],
        samples: 7,
        null_share: v[2],
        reference_null_share: v[3],
        invalid_share: v[4],
        status: Status::Drifted,
        reason: String::new(),
        bins: vec!["a".into()],
        reference_shares: vec![v[0]],
        live_shares: vec![v[1]],
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn every_record_with_any_float_reads_back(v in proptest::array::uniform5(any_float())) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("d.db")).expect("open");

        let events = vec![
            Event::TrialFinished { id: "r".into(), trial: 1, total: 2, metric: "log_loss".into(), value: v[0] },
            Event::AlertFired { alert: Box::new(alert([v[1], v[2]])) },
            Event::AlertResolved { alert: Box::new(alert([v[3], v[4]])) },
            Event::RolloutDecided { model: "churn".into(), rollout: 1, candidate: 2, decision: Box::new(decision(v)) },
        ];
        let written: Vec<_> = events.iter().cloned().map(|e| (1, e)).collect();
        store.append_events(written).expect("append");
        let back: Vec<Event> = store.events_after(0, 100).expect("read").into_iter().map(|r| r.event).collect();
        prop_assert!(same(&back, &events));

        let (fired, _) = store.fire_alert(alert([v[0], v[1]])).expect("fire");
        store.resolve_alert(&fired, 10).expect("resolve");
        let alerts = store.alerts(false, 10).expect("alerts");
        prop_assert_eq!(alerts.len(), 1);
        prop_assert!(same(&(alerts[0].value, alerts[0].bound), &(v[0], v[1])));

        let (started, _) = store
            .insert_rollout("churn", |id| (rollout(id, v), decision(v)))
            .expect("insert")
            .expect("no other rollout");
        let decisions = store.rollout_decisions(started.id).expect("decisions");
        prop_assert!(same(&decisions, &vec![decision(v)]));
        let rollouts = store.rollouts(10).expect("rollouts");
        prop_assert!(same(&rollouts[0].spec, &rollout(started.id, v).spec));

        let report = DriftReport { model: "churn".into(), version: 2, at_ms: 3, columns: vec![column(v)], importance: Vec::new(), importance_rows: 0 };
        store.insert_drift(&report).expect("drift");
        let latest = store.latest_drift(Some("churn")).expect("latest");
        prop_assert!(same(&latest[0].columns, &report.columns));

        let window = ImportanceWindow { model: "churn".into(), version: 2, rows: 9, importance: v.to_vec() };
        store.insert_importance(&AgentId("a".into()), std::slice::from_ref(&window), 4).expect("importance");
        let windows: Vec<ImportanceWindow> = store.importance_after(0, 0).expect("read").into_iter().map(|(_, w)| w).collect();
        prop_assert!(same(&windows, &vec![window]));

        let conn = rusqlite::Connection::open(dir.path().join("d.db")).expect("conn");
        prop_assert_eq!(check_records(&conn, 10).expect("check"), Vec::new());
    }
}

#[test]
fn an_undecodable_event_is_left_out_then_quarantined_with_an_event_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("d.db");
    let store = Store::open(&path).expect("open");
    let ok = |id: &str| Event::AgentRemoved {
        id: AgentId(id.into()),
    };
    store.append_events(vec![(1, ok("a"))]).expect("append");
    let raw = rusqlite::Connection::open(&path).expect("conn");
    raw.execute(
        "INSERT INTO events (at_ms, kind, body) VALUES (2, 'alert.fired', '{\"AlertFired\":{\"alert\":7}}')",
        [],
    )
    .expect("a record an older bug could have written");
    store.append_events(vec![(3, ok("b"))]).expect("append");

    let found = check_records(&raw, 10).expect("check");
    assert_eq!(found.len(), 1, "the doctor's check names it: {found:?}");
    assert_eq!((found[0].table, found[0].row), ("events", 2));

    let read = store.events_after(0, 10).expect("the log reads past it");
    assert_eq!(
        read.iter().map(|r| r.seq).collect::<Vec<_>>(),
        [1, 3],
        "the bad event is left out, the one after it is not"
    );
    let moved = store.quarantine_pending(4).expect("quarantine");
    assert_eq!(moved.len(), 1);
    assert!(
        matches!(&moved[0].event, Event::RecordQuarantined { table, row: 2, .. } if table == "events")
    );
    assert_eq!(store.quarantined().expect("count"), 1);
    assert!(check_records(&raw, 10).expect("check").is_empty());
    assert!(
        store.quarantine_pending(5).expect("again").is_empty(),
        "moved once"
    );
    let kinds: Vec<&str> = store
        .events_after(0, 10)
        .expect("read")
        .iter()
        .map(|r| r.event.kind())
        .collect();
    assert_eq!(
        kinds,
        ["agent.removed", "agent.removed", "store.quarantined"]
    );
}

#[test]
fn a_record_that_would_not_read_back_is_refused_not_written() {
    #[derive(serde::Serialize, serde::Deserialize)]
    struct Plain {
        v: f64,
    }
    let refused = super::json(&Plain { v: f64::INFINITY });
    assert!(
        matches!(refused, Err(super::StoreError::Unwritable(_))),
        "serde_json writes the infinity as null, which would not read back"
    );
    assert!(super::json(&Plain { v: 1.5 }).is_ok());
}
