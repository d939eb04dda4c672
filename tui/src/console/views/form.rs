//! The launch form overlay (`n`): dataset and algorithm cycle with ← →, target and search are
//! typed, Tab moves, Enter queues the run.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use crate::console::app::App;
use crate::console::form::{ALGORITHMS, Field};
use crate::console::theme;

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let popup = area.centered(
        Constraint::Length(64.min(area.width)),
        Constraint::Length(9.min(area.height)),
    );
    let form = &app.form;
    let dataset = app.datasets.get(form.dataset).map_or_else(
        || "(no datasets yet)".to_string(),
        |d| format!("{}@latest", d.name),
    );
    let algorithm = ALGORITHMS[form.algorithm % ALGORITHMS.len()].to_string();
    let field = |which: Field, label: &str, value: String, hint: &str| {
        let active = form.field == which;
        let style = if active {
            Style::new().add_modifier(Modifier::REVERSED)
        } else {
            Style::new()
        };
        let cursor = if active && matches!(which, Field::Target | Field::Search) {
            "█"
        } else {
            ""
        };
        Line::from(vec![
            Span::raw(format!("{label:<10} ")),
            Span::styled(format!("{value}{cursor}"), style),
            Span::styled(format!("  {hint}"), theme::hint(app.color)),
        ])
    };
    let lines = vec![
        field(Field::Dataset, "dataset", dataset, "← →"),
        field(
            Field::Target,
            "target",
            form.target.clone(),
            "column to predict",
        ),
        field(Field::Algorithm, "algorithm", algorithm, "← →"),
        field(
            Field::Search,
            "search",
            form.search.clone(),
            "e.g. alpha=0.1,1",
        ),
        Line::from(""),
        Line::from(Span::styled(
            "Tab next field · Enter queue the run · Esc cancel",
            theme::hint(app.color),
        )),
    ];
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" Launch training ")),
        popup,
    );
}
