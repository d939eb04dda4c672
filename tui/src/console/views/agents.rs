//! The Agents view: one row per enrolled agent, live. Below 110 columns the version and
//! address columns give way so that host and labels stay readable at 80x24.

use drover_protocol::types::{AgentInfo, format_labels};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Text;
use ratatui::widgets::{Block, Cell, Row, Table, TableState};

use crate::console::app::App;
use crate::console::theme;
use crate::present::age;

const WIDE: u16 = 110;

fn cells(app: &App, a: &AgentInfo, wide: bool) -> Vec<Cell<'static>> {
    let cpu = a
        .load
        .map_or_else(|| "-".to_string(), |l| format!("{:.0}%", l.cpu_percent));
    let mut cells = vec![
        Cell::from(a.id.to_string()),
        Cell::from(a.hostname.clone()),
        Cell::from(Text::styled(
            a.status.to_string(),
            theme::status(a.status, app.color),
        )),
        Cell::from(age(a.last_heartbeat_ms, app.now_ms)),
        Cell::from(cpu),
        Cell::from(format_labels(&a.labels)),
    ];
    if wide {
        cells.push(Cell::from(a.version.clone()));
        cells.push(Cell::from(a.address.clone()));
    }
    cells
}

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let wide = area.width >= WIDE;
    let agents = app.visible_agents();
    let rows = agents.iter().map(|a| Row::new(cells(app, a, wide)));
    let mut titles = vec!["ID", "HOST", "STATUS", "HEARTBEAT", "CPU", "LABELS"];
    let mut widths = vec![
        Constraint::Length(15),
        Constraint::Fill(1),
        Constraint::Length(6),
        Constraint::Length(9),
        Constraint::Length(4),
        Constraint::Fill(1),
    ];
    if wide {
        titles.extend(["VERSION", "ADDRESS"]);
        widths.extend([Constraint::Length(8), Constraint::Length(21)]);
    }
    let header = Row::new(titles).style(theme::column_titles(app.color));
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
