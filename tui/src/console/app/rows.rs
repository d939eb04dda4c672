//! What each view shows: its rows after the filter (the coordinator filters and orders runs),
//! the selection kept inside them, and the fleet counts of the header.

use drover_protocol::data::DatasetSummary;
use drover_protocol::drift::{Alert, ColumnDrift, DriftReport, Status};
use drover_protocol::msg::EventRecord;
use drover_protocol::registry::ModelSummary;
use drover_protocol::rollout::RolloutStatus;
use drover_protocol::run::RunSummary;
use drover_protocol::types::{AgentInfo, AgentStatus, format_labels};

use super::App;
use crate::console::commands::View;

impl App {
    pub(super) fn row_count(&self) -> usize {
        match self.view {
            View::Agents => self.visible_agents().len(),
            View::Runs => self.runs.total as usize,
            View::Datasets => self.visible_datasets().len(),
            View::Models => self.visible_models().len(),
            View::Events => self.visible_events().len(),
            View::Rollouts => self.visible_rollouts().len(),
            View::Drift => self.visible_drift().len(),
            View::Alerts => self.visible_alerts().len(),
            View::Compare | View::Overview => 0,
        }
    }

    /// Every served version's columns that match the filter (model, column, status), each
    /// version's worst first, versions with a drifted column first.
    pub fn visible_drift(&self) -> Vec<(&DriftReport, &ColumnDrift)> {
        let mut reports: Vec<&DriftReport> = self.monitoring.reports.iter().collect();
        let drifted = |r: &DriftReport| {
            r.columns
                .iter()
                .filter(|c| c.status == Status::Drifted)
                .count()
        };
        reports.sort_by(|a, b| {
            drifted(b)
                .cmp(&drifted(a))
                .then_with(|| a.model.cmp(&b.model))
        });
        reports
            .into_iter()
            .flat_map(|r| r.columns.iter().map(move |c| (r, c)))
            .filter(|(r, c)| self.matches(&[&r.model, &c.column, &c.status.to_string()]))
            .collect()
    }

    /// The selected column in the Drift view.
    pub fn selected_drift(&self) -> Option<(&DriftReport, &ColumnDrift)> {
        (self.view == View::Drift)
            .then(|| self.visible_drift().get(self.selected).copied())
            .flatten()
    }

    /// Alerts that match the filter (kind, subject, column, state), newest first.
    pub fn visible_alerts(&self) -> Vec<&Alert> {
        self.monitoring
            .alerts
            .iter()
            .filter(|a| {
                let state = if a.firing { "firing" } else { "resolved" };
                self.matches(&[
                    &a.kind.to_string(),
                    &a.subject,
                    a.column.as_deref().unwrap_or(""),
                    state,
                ])
            })
            .collect()
    }

    pub(super) fn clamp_selection(&mut self) {
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

    /// The selected run, when the window of runs fetched holds it (the coordinator filters
    /// and orders runs; see [`App::runs`]).
    pub fn selected_run(&self) -> Option<&RunSummary> {
        let at = self.selected.checked_sub(self.runs.offset as usize)?;
        self.runs.runs.get(at)
    }

    /// Datasets that match the filter (name).
    pub fn visible_datasets(&self) -> Vec<&DatasetSummary> {
        self.datasets
            .iter()
            .filter(|d| self.matches(&[d.name.as_str()]))
            .collect()
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

    /// Rollouts that match the filter (model, strategy, phase), newest first.
    pub fn visible_rollouts(&self) -> Vec<&RolloutStatus> {
        self.rollouts
            .list
            .iter()
            .filter(|r| {
                self.matches(&[
                    r.rollout.model.as_str(),
                    &r.rollout.spec.strategy.to_string(),
                    &r.rollout.phase.to_string(),
                ])
            })
            .collect()
    }

    /// The selected rollout in the Rollouts view.
    pub fn selected_rollout(&self) -> Option<&RolloutStatus> {
        (self.view == View::Rollouts)
            .then(|| self.visible_rollouts().get(self.selected).copied())
            .flatten()
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
}
