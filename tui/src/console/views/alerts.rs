//! The Alerts view: the newest alerts, firing first in red, with their rule, subject,
//! column, action and the numbers that fired them.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::widgets::{Block, Cell, Row, Table, TableState};

use crate::console::app::App;
use crate::console::theme;
use crate::present::age;

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let alerts = app.visible_alerts();
    let rows = alerts.iter().map(|a| {
        let state = if a.firing {
            Cell::from("FIRING").style(theme::error(app.color))
        } else {
            Cell::from("resolved")
        };
        Row::new(vec![
            Cell::from(a.id.to_string()),
            state,
            Cell::from(a.kind.to_string()),
            Cell::from(format!(
                "{}{}",
                a.subject,
                a.version.map(|v| format!("@{v}")).unwrap_or_default()
            )),
            Cell::from(a.column.clone().unwrap_or_else(|| "-".into())),
            Cell::from(age(Some(a.fired_ms), app.now_ms)),
            Cell::from(a.action.to_string()),
            Cell::from(a.detail.clone()),
        ])
    });
    let header = Row::new([
        "ID", "STATE", "KIND", "SUBJECT", "COLUMN", "FIRED", "ACTION", "DETAIL",
    ])
    .style(theme::column_titles(app.color));
    let widths = [
        Constraint::Length(4),
        Constraint::Length(8),
        Constraint::Length(10),
        Constraint::Fill(1),
        Constraint::Fill(1),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Fill(3),
    ];
    let firing = alerts.iter().filter(|a| a.firing).count();
    let table = Table::new(rows, widths)
        .header(header)
        .block(Block::bordered().title(format!(
            " Alerts ({firing} firing, {} in all) ",
            alerts.len()
        )))
        .row_highlight_style(theme::selected(app.color));
    let mut state =
        TableState::default().with_selected((!alerts.is_empty()).then_some(app.selected));
    frame.render_stateful_widget(table, area, &mut state);
}
