//! Rendering: pure functions of [`App`] into a frame. No I/O, no mutation.

mod agents;
mod compare;
mod datasets;
mod describe;
mod events;
mod form;
mod help;
mod models;
mod runs;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::app::{App, Connection};
use super::commands::View;
use super::keymap::Mode;
use super::theme;

/// Most lines the footer grows to, to show a long message whole.
const MAX_FOOTER: u16 = 6;

/// Draws the whole console.
pub fn render(app: &App, frame: &mut Frame) {
    let area = frame.area();
    let lost = matches!(app.connection, Connection::Lost { .. });
    let [header, banner, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(u16::from(lost)),
        Constraint::Min(0),
        Constraint::Length(footer_height(app, area.width)),
    ])
    .areas(area);
    render_header(app, frame, header);
    render_banner(app, frame, banner);
    match app.view {
        View::Agents => agents::render(app, frame, body),
        View::Runs => runs::render(app, frame, body),
        View::Compare => compare::render(app, frame, body),
        View::Models => models::render(app, frame, body),
        View::Datasets => datasets::render(app, frame, body),
        View::Events => events::render(app, frame, body),
    }
    render_footer(app, frame, footer);
    match app.mode {
        Mode::Help => help::render(app, frame, area),
        Mode::Form => form::render(app, frame, body),
        Mode::Describe => describe::render(app, frame, body),
        _ => {}
    }
}

/// Lines the footer needs: one, or as many as the status message takes when wrapped.
fn footer_height(app: &App, width: u16) -> u16 {
    match (&app.status, app.mode) {
        (
            Some((message, _)),
            Mode::Normal | Mode::Help | Mode::Form | Mode::Describe | Mode::Confirm,
        ) if width > 0 => {
            wrapped_lines(message, width as usize).clamp(1, MAX_FOOTER as usize) as u16
        }
        _ => 1,
    }
}

/// Lines `text` takes when wrapped at word boundaries to `width` columns.
fn wrapped_lines(text: &str, width: usize) -> usize {
    let mut lines = 1;
    let mut used = 0;
    for word in text.split(' ') {
        let len = word.chars().count();
        let needed = if used == 0 { len } else { used + 1 + len };
        if needed <= width {
            used = needed;
        } else {
            lines += 1 + len.saturating_sub(1) / width.max(1);
            used = len % width.max(1);
        }
    }
    lines
}

fn render_header(app: &App, frame: &mut Frame, area: Rect) {
    let state = match &app.connection {
        Connection::Connecting => "connecting...".to_string(),
        Connection::Live => {
            let (ready, total) = app.agent_counts();
            format!("agents {ready}/{total} ready")
        }
        Connection::Lost { retry_at_ms, .. } => {
            let secs = retry_at_ms.saturating_sub(app.now_ms).div_ceil(1000);
            format!("disconnected, retrying in {secs}s")
        }
    };
    let text = format!(
        " drover │ {} │ {state} │ :{}",
        app.coordinator,
        app.view.name()
    );
    frame.render_widget(Paragraph::new(text).style(theme::header(app.color)), area);
}

/// While the coordinator is unreachable: why, and that the rows below are not live.
fn render_banner(app: &App, frame: &mut Frame, area: Rect) {
    if let Connection::Lost { reason, .. } = &app.connection {
        let text = format!(" not live, showing what the coordinator last said: {reason}");
        frame.render_widget(
            Paragraph::new(Span::styled(text, theme::error(app.color))),
            area,
        );
    }
}

fn render_footer(app: &App, frame: &mut Frame, area: Rect) {
    let line = match app.mode {
        Mode::Command => Line::from(format!(":{}█", app.input)),
        Mode::Filter => Line::from(format!("/{}█", app.input)),
        Mode::Confirm => {
            let question = app.pending.as_ref().map_or("", |(q, _)| q.as_str());
            Line::from(Span::styled(
                format!(" {question} y confirms, n or Esc leaves it"),
                theme::error(app.color),
            ))
        }
        Mode::Normal | Mode::Help | Mode::Form | Mode::Describe => match &app.status {
            Some((message, true)) => {
                Line::from(Span::styled(message.clone(), theme::error(app.color)))
            }
            Some((message, false)) => Line::from(message.clone()),
            None if !app.filter.is_empty() => {
                Line::from(format!("filter: {}  (Esc clears)", app.filter))
            }
            None => Line::from(Span::styled(hints(app), theme::hint(app.color))),
        },
    };
    frame.render_widget(Paragraph::new(line).wrap(Wrap { trim: false }), area);
}

/// The footer's reminder of the main keys, from the key table in force.
fn hints(app: &App) -> String {
    let first = |name: &str| app.keys.first_key(Mode::Normal, name).unwrap_or_default();
    format!(
        " <{}> view  <{}> filter  <{}/{}> move  <{}> help  <{}> quit",
        first("open_command_line"),
        first("open_filter"),
        first("select_next"),
        first("select_previous"),
        first("show_help"),
        first("quit"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::action::Action;
    use drover_protocol::msg::{Event, EventRecord};
    use drover_protocol::types::{AgentId, AgentInfo, AgentStatus, HostLoad, parse_labels};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    const NOW: u64 = 1_800_000_000_000;

    fn agent(id: &str, host: &str, status: AgentStatus, seen_ago_ms: u64) -> AgentInfo {
        AgentInfo {
            id: AgentId(id.into()),
            hostname: host.into(),
            labels: parse_labels("role=train,serve").expect("labels"),
            status,
            last_heartbeat_ms: Some(NOW - seen_ago_ms),
            version: "0.1.0".into(),
            address: "10.0.0.7:52000".into(),
            capacity: None,
            load: Some(HostLoad {
                cpu_percent: 37.0,
                memory_used_bytes: 0,
            }),
        }
    }

    fn app() -> App {
        let mut app = App::new("embedded 127.0.0.1:7400".into(), NOW, false);
        app.connection = Connection::Live;
        let agents = vec![
            agent("ag-0a1b2c3d4e5f", "gpu-node-1", AgentStatus::Ready, 400),
            agent("ag-9f8e7d6c5b4a", "cpu-node-2", AgentStatus::Lost, 12_000),
        ];
        let mut runs = vec![
            crate::console::app::tests::run("run-0000000000a1", 0.81),
            crate::console::app::tests::run("run-0000000000b2", 0.74),
        ];
        runs[1].status = drover_protocol::run::RunStatus::Running;
        runs[1].trials_done = 2;
        runs[1].metrics.clear();
        runs.iter_mut().for_each(|r| r.created_ms = NOW - 5_000);
        app.agents = agents;
        app.runs = crate::console::app::tests::page(runs);
        app.update(Action::RecordEvent(EventRecord {
            seq: 7,
            at_ms: NOW - 12_000,
            event: Event::AgentLost {
                id: AgentId("ag-9f8e7d6c5b4a".into()),
                reason: "no heartbeat for 3.1s".into(),
            },
        }));
        app
    }

    fn draw(app: &App) -> Terminal<TestBackend> {
        let mut terminal = Terminal::new(TestBackend::new(80, 24)).expect("terminal");
        terminal.draw(|f| render(app, f)).expect("draw");
        terminal
    }

    #[test]
    fn agents_view_at_80x24() {
        insta::assert_snapshot!(draw(&app()).backend());
    }

    #[test]
    fn help_overlay() {
        let mut app = app();
        app.update(Action::ShowHelp);
        insta::assert_snapshot!(draw(&app).backend());
    }

    #[test]
    fn runs_view_with_progress_and_marks() {
        let mut app = app();
        app.view = crate::console::commands::View::Runs;
        app.update(Action::ToggleMark);
        insta::assert_snapshot!(draw(&app).backend());
    }

    #[test]
    fn launch_form() {
        let mut app = app();
        app.update(Action::OpenLaunchForm);
        app.update(Action::NextField);
        "churned".chars().for_each(|c| {
            app.update(Action::Type(c));
        });
        insta::assert_snapshot!(draw(&app).backend());
    }

    #[test]
    fn events_view_after_command_line() {
        let mut app = app();
        app.update(Action::OpenCommandLine);
        "events".chars().for_each(|c| {
            app.update(Action::Type(c));
        });
        app.update(Action::Submit);
        insta::assert_snapshot!(draw(&app).backend());
    }

    #[test]
    fn a_long_error_is_shown_whole() {
        let mut app = app();
        app.update(Action::ShowError(
            "spec.toml: TOML parse error at line 7, column 12: invalid type: string \"high\", \
             expected a number for `search.params.alpha` (alpha takes floats from 0 to 1000000)"
                .into(),
        ));
        insta::assert_snapshot!(draw(&app).backend());
    }

    #[test]
    fn a_lost_coordinator_is_shown_and_rows_are_marked_not_live() {
        let mut app = app();
        app.update(Action::SetDisconnected {
            reason: "the coordinator went away".into(),
            retry_at_ms: NOW + 2_500,
        });
        let screen = draw(&app);
        insta::assert_snapshot!(screen.backend());
    }

    fn detail() -> drover_protocol::run::RunDetail {
        let mut summary = crate::console::app::tests::run("run-0000000000a1", 0.81);
        summary.gates_passed = Some(false);
        summary.created_ms = NOW - 60_000;
        summary.started_ms = Some(NOW - 58_000);
        summary.finished_ms = Some(NOW - 46_500);
        let trial = |n: u32, alpha: f64, accuracy: f64| drover_protocol::run::Trial {
            trial: n,
            params: [(
                "alpha".to_string(),
                drover_protocol::spec::ParamValue::Float(alpha),
            )]
            .into(),
            folds: Vec::new(),
            mean: [("accuracy".to_string(), accuracy)].into(),
        };
        drover_protocol::run::RunDetail {
            summary,
            spec: drover_protocol::spec::TrainSpec::from_toml(
                "experiment = \"churn\"\nmodel = \"churn\"\ndataset = \"churn\"\ntarget = \"churned\"\ntask = \"classification\"\nalgorithm = \"logistic_regression\"\n",
            )
            .ok(),
            spec_hash: "5pec".into(),
            dataset_hash: "d4ta0123456789abcdef".into(),
            seed: 7,
            drover_version: "0.1.0".into(),
            params: [("alpha".to_string(), drover_protocol::spec::ParamValue::Float(0.1))].into(),
            trials: vec![trial(1, 0.0, 0.79), trial(2, 0.1, 0.8123)],
            gate_failures: vec!["accuracy 0.8100 is below the minimum 0.9".into()],
            artifact_hash: None,
            rows_train: Some(320),
            rows_test: Some(80),
            registered: None,
            tags: Default::default(),
        }
    }

    #[test]
    fn a_run_that_failed_its_gates_is_marked_and_described_whole() {
        let mut app = app();
        app.view = crate::console::commands::View::Runs;
        app.runs.runs[0].gates_passed = Some(false);
        assert_eq!(
            app.update(Action::Describe),
            [crate::console::action::Command::FetchRun(
                "run-0000000000a1".into()
            )]
        );
        app.update(Action::ShowRunDetail(Box::new(detail())));
        insta::assert_snapshot!(draw(&app).backend());
        app.update(Action::Back);
        insta::assert_snapshot!("runs_list_marks_failed_gates", draw(&app).backend());
    }
}
