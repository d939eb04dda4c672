//! The Compare view: the marked runs side by side (settings that differ, test metrics with the
//! best marked), and their cross-validated score trial by trial on a chart.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::symbols::Marker;
use ratatui::widgets::{Axis, Block, Chart, Dataset, GraphType, Paragraph, Row, Table};

use crate::console::app::App;
use crate::console::theme;
use crate::present::compare;

const COLORS: &[Color] = &[
    Color::Cyan,
    Color::Yellow,
    Color::Magenta,
    Color::Green,
    Color::Red,
    Color::Blue,
];

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    if app.compared.len() < 2 {
        let text = "Mark two or more runs with space in :runs, then press c.";
        frame.render_widget(
            Paragraph::new(text).block(Block::bordered().title(" Compare ")),
            area,
        );
        return;
    }
    let [top, bottom] =
        Layout::vertical([Constraint::Percentage(55), Constraint::Fill(1)]).areas(area);
    let (headers, rows) = compare::rows(&app.compared);
    let widths: Vec<Constraint> = std::iter::once(Constraint::Length(14))
        .chain(headers.iter().skip(1).map(|_| Constraint::Fill(1)))
        .collect();
    let table = Table::new(rows.into_iter().map(Row::new), widths)
        .header(Row::new(headers).style(theme::column_titles(app.color)))
        .block(Block::bordered().title(" Compare: test metrics (* best) and differing settings "));
    frame.render_widget(table, top);

    let task = app
        .compared
        .iter()
        .filter_map(|r| r.spec.as_ref().map(|s| s.task))
        .find(|t| *t == drover_protocol::spec::Task::Regression)
        .unwrap_or(drover_protocol::spec::Task::Classification);
    let metric = drover_ml::metric::selection(task);
    let series: Vec<(String, Vec<(f64, f64)>)> = app
        .compared
        .iter()
        .map(|r| {
            (
                r.summary.id.clone(),
                r.trials
                    .iter()
                    .filter_map(|t| t.mean.get(metric).map(|v| (t.trial as f64, *v)))
                    .collect(),
            )
        })
        .collect();
    let points = series.iter().flat_map(|(_, p)| p.iter());
    let (mut low, mut high, mut trials) = (f64::MAX, f64::MIN, 1.0f64);
    for (x, y) in points {
        (low, high, trials) = (low.min(*y), high.max(*y), trials.max(*x));
    }
    if low > high {
        (low, high) = (0.0, 1.0);
    }
    let pad = ((high - low) * 0.1).max(0.005);
    let datasets: Vec<Dataset> = series
        .iter()
        .enumerate()
        .map(|(i, (name, points))| {
            let style = if app.color {
                Style::new().fg(COLORS[i % COLORS.len()])
            } else {
                Style::new()
            };
            Dataset::default()
                .name(name.as_str())
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(style)
                .data(points)
        })
        .collect();
    let chart = Chart::new(datasets)
        .block(Block::bordered().title(format!(" cv {metric} by trial ")))
        .x_axis(
            Axis::default()
                .title("trial")
                .bounds([1.0, trials.max(2.0)])
                .labels(["1".to_string(), format!("{trials:.0}")]),
        )
        .y_axis(
            Axis::default()
                .bounds([low - pad, high + pad])
                .labels([format!("{:.3}", low - pad), format!("{:.3}", high + pad)]),
        );
    frame.render_widget(chart, bottom);
}
