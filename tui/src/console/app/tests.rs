//! Unit tests of the console state: actions in, state and work out, no terminal.

use super::*;
use crate::console::fetch::Answer;
use drover_protocol::run::RunOrder;
use drover_protocol::run::{RunStatus, RunSummary};
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
        claimed: Default::default(),
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

/// A page of `n` runs, all there are.
pub(crate) fn page(runs: Vec<RunSummary>) -> RunPage {
    RunPage {
        total: runs.len() as u32,
        offset: 0,
        runs,
    }
}

fn runs(n: usize) -> RunPage {
    page((0..n).map(|i| run(&format!("run-{i:03}"), 0.5)).collect())
}

#[test]
fn navigation_keys_move_by_row_page_and_end_and_switch_views() {
    let mut app = App::new("test".into(), 0, false);
    app.update(Action::GoToView(1));
    assert_eq!(app.view, View::Runs);
    app.runs = runs(25);
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
    assert_eq!(app.view, View::Alerts, "Tab wraps around");
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
        [Command::SubmitSpecFile("spec.toml".into())]
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
    app.runs = runs(3);
    app.update(Action::SelectNext);
    assert_eq!(app.update(Action::RequestRemove), []);
    assert_eq!(app.mode, Mode::Confirm);
    assert_eq!(
        app.pending.as_ref().map(|(q, _)| q.as_str()),
        Some("cancel run-001?")
    );
    app.update(Action::Back);
    assert_eq!((app.mode, app.pending.is_none()), (Mode::Normal, true));
    app.update(Action::RequestRemove);
    assert_eq!(
        app.update(Action::Confirm),
        [Command::CancelRun("run-001".into())]
    );
    app.read_only = true;
    assert_eq!(app.update(Action::RequestRemove), []);
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
    assert_eq!(app.update(Action::Submit), []);
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

#[test]
fn command_line_switches_views_and_rejects_unknown_ones() {
    let mut app = App::new("local".into(), 0, false);
    app.update(Action::OpenCommandLine);
    typed(&mut app, "events");
    assert_eq!(
        app.update(Action::Submit),
        [],
        "the Events view follows the stream"
    );
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
        [Command::SubmitSpecFile("specs/churn.toml".into())]
    );
}

#[test]
fn filter_narrows_live_and_esc_clears() {
    let mut app = App::new("local".into(), 0, false);
    app.agents = vec![
        agent("ag-1", AgentStatus::Ready),
        agent("ag-2", AgentStatus::Lost),
    ];
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
    app.view = View::Runs;
    app.connection = Connection::Live;
    let asked = app.update(Action::CycleSort);
    assert!(
        matches!(&asked[..], [Command::Fetch { ask: Ask::Runs(q), .. }] if q.order == RunOrder::Score),
        "the coordinator orders runs: {asked:?}"
    );
    app.runs = page(vec![run("run-b", 0.9), run("run-a", 0.7)]);
    assert_eq!(
        app.update(Action::CompareMarked),
        [],
        "needs two marked runs"
    );
    app.update(Action::ToggleMark);
    app.update(Action::SelectNext);
    app.update(Action::ToggleMark);
    let command = app.update(Action::CompareMarked);
    assert_eq!(app.view, View::Compare);
    assert_eq!(app.connection, Connection::Live);
    assert!(
        matches!(&command[..], [Command::Fetch { ask: Ask::Compare(ids), .. }] if ids.len() == 2),
        "{command:?}"
    );
}

#[test]
fn the_launch_form_submits_a_spec_or_says_what_is_wrong() {
    let mut app = App::new("local".into(), 0, false);
    app.update(Action::OpenLaunchForm);
    app.update(Action::Submit);
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
        matches!(&app.update(Action::Submit)[..], [Command::SubmitSpec(spec)] if spec.target == "churned")
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
    let [Command::Fetch { ticket, ask }] = &app.update(Action::SetConnected)[..] else {
        panic!("connecting fetches the agents");
    };
    let answer = Answer::Agents(vec![agent("ag-1", AgentStatus::Ready)], Vec::new());
    app.update(Action::Fetched {
        ticket: *ticket,
        ask: ask.clone(),
        answer: Ok(Box::new(answer)),
    });
    assert_eq!(app.update(Action::SelectNext), [], "nothing new to fetch");
    app.update(Action::SelectNext);
    assert_eq!(app.selected, 0);
    assert!(matches!(
        &app.update(Action::Refresh)[..],
        [Command::Fetch {
            ask: Ask::Agents,
            ..
        }]
    ));
    app.update(Action::Quit);
    assert!(app.should_quit());
}

/// The one request a command list holds.
fn only_fetch(commands: Vec<Command>) -> (u64, Ask) {
    match &commands[..] {
        [Command::Fetch { ticket, ask }] => (*ticket, ask.clone()),
        other => panic!("expected one fetch, got {other:?}"),
    }
}

fn answer(ticket: u64, ask: Ask, answer: Answer) -> Action {
    Action::Fetched {
        ticket,
        ask,
        answer: Ok(Box::new(answer)),
    }
}

#[test]
fn events_refresh_what_is_on_screen_one_request_at_a_time() {
    use drover_protocol::msg::Event;
    let mut app = App::new("local".into(), 0, false);
    let (agents, _) = only_fetch(app.update(Action::SetConnected));
    app.update(answer(
        agents,
        Ask::Agents,
        Answer::Agents(Vec::new(), Vec::new()),
    ));
    let (first, ask) = only_fetch(app.update(Action::GoToView(1)));
    let finished = |id: &str| {
        Action::RecordEvent(EventRecord {
            seq: 1,
            at_ms: 0,
            event: Event::RunFinished {
                id: id.into(),
                status: RunStatus::Succeeded,
                detail: String::new(),
            },
        })
    };
    assert_eq!(app.update(finished("run-a")), [], "queued behind the first");
    assert_eq!(app.update(finished("run-b")), [], "still one queued");
    assert_eq!(app.update(Action::SetClock(5)), [], "no polling on :runs");
    let (second, _) = only_fetch(app.update(answer(first, ask.clone(), Answer::Runs(runs(2)))));
    assert_eq!(app.runs.total, 2, "the running request's answer applies");
    assert_eq!(
        app.update(answer(first, ask.clone(), Answer::Runs(runs(9)))),
        [],
        "a late answer is dropped"
    );
    assert_eq!(app.runs.total, 2);
    app.update(answer(second, ask, Answer::Runs(runs(3))));
    assert_eq!(app.runs.total, 3);

    let lost = Action::RecordEvent(EventRecord {
        seq: 2,
        at_ms: 0,
        event: Event::AgentLost {
            id: AgentId("ag-1".into()),
            reason: "gone".into(),
        },
    });
    let (_, ask) = only_fetch(app.update(lost));
    assert_eq!(ask, Ask::Agents, "the header counts agents on every view");
    app.update(Action::SetDisconnected {
        reason: "gone".into(),
        retry_at_ms: 1,
    });
    assert_eq!(
        app.update(Action::Refresh),
        [],
        "nothing goes out while disconnected"
    );
}

#[test]
fn every_run_is_reachable_through_windows_the_coordinator_cuts() {
    let mut app = App::new("local".into(), 0, false);
    app.update(Action::SetConnected);
    let (ticket, ask) = only_fetch(app.update(Action::GoToView(1)));
    let window = |offset: u32| RunPage {
        total: 10_000,
        offset,
        runs: (offset..offset + RUN_WINDOW as u32)
            .map(|i| run(&format!("run-{i:05}"), 0.5))
            .collect(),
    };
    app.update(answer(ticket, ask, Answer::Runs(window(0))));
    assert_eq!(app.update(Action::PageDown), [], "inside the window");
    let (ticket, ask) = only_fetch(app.update(Action::SelectLast));
    let Ask::Runs(query) = &ask else {
        panic!("{ask:?}")
    };
    assert_eq!((app.selected, query.offset), (9_999, 9_900));
    assert!(app.selected_run().is_none(), "not fetched yet");
    app.update(answer(ticket, ask, Answer::Runs(window(9_900))));
    assert_eq!(app.selected_run().map(|r| r.id.as_str()), Some("run-09999"));

    app.update(Action::OpenFilter);
    let (ticket, stale) = only_fetch(app.update(Action::Type('x')));
    assert_eq!(app.update(Action::Type('y')), [], "queued while one runs");
    let Ask::Runs(query) = &stale else {
        panic!("{stale:?}")
    };
    assert_eq!((query.text.as_str(), query.offset), ("x", 0));
    let (_, fresh) = only_fetch(app.update(answer(ticket, stale, Answer::Runs(window(0)))));
    assert_eq!(
        app.runs.offset, 9_900,
        "an answer to an older filter is not shown"
    );
    assert!(matches!(fresh, Ask::Runs(q) if q.text == "xy"));
}
