//! What the operator's actions on the selected row do: describe it, mark it, compare, and the
//! questions asked before anything changes state (refused in read-only mode).

use drover_protocol::rollout::Phase;

use super::App;
use crate::console::action::Command;
use crate::console::commands::View;
use crate::console::describe::{Described, DetailAsk};
use crate::console::keymap::Mode;
use crate::console::verbs;

impl App {
    /// The pane for the selected row of the current view, and the fetch it needs, if any.
    pub(super) fn describe_selected(&self) -> Option<(Described, Option<Command>)> {
        let (described, ask) = match self.view {
            View::Runs => {
                let id = self.selected_run()?.id.clone();
                (Described::Run(id.clone(), None), DetailAsk::Run(id))
            }
            View::Agents => {
                let agent = (*self.visible_agents().get(self.selected)?).clone();
                let id = agent.id.0.clone();
                (Described::Agent(agent, None), DetailAsk::AgentJobs(id))
            }
            View::Models => {
                let model = self.visible_models().get(self.selected)?.name.clone();
                let latest = self
                    .versions
                    .iter()
                    .filter(|v| v.model == model)
                    .max_by_key(|v| v.version)?;
                (
                    Described::Version(latest.clone(), None),
                    DetailAsk::ModelHistory(model),
                )
            }
            View::Datasets => {
                let name = self.visible_datasets().get(self.selected)?.name.clone();
                (
                    Described::Dataset(name.clone(), None),
                    DetailAsk::Dataset(name),
                )
            }
            View::Events => {
                let event = (*self.visible_events().get(self.selected)?).clone();
                return Some((Described::Event(event), None));
            }
            View::Compare | View::Rollouts | View::Overview | View::Drift | View::Alerts => {
                return None;
            }
        };
        Some((described, Some(Command::FetchDetail(ask))))
    }

    /// Puts a verb's question to the operator, or shows why it cannot be asked.
    pub(super) fn question(&mut self, asked: Option<Result<(String, Command), String>>) {
        match asked {
            Some(Ok(pending)) => {
                self.pending = Some(pending);
                self.mode = Mode::Confirm;
            }
            Some(Err(message)) => self.status = Some((message, true)),
            None => {}
        }
    }

    /// Asks whether to do `action` (`:rollout ACTION`) to the selected rollout; without one,
    /// to pause it, or to resume it when paused.
    pub(super) fn ask_rollout(&mut self, action: Option<&str>) {
        let asked = self.selected_rollout().map(|r| {
            let action = action.unwrap_or(match r.rollout.phase {
                Phase::Paused { .. } => "resume",
                _ => "pause",
            });
            verbs::parse("rollout", &format!("{action} {}", r.rollout.model))
        });
        self.question(asked);
    }

    /// `model@N` of the selected model's latest version, in the Models view.
    pub(super) fn selected_latest(&self) -> Option<String> {
        (self.view == View::Models)
            .then(|| {
                self.visible_models()
                    .get(self.selected)
                    .map(|m| format!("{}@{}", m.name, m.latest))
            })
            .flatten()
    }

    /// In read-only mode, says that `what` is refused and returns true.
    pub(super) fn refused(&mut self, what: &str) -> bool {
        if self.read_only {
            self.status = Some((
                format!("read-only console: cannot {what} (started with --read-only)"),
                true,
            ));
        }
        self.read_only
    }

    pub(super) fn toggle_mark(&mut self) {
        if self.view != View::Runs {
            return;
        }
        if let Some(id) = self.selected_run().map(|r| r.id.clone())
            && !self.marked.remove(&id)
        {
            self.marked.insert(id);
        }
    }

    pub(super) fn compare_marked(&mut self) {
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
}
