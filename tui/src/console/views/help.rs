//! The `?` overlay: the key table in force, as the table says it (so remapped keys show),
//! scrolled with j/k when it is taller than the screen.

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
    let shown = height.saturating_sub(2) as usize;
    let scroll = app.help_scroll.min(help.len().saturating_sub(shown));
    let title = if help.len() > shown {
        format!(
            " Keys {}-{} of {} (j/k scroll, Esc closes) ",
            scroll + 1,
            (scroll + shown).min(help.len()),
            help.len()
        )
    } else {
        " Keys (Esc closes) ".to_string()
    };
    let rows = help
        .into_iter()
        .skip(scroll)
        .map(|(keys, what)| Row::new([keys, what.to_string()]));
    let table = Table::new(rows, [Constraint::Length(16), Constraint::Min(10)]).block(
        Block::bordered()
            .title(title)
            .title_style(theme::column_titles(app.color)),
    );
    frame.render_widget(Clear, popup);
    frame.render_widget(table, popup);
}
