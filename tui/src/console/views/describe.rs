//! The describe pane: the selected row's details over the view, wrapped to fit; a queued
//! run's says why it waits, from the agents the console knows, and an agent's what it serves.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use drover_protocol::run::RunStatus;

use crate::console::app::App;
use crate::console::describe;
use crate::console::theme;
use crate::present::waiting;

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let Some(described) = &app.described else {
        return;
    };
    let (title, mut lines) = describe::lines(described, app.now_ms);
    if let describe::Described::Run(_, Some(run)) = described
        && run.summary.status == RunStatus::Queued
    {
        lines.insert(1, waiting::reason(&app.agents));
    }
    if let describe::Described::Agent(agent, _) = described {
        let serves = crate::present::serving::agent_serves(&app.deployments, &agent.id);
        if serves.is_empty() {
            lines.push("serves     nothing".into());
        } else {
            lines.push("serves".into());
            lines.extend(serves.into_iter().map(|s| format!("  {s}")));
        }
    }
    let popup = area.centered(
        Constraint::Length(area.width.saturating_sub(2)),
        Constraint::Length(area.height.saturating_sub(1)),
    );
    let pane = Paragraph::new(lines.join("\n"))
        .wrap(Wrap { trim: false })
        .block(
            Block::bordered()
                .title(title)
                .title_bottom(" Esc closes ")
                .title_style(theme::column_titles(app.color)),
        );
    frame.render_widget(Clear, popup);
    frame.render_widget(pane, popup);
}
