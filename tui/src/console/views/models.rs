//! The Models view: every model with its production and staging versions, and below, the
//! versions of the selected model with their stage, aliases, where they are served (weight,
//! ready agents, requests per second) and lineage.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::widgets::{Block, Row, Table, TableState};

use crate::console::app::App;
use crate::console::theme;

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let [top, bottom] =
        Layout::vertical([Constraint::Percentage(40), Constraint::Fill(1)]).areas(area);
    let models = app.visible_models();
    let show = |v: Option<u32>| v.map_or_else(|| "-".into(), |v| format!("@{v}"));
    let rows = models.iter().map(|m| {
        Row::new(vec![
            m.name.clone(),
            format!("@{} ({})", m.latest, m.latest_semver),
            m.versions.to_string(),
            show(m.staging),
            show(m.production),
        ])
    });
    let header = Row::new(["MODEL", "LATEST", "VERSIONS", "STAGING", "PRODUCTION"])
        .style(theme::column_titles(app.color));
    let widths = [
        Constraint::Fill(1),
        Constraint::Length(14),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(10),
    ];
    let table = Table::new(rows, widths)
        .header(header)
        .block(Block::bordered().title(format!(" Models ({}) ", models.len())))
        .row_highlight_style(theme::selected(app.color));
    let mut state =
        TableState::default().with_selected((!models.is_empty()).then_some(app.selected));
    frame.render_stateful_widget(table, top, &mut state);

    let name = models.get(app.selected).map_or("", |m| m.name.as_str());
    let rows = app.versions.iter().filter(|v| v.model == name).map(|v| {
        let score = crate::present::metrics::value(&v.metrics);
        let served = crate::present::serving::version_served(&app.deployments, name, v.version)
            .unwrap_or_else(|| "-".into());
        Row::new(vec![
            format!("@{} {}", v.version, v.semver),
            v.stage.to_string(),
            v.aliases.join(","),
            score,
            served,
            format!("{} <- {}", v.run_id, v.dataset),
        ])
    });
    let header = Row::new([
        "VERSION",
        "STAGE",
        "ALIASES",
        "SCORE",
        "SERVED",
        "LINEAGE (RUN <- DATASET)",
    ])
    .style(theme::column_titles(app.color));
    let widths = [
        Constraint::Length(11),
        Constraint::Length(10),
        Constraint::Length(9),
        Constraint::Length(5),
        Constraint::Length(17),
        Constraint::Fill(1),
    ];
    let versions = Table::new(rows, widths)
        .header(header)
        .block(Block::bordered().title(format!(" Versions of {name} ")));
    frame.render_widget(versions, bottom);
}
