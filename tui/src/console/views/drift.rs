//! The Drift view: every served version's columns, worst first, each with its current
//! score against its calibrated threshold (its bound), status colour, sample count and a sparkline of
//! its score over the last half hour; below, the selected column's reference and live
//! histograms side by side.

use drover_protocol::drift::{ColumnDrift, Status};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, TableState};

use crate::console::app::App;
use crate::console::theme;
use crate::present::rollout::{clipped, spark};

/// Points of a column's sparkline.
const SPARK: usize = 12;

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let [top, bottom] =
        Layout::vertical([Constraint::Percentage(55), Constraint::Fill(1)]).areas(area);
    let columns = app.visible_drift();
    let several = app.monitoring.reports.len() > 1;
    let selected_version = app
        .selected_drift()
        .map(|(r, _)| (r.model.clone(), r.version));
    let rows = columns.iter().map(|(r, c)| {
        let history = if selected_version.as_ref() == Some(&(r.model.clone(), r.version)) {
            sparkline(app, &c.column)
        } else {
            String::new()
        };
        let name = if several {
            format!("{}@{} {}", r.model, r.version, c.column)
        } else {
            c.column.clone()
        };
        Row::new(vec![
            Cell::from(name),
            Cell::from(c.status.to_string()).style(theme::drift_status(c.status, app.color)),
            Cell::from(c.method.to_string()),
            Cell::from(format!("{:.3}", c.score)),
            Cell::from(threshold(c)),
            Cell::from(c.samples.to_string()),
            Cell::from(history),
        ])
    });
    let header = Row::new([
        "COLUMN", "STATUS", "METHOD", "SCORE", "BOUND", "VALUES", "HISTORY",
    ])
    .style(theme::column_titles(app.color));
    let widths = [
        Constraint::Fill(1),
        Constraint::Length(12),
        Constraint::Length(11),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(SPARK as u16),
    ];
    let drifted = columns
        .iter()
        .filter(|(_, c)| c.status == Status::Drifted)
        .count();
    let table = Table::new(rows, widths)
        .header(header)
        .block(
            Block::bordered().title(match (several, app.monitoring.reports.first()) {
                (false, Some(r)) => format!(
                    " Drift of {}@{} ({drifted} of {} columns drifted) ",
                    r.model,
                    r.version,
                    columns.len()
                ),
                _ => format!(" Drift ({drifted} of {} columns drifted) ", columns.len()),
            }),
        )
        .row_highlight_style(theme::selected(app.color));
    let mut state =
        TableState::default().with_selected((!columns.is_empty()).then_some(app.selected));
    frame.render_stateful_widget(table, top, &mut state);

    let width = bottom.width.saturating_sub(2) as usize;
    let (title, lines) = match app.selected_drift() {
        Some((r, c)) => (
            format!(
                " {} of {}@{}: reference | live ",
                c.column, r.model, r.version
            ),
            histograms(app, c, width),
        ),
        None => (
            " Histograms ".into(),
            vec![Line::from(
                " no drift evaluated yet: deploy a model trained by drover and send it traffic",
            )],
        ),
    };
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(title)),
        bottom,
    );
}

fn threshold(c: &ColumnDrift) -> String {
    if c.threshold.is_finite() {
        format!("{:.3}", c.threshold)
    } else {
        "-".into()
    }
}

/// The column's scores over time, from the selected version's history.
fn sparkline(app: &App, column: &str) -> String {
    let scores: Vec<Option<f64>> = app
        .monitoring
        .history
        .iter()
        .filter(|p| p.column == column)
        .map(|p| Some(p.score))
        .collect();
    let from = scores.len().saturating_sub(SPARK);
    spark(&scores[from..])
}

/// One line per bin: its name, the reference share as a bar, the live share as a bar.
fn histograms(app: &App, c: &ColumnDrift, width: usize) -> Vec<Line<'static>> {
    let name_width = c
        .bins
        .iter()
        .map(|b| b.chars().count())
        .max()
        .unwrap_or(4)
        .min(24);
    let bar = (width.saturating_sub(name_width + 20) / 2).clamp(4, 40);
    let draw = |share: f64| {
        let filled = (share * bar as f64 * 2.0).round().min(bar as f64) as usize;
        format!("{:<bar$} {:>5.1}%", "█".repeat(filled), share * 100.0)
    };
    let mut lines: Vec<Line<'static>> = c
        .bins
        .iter()
        .zip(c.reference_shares.iter().zip(&c.live_shares))
        .map(|(name, (r, l))| {
            let moved = (l - r).abs() > 0.05;
            let live = Span::styled(
                draw(*l),
                if moved {
                    theme::drift_status(Status::Drifted, app.color)
                } else {
                    Default::default()
                },
            );
            Line::from(vec![
                Span::raw(format!(" {:<name_width$} ", clipped(name, name_width))),
                Span::raw(draw(*r)),
                Span::raw(" | "),
                live,
            ])
        })
        .collect();
    lines.push(Line::from(format!(
        " missing {:.1}% (reference {:.1}%), NaN/infinite/unseen {:.1}%  {}",
        c.null_share * 100.0,
        c.reference_null_share * 100.0,
        c.invalid_share * 100.0,
        c.reason
    )));
    lines
}
