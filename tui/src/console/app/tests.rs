//! Unit tests of the console state: actions in, state and work out, no terminal.

use super::*;
use crate::console::event::Snapshot;
use drover_protocol::run::RunStatus;
use drover_protocol::types::{AgentId, AgentStatus};

fn agent(id: &str, status: AgentStatus) -> AgentInfo {
    AgentInfo {
        id: AgentId(id.into()),
        hostname: format!("{id}.host"),
        labels: Default::default(),
        status,
        last_heartbeat_ms: None,
        version: "0.1.0".into(),
        address: "127.0.0.1:1".into(),
        capacity: None,
        load: None,
    }
}

pub(crate) fn run(id: &str, accuracy: f64) -> RunSummary {
    RunSummary {
        id: id.into(),
        experiment: "churn".into(),
        model: "churn".into(),
        algorithm: "logistic_regression".into(),
        dataset: "churn@1".into(),
        status: RunStatus::Succeeded,
        agent: Some("ag-1".into()),
        trials_done: 3,
        trials_total: 3,
        metrics: [("accuracy".to_string(), accuracy)].into(),
        gates_passed: Some(true),
        error: None,
        created_ms: 0,
        started_ms: None,
        finished_ms: None,
    }
}

fn runs(n: usize) -> Snapshot {
    Snapshot {
        runs: (0..n).map(|i| run(&format!("run-{i:03}"), 0.5)).collect(),
        ..Snapshot::default()
    }
}

#[test]
fn navigation_keys_move_by_row_page_and_end_and_switch_views() {
    let mut app = App::new("test".into(), 0, false);
    app.update(Action::GoToView(1));
    assert_eq!(app.view, View::Runs);
    app.update(with(runs(25)));
    app.update(Action::SelectLast);
    assert_eq!(app.selected, 24);
    app.update(Action::PageUp);
    assert_eq!(app.selected, 14);
    app.update(Action::SelectFirst);
    app.update(Action::PageDown);
    assert_eq!(app.selected, PAGE);
    app.update(Action::NextView);
    assert_eq!((app.view, app.selected), (View::Compare, 0));
    app.update(Action::PreviousView);
    app.update(Action::PreviousView);
    assert_eq!(app.view, View::Agents);
    app.update(Action::PreviousView);
    assert_eq!(app.view, View::Events, "Tab wraps around");
}

#[test]
fn commands_take_unique_prefixes_and_tab_completes_them() {
    let mut app = App::new("test".into(), 0, false);
    app.update(Action::OpenCommandLine);
    typed(&mut app, "mod");
    app.update(Action::Submit);
    assert_eq!(app.view, View::Models);

    app.update(Action::OpenCommandLine);
    typed(&mut app, "ev");
    app.update(Action::Complete);
    assert_eq!(app.input, "events ");

    app.update(Action::Erase);
    app.update(Action::Back);
    app.update(Action::OpenCommandLine);
    typed(&mut app, "tr");
    app.update(Action::Complete);
    assert_eq!(app.input, "train ");
    typed(&mut app, "spec.toml");
    assert_eq!(
        app.update(Action::Submit),
        Some(Command::SubmitSpecFile("spec.toml".into()))
    );

    app.update(Action::OpenCommandLine);
    typed(&mut app, "bogus");
    app.update(Action::Submit);
    let (message, error) = app.status.clone().expect("an error");
    assert!(
        error && message.contains("unknown command :bogus"),
        "{message}"
    );
}

#[test]
fn cancelling_a_run_asks_first_and_a_no_leaves_it() {
    let mut app = App::new("test".into(), 0, false);
    app.update(Action::GoToView(1));
    app.update(with(runs(3)));
    app.update(Action::SelectNext);
    assert_eq!(app.update(Action::RequestCancel), None);
    assert_eq!(app.mode, Mode::Confirm);
    assert_eq!(
        app.pending.as_ref().map(|(q, _)| q.as_str()),
        Some("cancel run-001?")
    );
    app.update(Action::Back);
    assert_eq!((app.mode, app.pending.is_none()), (Mode::Normal, true));
    app.update(Action::RequestCancel);
    assert_eq!(
        app.update(Action::Confirm),
        Some(Command::CancelRun("run-001".into()))
    );
    app.read_only = true;
    assert_eq!(app.update(Action::RequestCancel), None);
    assert_eq!(app.mode, Mode::Normal);
    assert!(
        app.status
            .as_ref()
            .is_some_and(|(m, _)| m.contains("cannot cancel runs"))
    );
}

#[test]
fn a_read_only_console_refuses_what_changes_state_and_says_why() {
    let mut app = App::new("test".into(), 0, false);
    app.read_only = true;
    app.update(Action::OpenLaunchForm);
    assert_eq!(app.mode, Mode::Normal);
    assert!(
        app.status
            .as_ref()
            .is_some_and(|(m, e)| *e && m.contains("read-only"))
    );
    app.update(Action::OpenCommandLine);
    typed(&mut app, "train spec.toml");
    assert_eq!(app.update(Action::Submit), None);
    assert!(
        app.status
            .as_ref()
            .is_some_and(|(m, _)| m.contains("cannot queue training"))
    );
}

fn typed(app: &mut App, text: &str) {
    text.chars().for_each(|c| {
        app.update(Action::Type(c));
    });
}

fn with(snapshot: Snapshot) -> Action {
    Action::ApplySnapshot(Box::new(snapshot))
}

#[test]
fn command_line_switches_views_and_rejects_unknown_ones() {
    let mut app = App::new("local".into(), 0, false);
    app.update(Action::OpenCommandLine);
    typed(&mut app, "events");
    assert!(matches!(
        app.update(Action::Submit),
        Some(Command::FetchSnapshot { .. })
    ));
    assert_eq!((app.view, app.mode), (View::Events, Mode::Normal));
    app.update(Action::OpenCommandLine);
    typed(&mut app, "nope");
    app.update(Action::Submit);
    assert_eq!(app.view, View::Events);
    assert!(
        app.status
            .as_ref()
            .is_some_and(|(s, error)| s.contains("unknown command") && *error)
    );
    app.update(Action::OpenCommandLine);
    typed(&mut app, "train specs/churn.toml");
    assert_eq!(
        app.update(Action::Submit),
        Some(Command::SubmitSpecFile("specs/churn.toml".into()))
    );
}

#[test]
fn filter_narrows_live_and_esc_clears() {
    let mut app = App::new("local".into(), 0, false);
    app.update(with(Snapshot {
        agents: vec![
            agent("ag-1", AgentStatus::Ready),
            agent("ag-2", AgentStatus::Lost),
        ],
        ..Default::default()
    }));
    app.update(Action::OpenFilter);
    typed(&mut app, "lost");
    assert_eq!(app.visible_agents().len(), 1);
    app.update(Action::Submit);
    assert_eq!(app.filter, "lost");
    app.update(Action::Back);
    assert_eq!(app.visible_agents().len(), 2);
}

#[test]
fn runs_sort_mark_and_compare() {
    let mut app = App::new("local".into(), 0, false);
    app.update(with(Snapshot {
        runs: vec![run("run-a", 0.7), run("run-b", 0.9)],
        ..Default::default()
    }));
    app.view = View::Runs;
    app.update(Action::CycleSort);
    assert_eq!(app.visible_runs()[0].id, "run-b");
    assert_eq!(
        app.update(Action::CompareMarked),
        None,
        "needs two marked runs"
    );
    app.update(Action::ToggleMark);
    app.update(Action::SelectNext);
    app.update(Action::ToggleMark);
    let command = app.update(Action::CompareMarked);
    assert_eq!(app.view, View::Compare);
    assert!(matches!(command, Some(Command::FetchSnapshot { compare, .. }) if compare.len() == 2));
}

#[test]
fn the_launch_form_submits_a_spec_or_says_what_is_wrong() {
    let mut app = App::new("local".into(), 0, false);
    app.update(Action::OpenLaunchForm);
    assert_eq!(app.update(Action::Submit), None);
    assert!(
        app.status
            .as_ref()
            .is_some_and(|(s, _)| s.contains("no dataset"))
    );
    assert_eq!(app.mode, Mode::Form);
    app.datasets = vec![DatasetSummary {
        name: "churn".into(),
        latest: 1,
        versions: 1,
        rows: 10,
        columns: 3,
        size_bytes: 1,
        hash: "h".into(),
        created_ms: 0,
    }];
    app.update(Action::NextField);
    typed(&mut app, "churned");
    assert!(
        matches!(app.update(Action::Submit), Some(Command::SubmitSpec(spec)) if spec.target == "churned")
    );
    assert_eq!(app.mode, Mode::Normal);
}

#[test]
fn events_stay_ordered_without_duplicates() {
    use drover_protocol::msg::Event;
    let mut app = App::new("local".into(), 0, false);
    let record = |seq| EventRecord {
        seq,
        at_ms: 0,
        event: Event::AgentRemoved {
            id: AgentId("a".into()),
        },
    };
    for seq in [3, 1, 2, 3] {
        app.update(Action::RecordEvent(record(seq)));
    }
    let seqs: Vec<u64> = app.events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, vec![1, 2, 3]);
}

#[test]
fn selection_stays_inside_the_list_and_quit_quits() {
    let mut app = App::new("local".into(), 0, false);
    app.update(with(Snapshot {
        agents: vec![agent("ag-1", AgentStatus::Ready)],
        ..Default::default()
    }));
    app.update(Action::SelectNext);
    app.update(Action::SelectNext);
    assert_eq!(app.selected, 0);
    assert!(matches!(
        app.update(Action::Refresh),
        Some(Command::FetchSnapshot { .. })
    ));
    app.update(Action::Quit);
    assert!(app.should_quit());
}
