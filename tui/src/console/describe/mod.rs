//! Describe panes (Enter or `d`): everything about the selected row, as lines. What the view
//! holds shows at once; the rest (a run's detail, a dataset's profile, a version's history, an
//! agent's jobs) is fetched and filled in when it arrives ([`Described::fill`]).

mod agent;
mod dataset;
mod event;
mod run;
mod version;

use drover_protocol::data::DatasetVersion;
use drover_protocol::msg::EventRecord;
use drover_protocol::registry::ModelVersion;
use drover_protocol::run::{RunDetail, RunSummary};
use drover_protocol::types::AgentInfo;

/// What the open describe pane shows; `None` parts are being fetched.
#[derive(Debug, Clone, PartialEq)]
pub enum Described {
    /// A run, by id, and its detail.
    Run(String, Option<Box<RunDetail>>),
    /// An agent and the runs it runs.
    Agent(AgentInfo, Option<Vec<RunSummary>>),
    /// A model version and its model's registry events.
    Version(ModelVersion, Option<Vec<EventRecord>>),
    /// A dataset, by name, and its latest version with schema and profile.
    Dataset(String, Option<Box<DatasetVersion>>),
    Event(EventRecord),
}

/// What a describe pane fetches, by what it is about.
#[derive(Debug, Clone, PartialEq)]
pub enum DetailAsk {
    Run(String),
    AgentJobs(String),
    ModelHistory(String),
    Dataset(String),
}

/// A fetched part of a pane, with what it is about.
#[derive(Debug, Clone, PartialEq)]
pub enum Detail {
    Run(Box<RunDetail>),
    AgentJobs(String, Vec<RunSummary>),
    ModelHistory(String, Vec<EventRecord>),
    Dataset(Box<DatasetVersion>),
}

impl Described {
    /// Fills in `detail` if it belongs to this pane (a late answer about another row does not).
    pub fn fill(&mut self, detail: Detail) {
        match (self, detail) {
            (Described::Run(id, slot), Detail::Run(run)) if *id == run.summary.id => {
                *slot = Some(run)
            }
            (Described::Agent(a, slot), Detail::AgentJobs(id, jobs)) if a.id.0 == id => {
                *slot = Some(jobs)
            }
            (Described::Version(v, slot), Detail::ModelHistory(model, events))
                if v.model == model =>
            {
                *slot = Some(events)
            }
            (Described::Dataset(name, slot), Detail::Dataset(d)) if *name == d.name => {
                *slot = Some(d)
            }
            _ => {}
        }
    }
}

/// The pane's title and lines.
pub fn lines(described: &Described, now_ms: u64) -> (String, Vec<String>) {
    match described {
        Described::Run(id, None) => (format!(" Run {id} "), vec!["loading...".into()]),
        Described::Run(id, Some(run)) => (format!(" Run {id} "), run::lines(run, now_ms)),
        Described::Agent(a, jobs) => (
            format!(" Agent {} ", a.id),
            agent::lines(a, jobs.as_deref(), now_ms),
        ),
        Described::Version(v, history) => (
            format!(" Model {}@{} ", v.model, v.version),
            version::lines(v, history.as_deref(), now_ms),
        ),
        Described::Dataset(name, None) => (format!(" Dataset {name} "), vec!["loading...".into()]),
        Described::Dataset(_, Some(d)) => (
            format!(" Dataset {}@{} ", d.name, d.version),
            dataset::lines(d, now_ms),
        ),
        Described::Event(e) => (format!(" Event {} ", e.seq), event::lines(e, now_ms)),
    }
}
