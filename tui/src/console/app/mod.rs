//! The console's one state, and the only place it changes ([`App::update`]). What each view
//! shows after its filter and order is in [`rows`].

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use drover_protocol::data::DatasetSummary;
use drover_protocol::msg::EventRecord;
use drover_protocol::registry::{ModelSummary, ModelVersion};
use drover_protocol::run::{RunDetail, RunPage};
use drover_protocol::serve::DeploymentStatus;
use drover_protocol::types::AgentInfo;

mod acts;
mod feeds;
mod rows;

use super::action::{Action, Command};
use super::commands::{self, VIEWS, View, resolve};
use super::describe::Described;
use super::event::ConsoleEvent;
use super::fetch::{Ask, Feed, Fetches, Monitoring, Rollouts};
use super::form::LaunchForm;
use super::keymap::{Keymap, Mode};
use super::verbs;

/// Most fleet events kept for the Events view.
pub const EVENT_HISTORY: usize = 500;

/// Rows a page key moves.
pub const PAGE: usize = 10;

/// Runs are fetched in windows that start on a multiple of this, one block before the
/// selection's, so moving inside a block fetches nothing.
pub const RUN_BLOCK: usize = 50;
/// Runs one window holds: the selection's block and one block either side.
pub const RUN_WINDOW: usize = 3 * RUN_BLOCK;

/// Whether what the console shows is live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    /// Not connected yet: nothing is fetched until the first connection opens.
    Connecting,
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
    /// The window of runs around the selection, filtered and ordered by the coordinator.
    pub runs: RunPage,
    pub datasets: Vec<DatasetSummary>,
    pub models: Vec<ModelSummary>,
    pub versions: Vec<ModelVersion>,
    /// Every deployment with how each agent serves it.
    pub deployments: Vec<DeploymentStatus>,
    /// The newest rollouts, the selected one in full, and its model's traffic.
    pub rollouts: Rollouts,
    /// Drift evaluations and alerts.
    pub monitoring: Monitoring,
    /// Whether the operator picked a view (the console then stops choosing its first one).
    pub chose_view: bool,
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
    /// Lines the help overlay is scrolled by.
    pub help_scroll: usize,
    pub selected: usize,
    /// The status line and whether it is an error.
    pub status: Option<(String, bool)>,
    /// Where the coordinator is, for the header.
    pub coordinator: String,
    /// Clock for relative times, Unix ms; advanced by ticks so rendering stays pure.
    pub now_ms: u64,
    pub color: bool,
    /// The requests running and queued, per feed.
    fetches: Fetches,
    /// What the latest request of each feed asked for.
    asked: BTreeMap<Feed, Ask>,
    /// Work the last update asks for.
    out: Vec<Command>,
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
            runs: RunPage::default(),
            datasets: Vec::new(),
            models: Vec::new(),
            versions: Vec::new(),
            deployments: Vec::new(),
            rollouts: Rollouts::default(),
            monitoring: Monitoring::default(),
            chose_view: false,
            compared: Vec::new(),
            events: VecDeque::new(),
            marked: BTreeSet::new(),
            compare: Vec::new(),
            sort: RunSort::Newest,
            form: LaunchForm::default(),
            keys,
            read_only: false,
            connection: Connection::Connecting,
            described: None,
            pending: None,
            help_scroll: 0,
            selected: 0,
            status: None,
            coordinator,
            now_ms,
            color,
            fetches: Fetches::default(),
            asked: BTreeMap::new(),
            out: Vec::new(),
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
            ConsoleEvent::Fetched {
                ticket,
                ask,
                answer,
            } => vec![Action::Fetched {
                ticket,
                ask,
                answer,
            }],
            ConsoleEvent::Fleet(record) => vec![Action::RecordEvent(record)],
            ConsoleEvent::Message(message) => vec![Action::ShowMessage(message)],
            ConsoleEvent::Failed(message) => vec![Action::ShowError(message)],
            ConsoleEvent::Connected(_) => vec![Action::SetConnected],
            ConsoleEvent::Detail(detail) => vec![Action::ShowDetail(detail)],
            ConsoleEvent::Disconnected { reason, retry_in } => vec![Action::SetDisconnected {
                reason,
                retry_at_ms: self.now_ms + retry_in.as_millis() as u64,
            }],
        }
    }

    /// Applies one action; returns the work it asks for, to run off the loop.
    pub fn update(&mut self, action: Action) -> Vec<Command> {
        self.apply(action);
        std::mem::take(&mut self.out)
    }

    fn apply(&mut self, action: Action) {
        self.dirty = true;
        let last = self.row_count().saturating_sub(1);
        match action {
            Action::Quit => self.quit = true,
            Action::OpenCommandLine => self.open(Mode::Command),
            Action::OpenFilter => {
                self.open(Mode::Filter);
                self.input = self.filter.clone();
            }
            Action::ShowHelp => {
                self.mode = Mode::Help;
                self.help_scroll = 0;
            }
            Action::Back => self.back(),
            Action::SelectNext => self.select((self.selected + 1).min(last)),
            Action::SelectPrevious => self.select(self.selected.saturating_sub(1)),
            Action::SelectFirst => self.select(0),
            Action::SelectLast => self.select(last),
            Action::PageDown => self.select((self.selected + PAGE).min(last)),
            Action::PageUp => self.select(self.selected.saturating_sub(PAGE)),
            Action::NextView | Action::PreviousView => {
                let at = VIEWS.iter().position(|v| *v == self.view).unwrap_or(0);
                let step = if action == Action::NextView {
                    1
                } else {
                    VIEWS.len() - 1
                };
                self.switch(VIEWS[(at + step) % VIEWS.len()]);
            }
            Action::GoToView(index) => {
                if let Some(view) = VIEWS.get(index) {
                    self.switch(*view);
                }
            }
            Action::Complete => self.complete(),
            Action::Describe => {
                if let Some((described, fetch)) = self.describe_selected() {
                    self.described = Some(described);
                    self.mode = Mode::Describe;
                    self.out.extend(fetch);
                }
            }
            Action::RequestRemove if self.refused("cancel runs or remove agents") => {}
            Action::RequestRemove => {
                let asked = match self.view {
                    View::Runs => self.selected_run().map(|r| verbs::parse("cancel", &r.id)),
                    View::Agents => self
                        .visible_agents()
                        .get(self.selected)
                        .map(|a| verbs::parse("remove-agent", &a.id.0)),
                    View::Rollouts => return self.ask_rollout(Some("abort")),
                    _ => None,
                };
                self.question(asked);
            }
            Action::RequestPause if self.refused("pause or resume rollouts") => {}
            Action::RequestPause => self.ask_rollout(None),
            Action::RequestRerun if self.refused("re-run runs") => {}
            Action::RequestRerun => {
                let asked = (self.view == View::Runs)
                    .then(|| self.selected_run().map(|r| verbs::parse("rerun", &r.id)))
                    .flatten();
                self.question(asked);
            }
            Action::StartPromote if self.refused("promote models") => {}
            Action::StartPromote if self.view == View::Rollouts => {
                self.ask_rollout(Some("promote"))
            }
            Action::StartPromote => {
                if let Some(latest) = self.selected_latest() {
                    self.open(Mode::Command);
                    self.input = format!("promote {latest} ");
                }
            }
            Action::StartAdd if self.refused("change aliases or add datasets") => {}
            Action::StartAdd => {
                let input = match self.view {
                    View::Models => self.selected_latest().map(|v| format!("alias {v} ")),
                    View::Datasets => self
                        .visible_datasets()
                        .get(self.selected)
                        .map(|d| format!("add-dataset {} ", d.name)),
                    _ => None,
                };
                if let Some(input) = input {
                    self.open(Mode::Command);
                    self.input = input;
                }
            }
            Action::ScrollHelp(lines) => {
                self.help_scroll = self.help_scroll.saturating_add_signed(lines as isize);
            }
            Action::Confirm => {
                self.mode = Mode::Normal;
                self.out
                    .extend(self.pending.take().map(|(_, command)| command));
            }
            Action::ShowDetail(detail) => {
                if let Some(described) = &mut self.described {
                    described.fill(detail);
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
            Action::Submit => self.submit(),
            Action::Refresh => self.refresh_view(),
            Action::ToggleMark => self.toggle_mark(),
            Action::CompareMarked => self.compare_marked(),
            Action::CycleSort => {
                self.sort = if self.sort == RunSort::Newest {
                    RunSort::Score
                } else {
                    RunSort::Newest
                };
                self.select(0);
            }
            Action::OpenLaunchForm if self.refused("launch training") => {}
            Action::OpenLaunchForm => {
                self.mode = Mode::Form;
                self.status = None;
                self.fetch(Feed::Datasets);
            }
            Action::NextField => self.form.next_field(),
            Action::CycleChoice(step) => self.form.cycle(step, self.datasets.len()),
            Action::Fetched {
                ticket,
                ask,
                answer,
            } => self.fetched(ticket, ask, answer),
            Action::RecordEvent(record) => {
                self.react(&record.event);
                self.record_event(record);
            }
            Action::ShowMessage(message) => self.status = Some((message, false)),
            Action::ShowError(message) => self.status = Some((message, true)),
            Action::SetConnected => {
                self.connection = Connection::Live;
                self.forget_requests();
                self.refresh_view();
            }
            Action::SetDisconnected {
                reason,
                retry_at_ms,
            } => {
                self.forget_requests();
                self.connection = Connection::Lost {
                    reason,
                    retry_at_ms,
                }
            }
            Action::SetClock(now) => {
                self.now_ms = now;
                match self.view {
                    View::Agents => self.fetch(Feed::Agents),
                    View::Rollouts => self.fetch(Feed::Rollouts),
                    View::Drift | View::Alerts => self.fetch(Feed::Monitoring),
                    View::Overview => {
                        self.fetch(Feed::Agents);
                        self.fetch(Feed::Rollouts);
                        self.fetch(Feed::Monitoring);
                    }
                    _ => {}
                }
            }
            Action::Redraw => {}
        }
    }

    /// Moves the selection to `row` and fetches what the view shows there, when that changed
    /// (another window of runs, another model's versions).
    fn select(&mut self, row: usize) {
        self.selected = row;
        self.fetch_if_changed();
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
        self.fetch_if_changed();
    }

    fn follow_filter(&mut self) {
        if self.mode == Mode::Filter {
            self.filter = self.input.clone();
            if self.view == View::Runs {
                self.select(0);
            }
            self.clamp_selection();
        }
    }

    /// Shows `view`, fetching what it shows.
    fn switch(&mut self, view: View) {
        self.chose_view = true;
        self.view = view;
        self.selected = 0;
        self.filter.clear();
        self.status = None;
        if let Some(feed) = self.view_feed() {
            self.fetch(feed);
        }
    }

    fn submit(&mut self) {
        let mode = std::mem::replace(&mut self.mode, Mode::Normal);
        if mode == Mode::Form {
            let dataset = self
                .datasets
                .get(self.form.dataset)
                .map(|d| d.name.as_str());
            match self.form.spec(dataset) {
                Ok(spec) => self.out.push(Command::SubmitSpec(Box::new(spec))),
                Err(e) => {
                    self.mode = Mode::Form;
                    self.status = Some((e, true));
                }
            }
            return;
        }
        let text = std::mem::take(&mut self.input);
        if mode != Mode::Command {
            return;
        }
        let text = text.trim();
        let (word, rest) = text.split_once(' ').unwrap_or((text, ""));
        match resolve(word) {
            Ok("train") if self.refused("queue training") => {}
            Ok("train") if !rest.trim().is_empty() => {
                self.out
                    .push(Command::SubmitSpecFile(rest.trim().to_string()));
            }
            Ok("train") => self.status = Some((":train needs a spec file".into(), true)),
            Ok("q" | "quit") => self.quit = true,
            Ok(verb) if verbs::VERBS.contains(&verb) => {
                if !self.refused(&format!(":{verb}")) {
                    self.question(Some(verbs::parse(verb, rest)));
                }
            }
            Ok(word) => match View::parse(word) {
                Some(view) => self.switch(view),
                None => self.status = Some((format!("unknown command :{word}"), true)),
            },
            Err(message) => self.status = Some((message, true)),
        }
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
