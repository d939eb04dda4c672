//! The Events view: the fleet's events as they arrive, newest first.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::widgets::{Block, Row, Table, TableState};

use crate::console::app::App;
use crate::console::theme;
use crate::present::age;

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let events = app.visible_events();
    let rows = events.iter().map(|e| {
        Row::new(vec![
            e.seq.to_string(),
            age(Some(e.at_ms), app.now_ms),
            e.event.kind().to_string(),
            e.event.describe(),
        ])
    });
    let header = Row::new(["SEQ", "WHEN", "KIND", "WHAT"]).style(theme::column_titles(app.color));
    let widths = [
        Constraint::Length(6),
        Constraint::Length(8),
        Constraint::Length(15),
        Constraint::Min(20),
    ];
    let table = Table::new(rows, widths)
        .header(header)
        .block(Block::bordered().title(format!(" Events ({}) ", events.len())))
        .row_highlight_style(theme::selected(app.color));
    let mut state =
        TableState::default().with_selected((!events.is_empty()).then_some(app.selected));
    frame.render_stateful_widget(table, area, &mut state);
}
