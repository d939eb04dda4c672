//! The console's one state, and the only place it changes ([`App::update`]). What each view
//! shows after its filter and order is in [`rows`].

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use drover_protocol::data::DatasetSummary;
use drover_protocol::msg::{Event, EventRecord};
use drover_protocol::registry::{ModelSummary, ModelVersion};
use drover_protocol::run::{RunDetail, RunOrder, RunPage, RunQuery};
use drover_protocol::types::AgentInfo;

mod rows;

use super::action::{Action, Command};
use super::commands::{self, VIEWS, View, resolve};
use super::describe::Described;
use super::event::ConsoleEvent;
use super::fetch::{Answer, Ask, Feed, Fetches};
use super::form::LaunchForm;
use super::keymap::{Keymap, Mode};

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
            ConsoleEvent::RunDetail(run) => vec![Action::ShowRunDetail(run)],
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
            Action::ShowHelp => self.mode = Mode::Help,
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
            Action::RequestCancel if self.refused("cancel runs") => {}
            Action::RequestCancel => {
                if let Some(id) = self.selected_run().map(|r| r.id.clone())
                    && self.view == View::Runs
                {
                    self.pending = Some((format!("cancel {id}?"), Command::CancelRun(id)));
                    self.mode = Mode::Confirm;
                }
            }
            Action::Confirm => {
                self.mode = Mode::Normal;
                self.out
                    .extend(self.pending.take().map(|(_, command)| command));
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
                if self.view == View::Agents {
                    self.fetch(Feed::Agents);
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

    /// The feed the current view shows, if it is fetched (the Events view follows the stream).
    fn view_feed(&self) -> Option<Feed> {
        match self.view {
            View::Agents => Some(Feed::Agents),
            View::Runs => Some(Feed::Runs),
            View::Compare => Some(Feed::Compare),
            View::Models => Some(Feed::Models),
            View::Datasets => Some(Feed::Datasets),
            View::Events => None,
        }
    }

    /// What a request for `feed` asks for now.
    fn ask(&self, feed: Feed) -> Ask {
        match feed {
            Feed::Agents => Ask::Agents,
            Feed::Datasets => Ask::Datasets,
            Feed::Compare => Ask::Compare(self.compare.clone()),
            Feed::Models => Ask::Models(
                self.visible_models()
                    .get(self.selected)
                    .map(|m| m.name.clone()),
            ),
            Feed::Runs => Ask::Runs(RunQuery {
                text: self.filter.clone(),
                order: match self.sort {
                    RunSort::Newest => RunOrder::Newest,
                    RunSort::Score => RunOrder::Score,
                },
                offset: ((self.selected / RUN_BLOCK).saturating_sub(1) * RUN_BLOCK) as u32,
                limit: RUN_WINDOW as u32,
                ..RunQuery::default()
            }),
        }
    }

    /// Starts a request for `feed`, or queues one behind the running one.
    fn fetch(&mut self, feed: Feed) {
        if self.connection != Connection::Live {
            return;
        }
        if let Some(ticket) = self.fetches.want(feed) {
            self.start(feed, ticket);
        }
    }

    fn start(&mut self, feed: Feed, ticket: u64) {
        let ask = self.ask(feed);
        self.asked.insert(feed, ask.clone());
        self.out.push(Command::Fetch { ticket, ask });
    }

    /// Fetches the view's feed when what it would ask for differs from the latest request.
    fn fetch_if_changed(&mut self) {
        if let Some(feed) = self.view_feed()
            && self.asked.get(&feed) != Some(&self.ask(feed))
        {
            self.fetch(feed);
        }
    }

    /// Fetches what the screen shows: the agents (the header counts them) and the view.
    fn refresh_view(&mut self) {
        self.fetch(Feed::Agents);
        if let Some(feed) = self.view_feed().filter(|f| *f != Feed::Agents) {
            self.fetch(feed);
        }
    }

    /// The requests in flight went over a connection that is gone: their answers are dropped.
    fn forget_requests(&mut self) {
        self.fetches.reset();
        self.asked.clear();
    }

    /// Applies an answer if it is the running request's and asked for what the view shows;
    /// starts the queued request, if any.
    fn fetched(&mut self, ticket: u64, ask: Ask, answer: Result<Box<Answer>, String>) {
        let feed = ask.feed();
        let (current, again) = self.fetches.settle(feed, ticket);
        if let Some(ticket) = again {
            self.start(feed, ticket);
        }
        if !current {
            return;
        }
        let answer = match answer {
            Ok(answer) => answer,
            Err(e) => {
                self.status = Some((e, true));
                return;
            }
        };
        if feed != Feed::Agents && self.view_feed() == Some(feed) && ask != self.ask(feed) {
            return;
        }
        match *answer {
            Answer::Agents(agents) => self.agents = agents,
            Answer::Runs(page) => self.runs = page,
            Answer::Datasets(datasets) => self.datasets = datasets,
            Answer::Models(models, versions) => (self.models, self.versions) = (models, versions),
            Answer::Compare(runs) => self.compared = runs,
        }
        self.clamp_selection();
        self.fetch_if_changed();
    }

    /// Refreshes the feeds an event from the coordinator changes, when they are on screen.
    fn react(&mut self, event: &Event) {
        let feed = match event {
            Event::AgentJoined { .. }
            | Event::AgentConnected { .. }
            | Event::AgentLost { .. }
            | Event::AgentRemoved { .. }
            | Event::AgentDraining { .. } => Feed::Agents,
            Event::DatasetAdded { .. } => Feed::Datasets,
            Event::RunQueued { .. }
            | Event::RunStarted { .. }
            | Event::TrialFinished { .. }
            | Event::RunFinished { .. }
            | Event::RunRequeued { .. }
            | Event::SearchSpread { .. }
            | Event::ScheduleFired { .. } => match self.view {
                View::Compare => Feed::Compare,
                _ => Feed::Runs,
            },
            Event::ModelRegistered { .. }
            | Event::ModelPromoted { .. }
            | Event::AliasSet { .. } => Feed::Models,
            Event::TokenCreated { .. } => return,
        };
        let on_screen = feed == Feed::Agents
            || self.view_feed() == Some(feed)
            || (feed == Feed::Datasets && self.mode == Mode::Form);
        if on_screen {
            self.fetch(feed);
        }
    }

    /// The pane for the selected row of the current view, and the fetch it needs, if any.
    fn describe_selected(&self) -> Option<(Described, Option<Command>)> {
        match self.view {
            View::Runs => {
                let id = self.selected_run()?.id.clone();
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
            View::Compare | View::Datasets => None,
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

    fn toggle_mark(&mut self) {
        if self.view != View::Runs {
            return;
        }
        if let Some(id) = self.selected_run().map(|r| r.id.clone())
            && !self.marked.remove(&id)
        {
            self.marked.insert(id);
        }
    }

    fn compare_marked(&mut self) {
        if self.marked.len() < 2 {
            self.status = Some((
                "mark at least two runs with space to compare them".into(),
                true,
            ));
            return;
        }
        self.compare = self.marked.iter().cloned().collect();
        self.switch(View::Compare);
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
