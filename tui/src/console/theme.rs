//! Styles, with and without colour (`NO_COLOR` turns colour off; emphasis stays).

use drover_protocol::types::AgentStatus;
use ratatui::style::{Color, Modifier, Style};

/// True unless `NO_COLOR` is set to a non-empty value.
pub fn color_enabled() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The header line.
pub fn header(color: bool) -> Style {
    let style = Style::new().add_modifier(Modifier::BOLD);
    if color {
        style.fg(Color::Black).bg(Color::Cyan)
    } else {
        style.add_modifier(Modifier::REVERSED)
    }
}

/// Table column titles.
pub fn column_titles(color: bool) -> Style {
    let style = Style::new().add_modifier(Modifier::BOLD);
    if color { style.fg(Color::Cyan) } else { style }
}

/// The selected row.
pub fn selected(color: bool) -> Style {
    if color {
        Style::new()
            .bg(Color::DarkGray)
            .add_modifier(Modifier::BOLD)
    } else {
        Style::new().add_modifier(Modifier::REVERSED)
    }
}

/// An agent status cell.
pub fn status(status: AgentStatus, color: bool) -> Style {
    match (status, color) {
        (AgentStatus::Ready, true) => Style::new().fg(Color::Green),
        (AgentStatus::Lost, true) => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        (AgentStatus::Lost, false) => Style::new().add_modifier(Modifier::BOLD),
        (AgentStatus::Ready, false) => Style::new(),
        (AgentStatus::Draining, true) => Style::new().fg(Color::Yellow),
        (AgentStatus::Draining, false) => Style::new().add_modifier(Modifier::ITALIC),
    }
}

/// A run status cell.
pub fn run_status(status: drover_protocol::run::RunStatus, color: bool) -> Style {
    use drover_protocol::run::RunStatus;
    match (status, color) {
        (RunStatus::Succeeded, true) => Style::new().fg(Color::Green),
        (RunStatus::Running, true) => Style::new().fg(Color::Cyan),
        (RunStatus::Failed, true) => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        (RunStatus::Failed, false) => Style::new().add_modifier(Modifier::BOLD),
        _ => Style::new(),
    }
}

/// A drift status cell: drifted red (bold without colour), stable green, inconclusive grey.
pub fn drift_status(status: drover_protocol::drift::Status, color: bool) -> Style {
    use drover_protocol::drift::Status;
    match (status, color) {
        (Status::Drifted, true) => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        (Status::Drifted, false) => Style::new().add_modifier(Modifier::BOLD),
        (Status::Stable, true) => Style::new().fg(Color::Green),
        (Status::Inconclusive, true) => Style::new().fg(Color::DarkGray),
        _ => Style::new(),
    }
}

/// The status line when it carries an error.
pub fn error(color: bool) -> Style {
    if color {
        Style::new().fg(Color::Red)
    } else {
        Style::new().add_modifier(Modifier::BOLD)
    }
}

/// Key hints and other quiet text.
pub fn hint(color: bool) -> Style {
    if color {
        Style::new().fg(Color::DarkGray)
    } else {
        Style::new()
    }
}
