//! The `?` overlay: the key table in force, as the table says it (so remapped keys show).

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::widgets::{Block, Clear, Row, Table};

use crate::console::app::App;
use crate::console::keymap::Mode;
use crate::console::theme;

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let help = app.keys.help(Mode::Normal);
    let height = (help.len() as u16 + 2).min(area.height);
    let width = 72.min(area.width);
    let popup = area.centered(Constraint::Length(width), Constraint::Length(height));
    let rows = help
        .into_iter()
        .map(|(keys, what)| Row::new([keys, what.to_string()]));
    let table = Table::new(rows, [Constraint::Length(16), Constraint::Min(10)]).block(
        Block::bordered()
            .title(" Keys (Esc closes) ")
            .title_style(theme::column_titles(app.color)),
    );
    frame.render_widget(Clear, popup);
    frame.render_widget(table, popup);
}
