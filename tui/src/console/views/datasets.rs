//! The Datasets view: every dataset with its latest version's shape, size and content hash.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::widgets::{Block, Row, Table, TableState};

use crate::console::app::App;
use crate::console::theme;
use crate::present::{age, size};

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let datasets = app.visible_datasets();
    let rows = datasets.iter().map(|d| {
        Row::new(vec![
            d.name.clone(),
            format!("@{} of {}", d.latest, d.versions),
            d.rows.to_string(),
            d.columns.to_string(),
            size(d.size_bytes),
            d.hash.chars().take(12).collect(),
            age(Some(d.created_ms), app.now_ms),
        ])
    });
    let header = Row::new([
        "DATASET", "LATEST", "ROWS", "COLS", "SIZE", "BLAKE3", "ADDED",
    ])
    .style(theme::column_titles(app.color));
    let widths = [
        Constraint::Fill(1),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(4),
        Constraint::Length(9),
        Constraint::Length(12),
        Constraint::Length(8),
    ];
    let table = Table::new(rows, widths)
        .header(header)
        .block(Block::bordered().title(format!(" Datasets ({}) ", datasets.len())))
        .row_highlight_style(theme::selected(app.color))
        .column_spacing(1);
    let mut state =
        TableState::default().with_selected((!datasets.is_empty()).then_some(app.selected));
    frame.render_stateful_widget(table, area, &mut state);
}
