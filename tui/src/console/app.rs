//! The console's one state, and the only place it changes ([`App::update`]).
//! Over 500 lines because it is that one state and its one mutator; keys, commands, panes and
//! views live in their own files.

use std::collections::{BTreeSet, VecDeque};

use drover_protocol::data::DatasetSummary;
use drover_protocol::msg::EventRecord;
use drover_protocol::registry::{ModelSummary, ModelVersion};
use drover_protocol::run::{RunDetail, RunSummary};
use drover_protocol::types::{AgentInfo, AgentStatus, format_labels};

use super::action::{Action, Command};
use super::commands::{self, VIEWS, View, resolve};
use super::describe::Described;
use super::event::ConsoleEvent;
use super::form::LaunchForm;
use super::keymap::{Keymap, Mode};

/// Most fleet events kept for the Events view.
pub const EVENT_HISTORY: usize = 500;

/// Rows a page key moves.
pub const PAGE: usize = 10;

/// Whether what the console shows is live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    /// Connected: rows follow the coordinator.
    Live,
    /// The coordinator is unreachable: rows are what it last said; the next try is at
    /// `retry_at_ms`.
    Lost { reason: String, retry_at_ms: u64 },
}

/// How the Runs view is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunSort {
    Newest,
    Score,
}

/// Everything the console shows.
#[derive(Debug)]
pub struct App {
    pub view: View,
    pub mode: Mode,
    /// Text of the open `:` or `/` line.
    pub input: String,
    pub filter: String,
    pub agents: Vec<AgentInfo>,
    pub runs: Vec<RunSummary>,
    pub datasets: Vec<DatasetSummary>,
    pub models: Vec<ModelSummary>,
    pub versions: Vec<ModelVersion>,
    pub compared: Vec<RunDetail>,
    pub events: VecDeque<EventRecord>,
    /// Runs marked for comparison.
    pub marked: BTreeSet<String>,
    /// Runs the Compare view shows.
    pub compare: Vec<String>,
    pub sort: RunSort,
    pub form: LaunchForm,
    /// The key table in force.
    pub keys: Keymap,
    /// Every action that changes state is refused, with a message saying so.
    pub read_only: bool,
    pub connection: Connection,
    /// The open describe pane.
    pub described: Option<Described>,
    /// The question an action waits on, and the work a yes starts.
    pub pending: Option<(String, Command)>,
    pub selected: usize,
    /// The status line and whether it is an error.
    pub status: Option<(String, bool)>,
    /// Where the coordinator is, for the header.
    pub coordinator: String,
    /// Clock for relative times, Unix ms; advanced by ticks so rendering stays pure.
    pub now_ms: u64,
    pub color: bool,
    quit: bool,
    dirty: bool,
}

impl App {
    pub fn new(coordinator: String, now_ms: u64, color: bool) -> Self {
        Self::with_keys(coordinator, now_ms, color, Keymap::default())
    }

    /// A console whose keys are `keys` (the defaults with the config's `[keys]`).
    pub fn with_keys(coordinator: String, now_ms: u64, color: bool, keys: Keymap) -> Self {
        Self {
            view: View::Agents,
            mode: Mode::Normal,
            input: String::new(),
            filter: String::new(),
            agents: Vec::new(),
            runs: Vec::new(),
            datasets: Vec::new(),
            models: Vec::new(),
            versions: Vec::new(),
            compared: Vec::new(),
            events: VecDeque::new(),
            marked: BTreeSet::new(),
            compare: Vec::new(),
            sort: RunSort::Newest,
            form: LaunchForm::default(),
            keys,
            read_only: false,
            connection: Connection::Live,
            described: None,
            pending: None,
            selected: 0,
            status: None,
            coordinator,
            now_ms,
            color,
            quit: false,
            dirty: true,
        }
    }

    /// Turns an input event into actions.
    pub fn on_event(&self, event: ConsoleEvent) -> Vec<Action> {
        match event {
            ConsoleEvent::Key(key) => self.keys.action(self.mode, key).into_iter().collect(),
            ConsoleEvent::Resize => vec![Action::Redraw],
            ConsoleEvent::Tick(now) => vec![Action::SetClock(now)],
            ConsoleEvent::Snapshot(snapshot) => vec![Action::ApplySnapshot(snapshot)],
            ConsoleEvent::Fleet(record) => vec![Action::RecordEvent(record)],
            ConsoleEvent::Message(message) => vec![Action::ShowMessage(message)],
            ConsoleEvent::Failed(message) => vec![Action::ShowError(message)],
            ConsoleEvent::Connected(_) => vec![Action::SetConnected],
            ConsoleEvent::RunDetail(run) => vec![Action::ShowRunDetail(run)],
            ConsoleEvent::Disconnected { reason, retry_in } => vec![Action::SetDisconnected {
                reason,
                retry_at_ms: self.now_ms + retry_in.as_millis() as u64,
            }],
        }
    }

    /// Applies one action; returns work to run off the loop, if any.
    pub fn update(&mut self, action: Action) -> Option<Command> {
        self.dirty = true;
        match action {
            Action::Quit => self.quit = true,
            Action::OpenCommandLine => self.open(Mode::Command),
            Action::OpenFilter => {
                self.open(Mode::Filter);
                self.input = self.filter.clone();
            }
            Action::ShowHelp => self.mode = Mode::Help,
            Action::Back => self.back(),
            Action::SelectNext => {
                self.selected = (self.selected + 1).min(self.row_count().saturating_sub(1));
                return self.refresh_if(self.view == View::Models);
            }
            Action::SelectPrevious => {
                self.selected = self.selected.saturating_sub(1);
                return self.refresh_if(self.view == View::Models);
            }
            Action::SelectFirst => {
                self.selected = 0;
                return self.refresh_if(self.view == View::Models);
            }
            Action::SelectLast => {
                self.selected = self.row_count().saturating_sub(1);
                return self.refresh_if(self.view == View::Models);
            }
            Action::PageDown => {
                self.selected = (self.selected + PAGE).min(self.row_count().saturating_sub(1));
                return self.refresh_if(self.view == View::Models);
            }
            Action::PageUp => {
                self.selected = self.selected.saturating_sub(PAGE);
                return self.refresh_if(self.view == View::Models);
            }
            Action::NextView | Action::PreviousView => {
                let at = VIEWS.iter().position(|v| *v == self.view).unwrap_or(0);
                let step = if action == Action::NextView {
                    1
                } else {
                    VIEWS.len() - 1
                };
                self.switch(VIEWS[(at + step) % VIEWS.len()]);
                return Some(self.snapshot_command());
            }
            Action::GoToView(index) => {
                if let Some(view) = VIEWS.get(index) {
                    self.switch(*view);
                    return Some(self.snapshot_command());
                }
            }
            Action::Complete => self.complete(),
            Action::Describe => {
                let (described, fetch) = self.describe_selected()?;
                self.described = Some(described);
                self.mode = Mode::Describe;
                return fetch;
            }
            Action::RequestCancel if self.refused("cancel runs") => {}
            Action::RequestCancel => {
                let id = (self.view == View::Runs)
                    .then(|| self.visible_runs().get(self.selected).map(|r| r.id.clone()))
                    .flatten()?;
                self.pending = Some((format!("cancel {id}?"), Command::CancelRun(id)));
                self.mode = Mode::Confirm;
            }
            Action::Confirm => {
                self.mode = Mode::Normal;
                return self.pending.take().map(|(_, command)| command);
            }
            Action::ShowRunDetail(run) => {
                if let Some(Described::Run(id, detail)) = &mut self.described
                    && *id == run.summary.id
                {
                    *detail = Some(run);
                }
            }
            Action::Type(c) if self.mode == Mode::Form => self.form.type_char(c),
            Action::Type(c) => {
                self.input.push(c);
                self.follow_filter();
            }
            Action::Erase if self.mode == Mode::Form => self.form.erase(),
            Action::Erase => {
                self.input.pop();
                self.follow_filter();
            }
            Action::Submit => return self.submit(),
            Action::Refresh => return self.refresh_if(true),
            Action::ToggleMark => self.toggle_mark(),
            Action::CompareMarked => return self.compare_marked(),
            Action::CycleSort => {
                self.sort = if self.sort == RunSort::Newest {
                    RunSort::Score
                } else {
                    RunSort::Newest
                };
            }
            Action::OpenLaunchForm if self.refused("launch training") => {}
            Action::OpenLaunchForm => {
                self.mode = Mode::Form;
                self.status = None;
            }
            Action::NextField => self.form.next_field(),
            Action::CycleChoice(step) => self.form.cycle(step, self.datasets.len()),
            Action::ApplySnapshot(snapshot) => {
                let s = *snapshot;
                (self.agents, self.runs, self.datasets, self.models) =
                    (s.agents, s.runs, s.datasets, s.models);
                (self.versions, self.compared) = (s.versions, s.compared);
                self.clamp_selection();
            }
            Action::RecordEvent(record) => self.record_event(record),
            Action::ShowMessage(message) => self.status = Some((message, false)),
            Action::ShowError(message) => self.status = Some((message, true)),
            Action::SetConnected => {
                self.connection = Connection::Live;
                return Some(self.snapshot_command());
            }
            Action::SetDisconnected {
                reason,
                retry_at_ms,
            } => {
                self.connection = Connection::Lost {
                    reason,
                    retry_at_ms,
                }
            }
            Action::SetClock(now) => {
                self.now_ms = now;
                return self.refresh_if(true);
            }
            Action::Redraw => {}
        }
        None
    }

    /// The pane for the selected row of the current view, and the fetch it needs, if any.
    fn describe_selected(&self) -> Option<(Described, Option<Command>)> {
        match self.view {
            View::Runs => {
                let id = self.visible_runs().get(self.selected)?.id.clone();
                Some((
                    Described::Run(id.clone(), None),
                    Some(Command::FetchRun(id)),
                ))
            }
            View::Agents => {
                let agent = (*self.visible_agents().get(self.selected)?).clone();
                Some((Described::Agent(agent), None))
            }
            View::Models => {
                let model = self.visible_models().get(self.selected)?.name.clone();
                let latest = self
                    .versions
                    .iter()
                    .filter(|v| v.model == model)
                    .max_by_key(|v| v.version)?;
                Some((Described::Version(latest.clone()), None))
            }
            View::Events => {
                let event = (*self.visible_events().get(self.selected)?).clone();
                Some((Described::Event(event), None))
            }
            View::Compare => None,
        }
    }

    /// In read-only mode, says that `what` is refused and returns true.
    fn refused(&mut self, what: &str) -> bool {
        if self.read_only {
            self.status = Some((
                format!("read-only console: cannot {what} (started with --read-only)"),
                true,
            ));
        }
        self.read_only
    }

    fn snapshot_command(&self) -> Command {
        let model = (self.view == View::Models)
            .then(|| {
                self.visible_models()
                    .get(self.selected)
                    .map(|m| m.name.clone())
            })
            .flatten();
        Command::FetchSnapshot {
            model,
            compare: self.compare.clone(),
        }
    }

    /// A refresh when `condition` holds and the coordinator is reachable.
    fn refresh_if(&self, condition: bool) -> Option<Command> {
        (condition && self.connection == Connection::Live).then(|| self.snapshot_command())
    }

    fn toggle_mark(&mut self) {
        if self.view != View::Runs {
            return;
        }
        if let Some(id) = self.visible_runs().get(self.selected).map(|r| r.id.clone())
            && !self.marked.remove(&id)
        {
            self.marked.insert(id);
        }
    }

    fn compare_marked(&mut self) -> Option<Command> {
        if self.marked.len() < 2 {
            self.status = Some((
                "mark at least two runs with space to compare them".into(),
                true,
            ));
            return None;
        }
        self.compare = self.marked.iter().cloned().collect();
        self.switch(View::Compare);
        Some(self.snapshot_command())
    }

    /// Keeps events ordered by sequence number without duplicates: history fetched at start
    /// and the live stream may overlap.
    fn record_event(&mut self, record: EventRecord) {
        if self.events.iter().any(|e| e.seq == record.seq) {
            return;
        }
        let sorted = self.events.back().is_none_or(|last| last.seq < record.seq);
        self.events.push_back(record);
        if !sorted {
            self.events.make_contiguous().sort_by_key(|e| e.seq);
        }
        if self.events.len() > EVENT_HISTORY {
            self.events.pop_front();
        }
    }

    fn open(&mut self, mode: Mode) {
        self.mode = mode;
        self.input.clear();
        self.status = None;
    }

    fn back(&mut self) {
        match self.mode {
            Mode::Filter => {
                self.filter.clear();
                self.input.clear();
            }
            Mode::Normal => self.filter.clear(),
            Mode::Command | Mode::Help | Mode::Form => self.input.clear(),
            Mode::Describe => self.described = None,
            Mode::Confirm => self.pending = None,
        }
        self.mode = Mode::Normal;
        self.clamp_selection();
    }

    fn follow_filter(&mut self) {
        if self.mode == Mode::Filter {
            self.filter = self.input.clone();
            self.clamp_selection();
        }
    }

    fn switch(&mut self, view: View) {
        self.view = view;
        self.selected = 0;
        self.filter.clear();
        self.status = None;
    }

    fn submit(&mut self) -> Option<Command> {
        let mode = std::mem::replace(&mut self.mode, Mode::Normal);
        if mode == Mode::Form {
            let dataset = self
                .datasets
                .get(self.form.dataset)
                .map(|d| d.name.as_str());
            return match self.form.spec(dataset) {
                Ok(spec) => Some(Command::SubmitSpec(Box::new(spec))),
                Err(e) => {
                    self.mode = Mode::Form;
                    self.status = Some((e, true));
                    None
                }
            };
        }
        let text = std::mem::take(&mut self.input);
        if mode != Mode::Command {
            return None;
        }
        let text = text.trim();
        let (word, rest) = text.split_once(' ').unwrap_or((text, ""));
        match resolve(word) {
            Ok("train") if self.refused("queue training") => {}
            Ok("train") if !rest.trim().is_empty() => {
                return Some(Command::SubmitSpecFile(rest.trim().to_string()));
            }
            Ok("train") => self.status = Some((":train needs a spec file".into(), true)),
            Ok("q" | "quit") => self.quit = true,
            Ok(word) => match View::parse(word) {
                Some(view) => {
                    self.switch(view);
                    return Some(self.snapshot_command());
                }
                None => self.status = Some((format!("unknown command :{word}"), true)),
            },
            Err(message) => self.status = Some((message, true)),
        }
        None
    }

    /// Completes the command line's first word.
    fn complete(&mut self) {
        if let Some(completed) = commands::complete(&self.input) {
            self.input = completed;
        }
    }

    fn row_count(&self) -> usize {
        match self.view {
            View::Agents => self.visible_agents().len(),
            View::Runs => self.visible_runs().len(),
            View::Models => self.visible_models().len(),
            View::Events => self.visible_events().len(),
            View::Compare => 0,
        }
    }

    fn clamp_selection(&mut self) {
        self.selected = self.selected.min(self.row_count().saturating_sub(1));
    }

    fn matches(&self, fields: &[&str]) -> bool {
        let needle = self.filter.to_lowercase();
        needle.is_empty() || fields.iter().any(|f| f.to_lowercase().contains(&needle))
    }

    /// Agents that match the filter (id, hostname, status, labels, address; any case).
    pub fn visible_agents(&self) -> Vec<&AgentInfo> {
        self.agents
            .iter()
            .filter(|a| {
                self.matches(&[
                    a.id.0.as_str(),
                    &a.hostname,
                    &a.status.to_string(),
                    &format_labels(&a.labels),
                    &a.address,
                ])
            })
            .collect()
    }

    /// Runs that match the filter, in the chosen order.
    pub fn visible_runs(&self) -> Vec<&RunSummary> {
        let mut runs: Vec<&RunSummary> = self
            .runs
            .iter()
            .filter(|r| {
                self.matches(&[
                    r.id.as_str(),
                    &r.experiment,
                    &r.algorithm,
                    &r.dataset,
                    &r.status.to_string(),
                ])
            })
            .collect();
        if self.sort == RunSort::Score {
            let merit = |r: &RunSummary| crate::present::metrics::merit(&r.metrics);
            runs.sort_by(|a, b| merit(b).total_cmp(&merit(a)));
        }
        runs
    }

    /// Models that match the filter.
    pub fn visible_models(&self) -> Vec<&ModelSummary> {
        self.models
            .iter()
            .filter(|m| self.matches(&[m.name.as_str()]))
            .collect()
    }

    /// Events that match the filter, newest first.
    pub fn visible_events(&self) -> Vec<&EventRecord> {
        self.events
            .iter()
            .rev()
            .filter(|e| self.matches(&[&e.event.describe(), e.event.kind()]))
            .collect()
    }

    /// `(ready, total)` agents.
    pub fn agent_counts(&self) -> (usize, usize) {
        (
            self.agents
                .iter()
                .filter(|a| a.status == AgentStatus::Ready)
                .count(),
            self.agents.len(),
        )
    }

    pub fn should_quit(&self) -> bool {
        self.quit
    }

    /// True once after any change: the loop redraws only then.
    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::console::event::Snapshot;
    use drover_protocol::run::RunStatus;
    use drover_protocol::types::AgentId;

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
        assert!(
            matches!(command, Some(Command::FetchSnapshot { compare, .. }) if compare.len() == 2)
        );
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
}
