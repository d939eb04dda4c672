//! What the console fetches for what it shows: the feed of each view, the request it makes
//! now, the rule of one running and one queued ([`Fetches`]), answers applied only when still
//! wanted, and the events that refresh each feed.

use drover_protocol::msg::Event;
use drover_protocol::run::{RunOrder, RunQuery};

use super::{App, Connection, RUN_BLOCK, RUN_WINDOW, RunSort};
use crate::console::action::Command;
use crate::console::commands::View;
use crate::console::fetch::{Answer, Ask, Feed};
use crate::console::keymap::Mode;

impl App {
    /// The feed the current view shows, if it is fetched (the Events view follows the stream).
    pub(super) fn view_feed(&self) -> Option<Feed> {
        match self.view {
            View::Agents => Some(Feed::Agents),
            View::Runs => Some(Feed::Runs),
            View::Compare => Some(Feed::Compare),
            View::Models => Some(Feed::Models),
            View::Datasets => Some(Feed::Datasets),
            View::Rollouts | View::Overview => Some(Feed::Rollouts),
            View::Drift | View::Alerts => Some(Feed::Monitoring),
            View::Events => None,
        }
    }

    /// What a request for `feed` asks for now.
    pub(super) fn ask(&self, feed: Feed) -> Ask {
        match feed {
            Feed::Agents => Ask::Agents,
            Feed::Datasets => Ask::Datasets,
            Feed::Compare => Ask::Compare(self.compare.clone()),
            Feed::Models => Ask::Models(
                self.visible_models()
                    .get(self.selected)
                    .map(|m| m.name.clone()),
            ),
            Feed::Rollouts => Ask::Rollouts(
                (self.view == View::Rollouts)
                    .then(|| {
                        self.visible_rollouts()
                            .get(self.selected)
                            .map(|r| r.rollout.model.clone())
                    })
                    .flatten(),
            ),
            Feed::Monitoring => Ask::Monitoring(
                (self.view == View::Drift)
                    .then(|| {
                        self.selected_drift()
                            .map(|(r, _)| (r.model.clone(), r.version))
                    })
                    .flatten(),
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
    pub(super) fn fetch(&mut self, feed: Feed) {
        if self.connection != Connection::Live {
            return;
        }
        if let Some(ticket) = self.fetches.want(feed) {
            self.start(feed, ticket);
        }
    }

    pub(super) fn start(&mut self, feed: Feed, ticket: u64) {
        let ask = self.ask(feed);
        self.asked.insert(feed, ask.clone());
        self.out.push(Command::Fetch { ticket, ask });
    }

    /// Fetches the view's feed when what it would ask for differs from the latest request.
    pub(super) fn fetch_if_changed(&mut self) {
        if let Some(feed) = self.view_feed()
            && self.asked.get(&feed) != Some(&self.ask(feed))
        {
            self.fetch(feed);
        }
    }

    /// Fetches what the screen shows: the agents (the header counts them) and the view.
    pub(super) fn refresh_view(&mut self) {
        self.fetch(Feed::Agents);
        if let Some(feed) = self.view_feed().filter(|f| *f != Feed::Agents) {
            self.fetch(feed);
        }
    }

    /// The requests in flight went over a connection that is gone: their answers are dropped.
    pub(super) fn forget_requests(&mut self) {
        self.fetches.reset();
        self.asked.clear();
    }

    /// Applies an answer if it is the running request's and asked for what the view shows;
    /// starts the queued request, if any.
    pub(super) fn fetched(&mut self, ticket: u64, ask: Ask, answer: Result<Box<Answer>, String>) {
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
            Answer::Agents(agents, deployments) => {
                // Once anything is deployed, the console opens on the overview.
                if !self.chose_view && self.view == View::Agents && !deployments.is_empty() {
                    self.chose_view = true;
                    self.view = View::Overview;
                    self.fetch(Feed::Rollouts);
                    self.fetch(Feed::Monitoring);
                }
                (self.agents, self.deployments) = (agents, deployments)
            }
            Answer::Rollouts(rollouts) => {
                // The list moves under the selection: keep the selected model selected.
                let model = self.selected_rollout().map(|r| r.rollout.model.clone());
                self.rollouts = *rollouts;
                if let Some(at) = model.and_then(|m| {
                    self.visible_rollouts()
                        .iter()
                        .position(|r| r.rollout.model == m)
                }) {
                    self.selected = at;
                }
            }
            Answer::Monitoring(monitoring) => {
                let selected = self
                    .selected_drift()
                    .map(|(r, c)| (r.model.clone(), r.version, c.column.clone()));
                self.monitoring = *monitoring;
                if let Some(at) = selected.and_then(|(m, v, col)| {
                    self.visible_drift()
                        .iter()
                        .position(|(r, c)| r.model == m && r.version == v && c.column == col)
                }) && self.view == View::Drift
                {
                    self.selected = at;
                }
            }
            Answer::Runs(page) => self.runs = page,
            Answer::Datasets(datasets) => self.datasets = datasets,
            Answer::Models(models, versions, deployments) => {
                (self.models, self.versions, self.deployments) = (models, versions, deployments)
            }
            Answer::Compare(runs) => self.compared = runs,
        }
        self.clamp_selection();
        self.fetch_if_changed();
    }

    /// Refreshes the feeds an event from the coordinator changes, when they are on screen.
    pub(super) fn react(&mut self, event: &Event) {
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
            | Event::AliasSet { .. }
            | Event::AliasRemoved { .. }
            | Event::Deployed { .. }
            | Event::Undeployed { .. } => Feed::Models,
            Event::RolloutDecided { .. } | Event::AgentDisagrees { .. } => Feed::Rollouts,
            Event::TokenCreated { .. }
            | Event::OperatorAction { .. }
            | Event::RecordQuarantined { .. } => return,
            Event::AlertFired { .. } | Event::AlertResolved { .. } | Event::AgentLeftOut { .. } => {
                Feed::Monitoring
            }
        };
        let on_screen = feed == Feed::Agents
            || self.view_feed() == Some(feed)
            || (feed == Feed::Datasets && self.mode == Mode::Form)
            || (feed == Feed::Monitoring && self.view == View::Overview);
        if on_screen {
            self.fetch(feed);
        }
    }
}
