//! The console's one state, and the only place it changes ([`App::update`]).

use std::collections::VecDeque;

use drover_protocol::msg::EventRecord;
use drover_protocol::types::{AgentInfo, AgentStatus, format_labels};

use super::action::{Action, Command};
use super::event::ConsoleEvent;
use super::keymap;

/// Most fleet events kept for the Events view.
pub const EVENT_HISTORY: usize = 500;

/// Which view fills the screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Agents,
    Events,
}

impl View {
    /// The `:name` that opens the view.
    pub fn name(self) -> &'static str {
        match self {
            View::Agents => "agents",
            View::Events => "events",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "agents" | "agent" | "a" | "ag" => Some(View::Agents),
            "events" | "event" | "e" | "ev" => Some(View::Events),
            _ => None,
        }
    }
}

/// What keys currently do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Normal,
    Command,
    Filter,
    Help,
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
    pub events: VecDeque<EventRecord>,
    pub selected: usize,
    pub status: Option<String>,
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
        Self {
            view: View::Agents,
            mode: Mode::Normal,
            input: String::new(),
            filter: String::new(),
            agents: Vec::new(),
            events: VecDeque::new(),
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
            ConsoleEvent::Key(key) => keymap::action_for(self.mode, key).into_iter().collect(),
            ConsoleEvent::Resize => vec![Action::Redraw],
            ConsoleEvent::Tick(now) => vec![Action::SetClock(now)],
            ConsoleEvent::Agents(agents) => vec![Action::ReplaceAgents(agents)],
            ConsoleEvent::Fleet(record) => vec![Action::RecordEvent(record)],
            ConsoleEvent::Failed(message) => vec![Action::ShowError(message)],
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
                self.selected = (self.selected + 1).min(self.row_count().saturating_sub(1))
            }
            Action::SelectPrevious => self.selected = self.selected.saturating_sub(1),
            Action::Type(c) => {
                self.input.push(c);
                self.follow_filter();
            }
            Action::Erase => {
                self.input.pop();
                self.follow_filter();
            }
            Action::Submit => return self.submit(),
            Action::Refresh => return Some(Command::FetchAgents),
            Action::ReplaceAgents(agents) => {
                self.agents = agents;
                self.clamp_selection();
            }
            Action::RecordEvent(record) => self.record_event(record),
            Action::ShowError(message) => self.status = Some(message),
            Action::SetClock(now) => self.now_ms = now,
            Action::Redraw => {}
        }
        None
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
            Mode::Command | Mode::Help => self.input.clear(),
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

    fn submit(&mut self) -> Option<Command> {
        let text = std::mem::take(&mut self.input);
        let mode = std::mem::replace(&mut self.mode, Mode::Normal);
        if mode != Mode::Command {
            return None;
        }
        let name = text.trim();
        match name {
            "q" | "quit" => self.quit = true,
            _ => match View::parse(name) {
                Some(view) => {
                    self.view = view;
                    self.selected = 0;
                    self.filter.clear();
                    self.status = None;
                }
                None => {
                    self.status = Some(format!("unknown view :{name} (try :agents or :events)"))
                }
            },
        }
        None
    }

    fn row_count(&self) -> usize {
        match self.view {
            View::Agents => self.visible_agents().len(),
            View::Events => self.visible_events().len(),
        }
    }

    fn clamp_selection(&mut self) {
        self.selected = self.selected.min(self.row_count().saturating_sub(1));
    }

    /// Agents that match the filter (id, hostname, status, labels, address; any case).
    pub fn visible_agents(&self) -> Vec<&AgentInfo> {
        let needle = self.filter.to_lowercase();
        self.agents
            .iter()
            .filter(|a| {
                needle.is_empty()
                    || [
                        a.id.0.as_str(),
                        &a.hostname,
                        &a.status.to_string(),
                        &format_labels(&a.labels),
                        &a.address,
                    ]
                    .iter()
                    .any(|field| field.to_lowercase().contains(&needle))
            })
            .collect()
    }

    /// Events that match the filter, newest first.
    pub fn visible_events(&self) -> Vec<&EventRecord> {
        let needle = self.filter.to_lowercase();
        self.events
            .iter()
            .rev()
            .filter(|e| {
                needle.is_empty()
                    || e.event.describe().to_lowercase().contains(&needle)
                    || e.event.kind().contains(&needle)
            })
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
mod tests {
    use super::*;
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
        app.update(Action::Submit);
        assert_eq!((app.view, app.mode), (View::Events, Mode::Normal));
        app.update(Action::OpenCommandLine);
        typed(&mut app, "nope");
        app.update(Action::Submit);
        assert_eq!(app.view, View::Events);
        assert!(
            app.status
                .as_deref()
                .is_some_and(|s| s.contains("unknown view"))
        );
    }

    #[test]
    fn filter_narrows_live_and_esc_clears() {
        let mut app = App::new("local".into(), 0, false);
        app.update(Action::ReplaceAgents(vec![
            agent("ag-1", AgentStatus::Ready),
            agent("ag-2", AgentStatus::Lost),
        ]));
        app.update(Action::OpenFilter);
        typed(&mut app, "lost");
        assert_eq!(app.visible_agents().len(), 1);
        app.update(Action::Submit);
        assert_eq!(app.filter, "lost");
        app.update(Action::Back);
        assert_eq!(app.visible_agents().len(), 2);
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
        app.update(Action::ReplaceAgents(vec![agent(
            "ag-1",
            AgentStatus::Ready,
        )]));
        app.update(Action::SelectNext);
        app.update(Action::SelectNext);
        assert_eq!(app.selected, 0);
        assert_eq!(app.update(Action::Refresh), Some(Command::FetchAgents));
        app.update(Action::Quit);
        assert!(app.should_quit());
    }
}
