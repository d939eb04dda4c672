//! Rendering: pure functions of [`App`] into a frame. No I/O, no mutation.

mod agents;
mod events;
mod help;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::app::{App, Mode, View};
use super::theme;

/// Draws the whole console.
pub fn render(app: &App, frame: &mut Frame) {
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    render_header(app, frame, header);
    match app.view {
        View::Agents => agents::render(app, frame, body),
        View::Events => events::render(app, frame, body),
    }
    render_footer(app, frame, footer);
    if app.mode == Mode::Help {
        help::render(app, frame, body);
    }
}

fn render_header(app: &App, frame: &mut Frame, area: Rect) {
    let (ready, total) = app.agent_counts();
    let text = format!(
        " drover │ {} │ agents {ready}/{total} ready │ :{}",
        app.coordinator,
        app.view.name()
    );
    frame.render_widget(Paragraph::new(text).style(theme::header(app.color)), area);
}

fn render_footer(app: &App, frame: &mut Frame, area: Rect) {
    let line = match app.mode {
        Mode::Command => Line::from(format!(":{}█", app.input)),
        Mode::Filter => Line::from(format!("/{}█", app.input)),
        Mode::Normal | Mode::Help => match &app.status {
            Some(message) => Line::from(Span::styled(message.clone(), theme::error(app.color))),
            None if !app.filter.is_empty() => {
                Line::from(format!("filter: {}  (Esc clears)", app.filter))
            }
            None => Line::from(Span::styled(
                " <:> view  </> filter  <j/k> move  <?> help  <q> quit",
                theme::hint(app.color),
            )),
        },
    };
    frame.render_widget(Paragraph::new(line), area);
}
