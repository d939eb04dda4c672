//! Rendering: pure functions of [`App`] into a frame. No I/O, no mutation.

mod agents;
mod compare;
mod datasets;
mod describe;
mod events;
mod form;
mod help;
mod models;
mod runs;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::app::{App, Connection};
use super::commands::View;
use super::keymap::Mode;
use super::theme;

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
    }
    render_footer(app, frame, footer);
    match app.mode {
        Mode::Help => help::render(app, frame, area),
        Mode::Form => form::render(app, frame, body),
        Mode::Describe => describe::render(app, frame, body),
        _ => {}
    }
}

/// Lines the footer needs: one, or as many as the status message or question takes when
/// wrapped.
fn footer_height(app: &App, width: u16) -> u16 {
    let text = match (&app.status, app.mode) {
        (_, Mode::Confirm) => confirm_text(app),
        (Some((message, _)), Mode::Normal | Mode::Help | Mode::Form | Mode::Describe) => {
            message.clone()
        }
        _ => return 1,
    };
    if width == 0 {
        return 1;
    }
    wrapped_lines(&text, width as usize).clamp(1, MAX_FOOTER as usize) as u16
}

/// The footer while an action waits for a yes or no.
fn confirm_text(app: &App) -> String {
    let question = app.pending.as_ref().map_or("", |(q, _)| q.as_str());
    format!(" {question} y confirms, n or Esc leaves it")
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
    let line = match app.mode {
        Mode::Command => Line::from(format!(":{}█", app.input)),
        Mode::Filter => Line::from(format!("/{}█", app.input)),
        Mode::Confirm => Line::from(Span::styled(confirm_text(app), theme::error(app.color))),
        Mode::Normal | Mode::Help | Mode::Form | Mode::Describe => match &app.status {
            Some((message, true)) => {
                Line::from(Span::styled(message.clone(), theme::error(app.color)))
            }
            Some((message, false)) => Line::from(message.clone()),
            None if !app.filter.is_empty() => {
                Line::from(format!("filter: {}  (Esc clears)", app.filter))
            }
            None => Line::from(Span::styled(hints(app), theme::hint(app.color))),
        },
    };
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
mod tests;
