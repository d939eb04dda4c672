//! The Runs view: every run in the store with live trial progress, newest first or best
//! first; space marks runs for comparison. It draws the window of runs the coordinator sent
//! (filtered and ordered there), so all of them are reachable however many there are.

use drover_protocol::run::RunStatus;
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Text;
use ratatui::widgets::{Block, Cell, Row, Table, TableState};

use crate::console::app::{App, RunSort};
use crate::console::theme;
use crate::present::{age, metrics};

/// `■■■□□ 3/5`.
fn progress(done: u32, total: u32) -> String {
    let width = 5;
    let filled = (done as usize * width)
        .checked_div(total as usize)
        .unwrap_or(0)
        .min(width);
    format!(
        "{}{} {done}/{total}",
        "■".repeat(filled),
        "□".repeat(width - filled)
    )
}

/// Below this width the CREATED column gives way.
const WIDE: u16 = 100;

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let wide = area.width >= WIDE;
    let runs = &app.runs.runs;
    let rows = runs.iter().map(|r| {
        let mark = if app.marked.contains(&r.id) {
            "✓"
        } else {
            " "
        };
        let score = metrics::short_score(&r.metrics);
        let mut cells = vec![
            Cell::from(format!("{mark}{}", r.id)),
            Cell::from(r.algorithm.clone()),
            Cell::from(r.dataset.clone()),
            match (r.status, r.gates_passed) {
                (RunStatus::Succeeded, Some(false)) => {
                    Cell::from(Text::styled("gates ✗", theme::error(app.color)))
                }
                (status, _) => Cell::from(Text::styled(
                    status.to_string(),
                    theme::run_status(status, app.color),
                )),
            },
            Cell::from(progress(r.trials_done, r.trials_total)),
            Cell::from(score),
        ];
        if wide {
            cells.push(Cell::from(age(Some(r.created_ms), app.now_ms)));
        }
        Row::new(cells)
    });
    let mut titles = vec!["RUN", "ALGORITHM", "DATASET", "STATUS", "TRIALS", "SCORE"];
    let mut widths = vec![
        Constraint::Length(17),
        Constraint::Fill(1),
        Constraint::Length(10),
        Constraint::Length(9),
        Constraint::Length(11),
        Constraint::Length(10),
    ];
    if wide {
        titles.push("CREATED");
        widths.push(Constraint::Length(10));
    }
    let header = Row::new(titles).style(theme::column_titles(app.color));
    let order = if app.sort == RunSort::Score {
        "best first"
    } else {
        "newest first"
    };
    let at = app
        .selected
        .checked_sub(app.runs.offset as usize)
        .filter(|at| *at < runs.len());
    let loading = if at.is_none() && app.runs.total > 0 {
        ", loading"
    } else {
        ""
    };
    let title = format!(
        " Runs ({}, {order}; {} marked{loading}) ",
        app.runs.total,
        app.marked.len()
    );
    let table = Table::new(rows, widths)
        .header(header)
        .block(Block::bordered().title(title))
        .row_highlight_style(theme::selected(app.color))
        .column_spacing(1);
    let mut state = TableState::default().with_selected(at);
    frame.render_stateful_widget(table, area, &mut state);
}
