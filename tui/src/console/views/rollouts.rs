//! The Rollouts view: the newest rollouts, and below, the selected one: its step progress,
//! live weights, each version's traffic as sparklines (requests, errors, p99, accuracy), the
//! latest analysis and the decision log with reasons. `P` pauses or resumes, `p` promotes,
//! `x` aborts, each after a question.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph, Row, Table, TableState};

use crate::console::app::App;
use crate::console::theme;
use crate::present::rollout as present;
use crate::present::{age, rollout::clipped};

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let [top, bottom] =
        Layout::vertical([Constraint::Percentage(30), Constraint::Fill(1)]).areas(area);
    let rollouts = app.visible_rollouts();
    let rows = rollouts.iter().map(|s| {
        let r = &s.rollout;
        Row::new(vec![
            r.id.to_string(),
            r.model.clone(),
            format!("@{} -> @{}", r.baseline, r.candidate),
            r.spec.strategy.to_string(),
            present::stage(s),
            present::weights(s),
            age(Some(r.updated_ms), app.now_ms),
        ])
    });
    let header = Row::new([
        "ID", "MODEL", "VERSIONS", "STRATEGY", "STAGE", "WEIGHTS", "UPDATED",
    ])
    .style(theme::column_titles(app.color));
    let widths = [
        Constraint::Length(3),
        Constraint::Fill(1),
        Constraint::Length(9),
        Constraint::Length(9),
        Constraint::Fill(2),
        Constraint::Length(15),
        Constraint::Length(8),
    ];
    let table = Table::new(rows, widths)
        .header(header)
        .block(Block::bordered().title(format!(" Rollouts ({}) ", rollouts.len())))
        .row_highlight_style(theme::selected(app.color));
    let mut state =
        TableState::default().with_selected((!rollouts.is_empty()).then_some(app.selected));
    frame.render_stateful_widget(table, top, &mut state);

    let width = bottom.width.saturating_sub(2) as usize;
    let lines = detail(app, width);
    let title = app.selected_rollout().map_or(" Rollout ".into(), |s| {
        format!(" Rollout {} of {} ", s.rollout.id, s.rollout.model)
    });
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(title)),
        bottom,
    );
}

/// The selected rollout's lines, newest decision first.
fn detail(app: &App, width: usize) -> Vec<Line<'static>> {
    let Some(listed) = app.selected_rollout() else {
        return vec![Line::from(
            " no rollout yet: :rollout needs one started (drover rollout start MODEL --candidate N)",
        )];
    };
    let full = app
        .rollouts
        .selected
        .as_ref()
        .filter(|s| s.rollout.id == listed.rollout.id)
        .unwrap_or(listed);
    let r = &full.rollout;
    let mut lines = vec![
        Line::from(format!(
            " {}  {}  weights {}",
            present::progress(full),
            present::stage(full),
            present::weights(full)
        )),
        Line::from(""),
    ];
    let spark_width = (width.saturating_sub(40) / 2).clamp(4, 40);
    for version in [r.baseline, r.candidate] {
        for line in present::version_sparks(&app.rollouts.history, version, spark_width) {
            lines.push(Line::from(format!(" {line}")));
        }
    }
    if !r.phase.is_final() && !full.analysis.is_empty() {
        lines.push(Line::from(""));
        lines.push(Line::from(" now:"));
        for check in &full.analysis {
            lines.push(Line::from(format!(
                "  {}",
                clipped(&present::check_short(check), width.saturating_sub(2))
            )));
        }
    }
    lines.push(Line::from(""));
    lines.push(Line::from(" decisions (newest first):"));
    for decision in full.decisions.iter().rev() {
        lines.push(Line::from(format!(
            " {}",
            clipped(&present::decision(decision, app.now_ms), width)
        )));
    }
    lines
}
