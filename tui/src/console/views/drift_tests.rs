//! Frames of the Drift and Alerts views at 80x24 (insta): the drifted columns first in their
//! colour with their scores, thresholds and history, the selected column's histograms side
//! by side, and the alerts with their state.

use drover_protocol::drift::{
    Alert, AlertAction, AlertKind, ColumnDrift, DriftPoint, DriftReport, Method, Status,
};

use super::tests::{NOW, app, draw};
use crate::console::action::Action;
use crate::console::app::App;
use crate::console::commands::View;
use crate::console::fetch::Monitoring;

fn column(name: &str, status: Status, score: f64, live: [f64; 3]) -> ColumnDrift {
    ColumnDrift {
        column: name.into(),
        method: Method::Wasserstein,
        score,
        threshold: 0.08,
        samples: 2_400,
        null_share: 0.0,
        reference_null_share: 0.0,
        invalid_share: 0.0,
        status,
        reason: if status == Status::Drifted {
            format!("wasserstein {score:.4} > 0.0800")
        } else {
            String::new()
        },
        bins: vec!["< 40".into(), "40..80".into(), ">= 80".into()],
        reference_shares: vec![0.33, 0.34, 0.33],
        live_shares: live.to_vec(),
    }
}

fn monitoring() -> Monitoring {
    let columns = vec![
        column("monthly_charges", Status::Drifted, 0.41, [0.1, 0.3, 0.6]),
        column("contract", Status::Drifted, 0.22, [0.2, 0.3, 0.5]),
        column("tenure_months", Status::Stable, 0.03, [0.33, 0.34, 0.33]),
        column("prediction", Status::Inconclusive, 0.0, [0.0, 0.0, 0.0]),
    ];
    let history = (0..10)
        .flat_map(|i| {
            [
                ("monthly_charges", 0.02 + 0.04 * i as f64),
                ("tenure_months", 0.03),
            ]
            .map(|(c, score)| DriftPoint {
                column: c.into(),
                at_ms: NOW - 100_000 + i * 10_000,
                score,
                threshold: 0.08,
                status: Status::Stable,
            })
        })
        .collect();
    Monitoring {
        reports: vec![DriftReport {
            model: "churn".into(),
            version: 1,
            at_ms: NOW - 5_000,
            columns,
            importance: Vec::new(),
            importance_rows: 0,
        }],
        alerts: vec![
            Alert {
                id: 2,
                rule: "drift".into(),
                kind: AlertKind::Drift,
                subject: "churn".into(),
                version: Some(1),
                column: Some("monthly_charges".into()),
                action: AlertAction::Retrain,
                firing: true,
                fired_ms: NOW - 30_000,
                resolved_ms: None,
                value: 0.41,
                bound: 0.08,
                detail: "wasserstein 0.4100 > 0.0800 (2400 values)".into(),
            },
            Alert {
                id: 1,
                rule: "latency".into(),
                kind: AlertKind::Latency,
                subject: "churn".into(),
                version: Some(1),
                column: None,
                action: AlertAction::Notify,
                firing: false,
                fired_ms: NOW - 600_000,
                resolved_ms: Some(NOW - 500_000),
                value: 1_200.0,
                bound: 1_000.0,
                detail: "p99 1200.0 ms over 5000 requests".into(),
            },
        ],
        history,
    }
}

fn monitoring_app(view: usize) -> App {
    let mut app = app();
    app.update(Action::GoToView(view));
    app.monitoring = monitoring();
    app
}

#[test]
fn the_drift_view_shows_drifted_columns_first_with_history_and_histograms() {
    let app = monitoring_app(8);
    assert_eq!(app.view, View::Drift);
    let (_, selected) = app.selected_drift().expect("a column is selected");
    assert_eq!(selected.column, "monthly_charges", "the worst first");
    insta::assert_snapshot!(draw(&app).backend());
}

#[test]
fn the_alerts_view_shows_firing_and_resolved_alerts() {
    let app = monitoring_app(9);
    assert_eq!(app.view, View::Alerts);
    assert_eq!(app.visible_alerts().len(), 2);
    insta::assert_snapshot!(draw(&app).backend());
}

#[test]
fn the_overview_counts_drifted_columns_and_firing_alerts() {
    let app = monitoring_app(7);
    let frame = format!("{:?}", draw(&app).backend());
    assert!(frame.contains("drift: 2 columns drifted"), "{frame}");
    assert!(frame.contains("alerts: 1 firing"), "{frame}");
}
