//! The Agents view: one row per enrolled agent, live.

use drover_protocol::types::format_labels;
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Text;
use ratatui::widgets::{Block, Cell, Row, Table, TableState};

use crate::cli::age;
use crate::console::app::App;
use crate::console::theme;

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let agents = app.visible_agents();
    let rows = agents.iter().map(|a| {
        let cpu = a
            .load
            .map_or_else(|| "-".to_string(), |l| format!("{:.0}%", l.cpu_percent));
        Row::new(vec![
            Cell::from(a.id.to_string()),
            Cell::from(a.hostname.clone()),
            Cell::from(Text::styled(
                a.status.to_string(),
                theme::status(a.status, app.color),
            )),
            Cell::from(age(a.last_heartbeat_ms, app.now_ms)),
            Cell::from(cpu),
            Cell::from(format_labels(&a.labels)),
            Cell::from(a.version.clone()),
            Cell::from(a.address.clone()),
        ])
    });
    let header = Row::new([
        "ID",
        "HOST",
        "STATUS",
        "HEARTBEAT",
        "CPU",
        "LABELS",
        "VERSION",
        "ADDRESS",
    ])
    .style(theme::column_titles(app.color));
    let widths = [
        Constraint::Length(15),
        Constraint::Min(8),
        Constraint::Length(6),
        Constraint::Length(9),
        Constraint::Length(4),
        Constraint::Min(10),
        Constraint::Length(7),
        Constraint::Min(12),
    ];
    let title = if app.filter.is_empty() {
        format!(" Agents ({}) ", agents.len())
    } else {
        format!(
            " Agents ({} of {}) /{} ",
            agents.len(),
            app.agents.len(),
            app.filter
        )
    };
    let table = Table::new(rows, widths)
        .header(header)
        .block(Block::bordered().title(title))
        .row_highlight_style(theme::selected(app.color))
        .column_spacing(1);
    let mut state =
        TableState::default().with_selected((!agents.is_empty()).then_some(app.selected));
    frame.render_stateful_widget(table, area, &mut state);
}
