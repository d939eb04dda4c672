//! Rendering: pure functions of [`App`] into a frame. No I/O, no mutation.

mod agents;
mod alerts;
mod compare;
mod datasets;
mod describe;
mod drift;
mod events;
mod form;
mod help;
mod models;
mod overview;
mod rollouts;
mod runs;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::app::{App, Connection};
use super::commands::View;
use super::keymap::Mode;
use super::theme;
use crate::present::waiting;
use drover_protocol::run::RunStatus;

/// Most lines the footer grows to, to show a long message whole.
const MAX_FOOTER: u16 = 6;

/// Draws the whole console.
pub fn render(app: &App, frame: &mut Frame) {
    let area = frame.area();
    let lost = matches!(app.connection, Connection::Lost { .. });
    let [header, banner, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(u16::from(lost)),
        Constraint::Min(0),
        Constraint::Length(footer_height(app, area.width)),
    ])
    .areas(area);
    render_header(app, frame, header);
    render_banner(app, frame, banner);
    match app.view {
        View::Agents => agents::render(app, frame, body),
        View::Runs => runs::render(app, frame, body),
        View::Compare => compare::render(app, frame, body),
        View::Models => models::render(app, frame, body),
        View::Datasets => datasets::render(app, frame, body),
        View::Events => events::render(app, frame, body),
        View::Rollouts => rollouts::render(app, frame, body),
        View::Overview => overview::render(app, frame, body),
        View::Drift => drift::render(app, frame, body),
        View::Alerts => alerts::render(app, frame, body),
    }
    render_footer(app, frame, footer);
    match app.mode {
        Mode::Help => help::render(app, frame, area),
        Mode::Form => form::render(app, frame, body),
        Mode::Describe => describe::render(app, frame, body),
        _ => {}
    }
}

/// How a footer line looks.
#[derive(Clone, Copy)]
enum Tone {
    Plain,
    Hint,
    Error,
}

/// What the footer says: the open input line, a question, the status message, the filter, why
/// the selected run waits, or the main keys.
fn footer(app: &App) -> (String, Tone) {
    match app.mode {
        Mode::Command => (format!(":{}█", app.input), Tone::Plain),
        Mode::Filter => (format!("/{}█", app.input), Tone::Plain),
        Mode::Confirm => {
            let question = app.pending.as_ref().map_or("", |(q, _)| q.as_str());
            (
                format!(" {question} y confirms, n or Esc leaves it"),
                Tone::Error,
            )
        }
        Mode::Normal | Mode::Help | Mode::Form | Mode::Describe => match &app.status {
            Some((message, true)) => (message.clone(), Tone::Error),
            Some((message, false)) => (message.clone(), Tone::Plain),
            None if !app.filter.is_empty() => {
                (format!("filter: {}  (Esc clears)", app.filter), Tone::Plain)
            }
            None if app.view == View::Runs
                && app
                    .selected_run()
                    .is_some_and(|r| r.status == RunStatus::Queued) =>
            {
                (format!(" {}", waiting::reason(&app.agents)), Tone::Hint)
            }
            None => (hints(app), Tone::Hint),
        },
    }
}

/// Lines the footer needs: what it says, wrapped, up to [`MAX_FOOTER`].
fn footer_height(app: &App, width: u16) -> u16 {
    if width == 0 {
        return 1;
    }
    wrapped_lines(&footer(app).0, width as usize).clamp(1, MAX_FOOTER as usize) as u16
}

/// Lines `text` takes when wrapped at word boundaries to `width` columns.
fn wrapped_lines(text: &str, width: usize) -> usize {
    let mut lines = 1;
    let mut used = 0;
    for word in text.split(' ') {
        let len = word.chars().count();
        let needed = if used == 0 { len } else { used + 1 + len };
        if needed <= width {
            used = needed;
        } else {
            lines += 1 + len.saturating_sub(1) / width.max(1);
            used = len % width.max(1);
        }
    }
    lines
}

fn render_header(app: &App, frame: &mut Frame, area: Rect) {
    let state = match &app.connection {
        Connection::Connecting => "connecting...".to_string(),
        Connection::Live => {
            let (ready, total) = app.agent_counts();
            format!("agents {ready}/{total} ready")
        }
        Connection::Lost { retry_at_ms, .. } => {
            let secs = retry_at_ms.saturating_sub(app.now_ms).div_ceil(1000);
            format!("disconnected, retrying in {secs}s")
        }
    };
    let text = format!(
        " drover │ {} │ {state} │ :{}",
        app.coordinator,
        app.view.name()
    );
    frame.render_widget(Paragraph::new(text).style(theme::header(app.color)), area);
}

/// While the coordinator is unreachable: why, and that the rows below are not live.
fn render_banner(app: &App, frame: &mut Frame, area: Rect) {
    if let Connection::Lost { reason, .. } = &app.connection {
        let text = format!(" not live, showing what the coordinator last said: {reason}");
        frame.render_widget(
            Paragraph::new(Span::styled(text, theme::error(app.color))),
            area,
        );
    }
}

fn render_footer(app: &App, frame: &mut Frame, area: Rect) {
    let (text, tone) = footer(app);
    let style = match tone {
        Tone::Plain => ratatui::style::Style::default(),
        Tone::Hint => theme::hint(app.color),
        Tone::Error => theme::error(app.color),
    };
    let line = Line::from(Span::styled(text, style));
    frame.render_widget(Paragraph::new(line).wrap(Wrap { trim: false }), area);
}

/// The footer's reminder of the main keys, from the key table in force.
fn hints(app: &App) -> String {
    let first = |name: &str| app.keys.first_key(Mode::Normal, name).unwrap_or_default();
    format!(
        " <{}> view  <{}> filter  <{}/{}> move  <{}> help  <{}> quit",
        first("open_command_line"),
        first("open_filter"),
        first("select_next"),
        first("select_previous"),
        first("show_help"),
        first("quit"),
    )
}

#[cfg(test)]
mod drift_tests;
#[cfg(test)]
mod rollout_tests;
#[cfg(test)]
mod tests;
