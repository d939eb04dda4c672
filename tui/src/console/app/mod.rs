//! The console's one state, and the only place it changes ([`App::update`]). What each view
//! shows after its filter and order is in [`rows`].

use std::collections::{BTreeSet, VecDeque};

use drover_protocol::data::DatasetSummary;
use drover_protocol::msg::EventRecord;
use drover_protocol::registry::{ModelSummary, ModelVersion};
use drover_protocol::run::{RunDetail, RunSummary};
use drover_protocol::types::AgentInfo;

mod rows;

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

    pub fn should_quit(&self) -> bool {
        self.quit
    }

    /// True once after any change: the loop redraws only then.
    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }
}

#[cfg(test)]
pub(crate) mod tests;
