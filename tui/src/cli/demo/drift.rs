//! The demo's last act: the customers change. New labelled customers with higher charges,
//! more month-to-month contracts and more support calls arrive as the newest version of the
//! dataset, and traffic shifts to them. The coordinator sees the drift on exactly the
//! features that moved (and on the predictions), an alert fires, and its rule's action
//! retrains the model on the newest data.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{Context, bail};
use drover_coordinator::drift::config::{Monitoring, Rule};
use drover_protocol::drift::{AlertAction, AlertKind, Status};
use drover_protocol::msg::{Event, OperatorRequest, OperatorResponse};

use super::story::{Scene, add, request};
use super::traffic::{Totals, Traffic};
use crate::cli::synth::{ChurnOptions, churn};

/// The columns `drover data synth churn --drift` moves, and the predictions that follow.
pub const MOVED: [&str; 5] = [
    "monthly_charges",
    "total_charges",
    "contract",
    "support_calls",
    "prediction",
];
const PATIENCE: Duration = Duration::from_secs(180);

/// How the demo's coordinator monitors: a short window scored every second, few false alarms,
/// and drift on `churn` retrains it.
pub fn monitoring() -> Monitoring {
    Monitoring {
        window: Duration::from_secs(15),
        every: Duration::from_secs(1),
        min_samples: 300,
        false_alarm: 0.001,
        rules: vec![Rule {
            name: "drift-retrain".into(),
            kind: AlertKind::Drift,
            model: Some("churn".into()),
            above: None,
            action: AlertAction::Retrain,
        }],
        ..Monitoring::default()
    }
}

/// Shifts the traffic to changed customers until drift alerts and the retrained version is
/// registered; the traffic it sent.
pub async fn tell(scene: &Scene<'_>, rows: usize) -> anyhow::Result<Totals> {
    let say = |line: String| (scene.say)(line);
    let mut csv = Vec::new();
    churn(
        ChurnOptions {
            rows,
            seed: 8,
            drift: 1.0,
        },
        &mut csv,
    )?;
    let dir = scene.ctx.data_dir.join("demo");
    add(scene, "churn", &dir.join("churn-new.csv"), &csv).await?;
    say(format!(
        "the customers change: {rows} new labelled customers as churn@2 (drover data synth churn --drift): higher charges, more month-to-month contracts, more support calls; traffic now comes from them"
    ));
    let mut events = scene.handle.subscribe();
    let traffic = Traffic::start(scene.ctx, scene.target()?, "churn", "churn@2", scene.rps).await?;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut alerted = BTreeSet::new();
    let retrained = loop {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .context("no drift alert and retrain in time")?;
        let Ok(record) = event else { continue };
        match &record.event {
            Event::AlertFired { alert } => {
                say(format!("alert {}: {}", alert.id, alert.line()));
                alerted.extend(alert.column.clone());
            }
            Event::RunQueued { id, .. } => say(format!(
                "the alert's action queued run {id}: churn retrained on churn@2"
            )),
            Event::ModelRegistered { model, version, .. } if model == "churn" && *version > 3 => {
                break *version;
            }
            _ => {}
        }
    };
    let totals = traffic.stop().await?;
    let OperatorResponse::Drift(reports) = request(
        scene,
        OperatorRequest::DriftStatus {
            model: Some("churn".into()),
        },
    )
    .await?
    else {
        bail!("no drift status");
    };
    let columns = |status: Status| -> Vec<String> {
        reports
            .iter()
            .filter(|r| r.version == 3)
            .flat_map(|r| &r.columns)
            .filter(|c| c.status == status)
            .map(|c| {
                format!(
                    "{} ({} {:.3} > {:.3})",
                    c.column, c.method, c.score, c.threshold
                )
            })
            .collect()
    };
    say(format!(
        "drift of churn@3: drifted {}",
        columns(Status::Drifted).join(", ")
    ));
    let stable: Vec<String> = reports
        .iter()
        .filter(|r| r.version == 3)
        .flat_map(|r| &r.columns)
        .filter(|c| c.status == Status::Stable)
        .map(|c| c.column.clone())
        .collect();
    say(format!("stable: {}", stable.join(", ")));
    say(format!(
        "retrained on the newest data and registered churn@{retrained}"
    ));
    let unexpected: Vec<&String> = alerted
        .iter()
        .filter(|c| !MOVED.contains(&c.as_str()))
        .collect();
    if alerted.is_empty() || !unexpected.is_empty() {
        bail!("drift alerted on {alerted:?}; of those, {unexpected:?} never moved");
    }
    Ok(totals)
}
