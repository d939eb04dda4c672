//! The Overview view, the console's first screen once anything is deployed: fleet health,
//! what is deployed and its traffic, the rollouts under way, drift and alert counts, and the
//! latest decisions.

use drover_protocol::msg::Event;
use drover_protocol::types::AgentStatus;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph};

use crate::console::app::App;
use crate::present::rollout::{self as present, clipped};
use crate::present::{age, serving};

/// Most decisions the overview lists.
const DECISIONS: usize = 8;

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let [fleet, deployed, rollouts, decisions] = Layout::vertical([
        Constraint::Length(4),
        Constraint::Percentage(30),
        Constraint::Percentage(25),
        Constraint::Fill(1),
    ])
    .areas(area);
    let width = area.width.saturating_sub(2) as usize;
    let (ready, total) = app.agent_counts();
    let lost: Vec<String> = app
        .agents
        .iter()
        .filter(|a| a.status == AgentStatus::Lost)
        .map(|a| a.id.to_string())
        .collect();
    let health = if lost.is_empty() {
        format!(" {ready}/{total} agents ready")
    } else {
        format!(" {ready}/{total} agents ready; lost: {}", lost.join(", "))
    };
    let drifted = app
        .monitoring
        .reports
        .iter()
        .flat_map(|r| &r.columns)
        .filter(|c| c.status == drover_protocol::drift::Status::Drifted)
        .count();
    let firing = app.monitoring.alerts.iter().filter(|a| a.firing).count();
    let watch =
        format!(" drift: {drifted} columns drifted  |  alerts: {firing} firing (:drift, :alerts)");
    frame.render_widget(
        Paragraph::new(vec![
            Line::from(clipped(&health, width)),
            Line::from(clipped(&watch, width)),
        ])
        .block(Block::bordered().title(" Fleet ")),
        fleet,
    );

    let mut lines: Vec<Line> = Vec::new();
    for status in &app.deployments {
        let d = &status.deployment;
        let versions: Vec<String> = d
            .variants
            .iter()
            .map(|v| {
                serving::version_served(&app.deployments, &d.model, v.version).map_or_else(
                    || format!("@{}", v.version),
                    |s| format!("@{} {s}", v.version),
                )
            })
            .collect();
        lines.push(Line::from(clipped(
            &format!(" {}  {}", d.model, versions.join("  ")),
            width,
        )));
        for rate in &status.rates {
            lines.push(Line::from(clipped(
                &format!(
                    "   {} @{}  {}",
                    rate.agent,
                    rate.version,
                    serving::rate(rate)
                ),
                width,
            )));
        }
    }
    if lines.is_empty() {
        lines.push(Line::from(
            " nothing is deployed (drover models deploy MODEL@N)",
        ));
    }
    frame.render_widget(
        Paragraph::new(lines)
            .block(Block::bordered().title(format!(" Deployments ({}) ", app.deployments.len()))),
        deployed,
    );

    let running: Vec<Line> = app
        .rollouts
        .list
        .iter()
        .filter(|s| !s.rollout.phase.is_final())
        .map(|s| {
            Line::from(clipped(
                &format!(
                    " {} @{} -> @{}  {}  {}  {}",
                    s.rollout.model,
                    s.rollout.baseline,
                    s.rollout.candidate,
                    s.rollout.spec.strategy,
                    present::stage(s),
                    present::weights(s)
                ),
                width,
            ))
        })
        .collect();
    let count = running.len();
    let running = if running.is_empty() {
        vec![Line::from(" no rollout under way")]
    } else {
        running
    };
    frame.render_widget(
        Paragraph::new(running)
            .block(Block::bordered().title(format!(" Rollouts under way ({count}) "))),
        rollouts,
    );

    let latest: Vec<Line> = app
        .events
        .iter()
        .rev()
        .filter(|e| {
            matches!(
                e.event,
                Event::RolloutDecided { .. }
                    | Event::AgentLost { .. }
                    | Event::AlertFired { .. }
                    | Event::AlertResolved { .. }
                    | Event::RecordQuarantined { .. }
                    | Event::AgentDisagrees { .. }
                    | Event::AgentLeftOut { .. }
            )
        })
        .take(DECISIONS)
        .map(|e| {
            Line::from(clipped(
                &format!(
                    " {:>7}  {}",
                    age(Some(e.at_ms), app.now_ms),
                    e.event.describe()
                ),
                width,
            ))
        })
        .collect();
    let latest = if latest.is_empty() {
        vec![Line::from(" nothing decided yet")]
    } else {
        latest
    };
    frame.render_widget(
        Paragraph::new(latest).block(Block::bordered().title(" Latest decisions and alerts ")),
        decisions,
    );
}
