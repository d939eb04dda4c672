//! Everything that can change the console's state, each an imperative verb, and the work the
//! console asks to be done off its loop.

use drover_protocol::msg::EventRecord;
use drover_protocol::registry::{ModelRef, Stage};
use drover_protocol::spec::TrainSpec;

use super::describe::{Detail, DetailAsk};
use super::fetch::{Answer, Ask};

/// One change to [`super::app::App`]; `App::update` is the only place that applies them.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Leave the console, restoring the terminal.
    Quit,
    /// Open the `:` command line to switch views or run `:train SPEC`.
    OpenCommandLine,
    /// Open the `/` filter for the current view.
    OpenFilter,
    /// Show the key help overlay.
    ShowHelp,
    /// Close the overlay, form or input line, or clear the filter.
    Back,
    /// Move the selection down one row.
    SelectNext,
    /// Move the selection up one row.
    SelectPrevious,
    /// Move the selection to the first row.
    SelectFirst,
    /// Move the selection to the last row.
    SelectLast,
    /// Move the selection a page down.
    PageDown,
    /// Move the selection a page up.
    PageUp,
    /// Show the next view (in the order of the number keys).
    NextView,
    /// Show the previous view.
    PreviousView,
    /// Show the view with this index (0 = agents, 1 = runs, 2 = compare, 3 = models,
    /// 4 = datasets, 5 = events, 6 = rollouts, 7 = overview).
    GoToView(usize),
    /// Complete the command line's word.
    Complete,
    /// Open the describe pane of the selected row.
    Describe,
    /// Ask whether to cancel the selected run, or to remove the selected agent.
    RequestRemove,
    /// Ask whether to re-run the selected run.
    RequestRerun,
    /// Ask whether to pause the selected rollout, or to resume it when paused.
    RequestPause,
    /// Open the command line at `:promote MODEL@N ` for the selected model's latest version.
    StartPromote,
    /// Open the command line at `:alias MODEL@N ` (Models) or `:add-dataset NAME ` (Datasets).
    StartAdd,
    /// Scroll the help overlay by this many lines.
    ScrollHelp(i32),
    /// Do what the open question asked about.
    Confirm,
    /// Fill a fetched part into the open describe pane.
    ShowDetail(Detail),
    /// Type a character into the open input line or form field.
    Type(char),
    /// Erase the last character of the open input line or form field.
    Erase,
    /// Run what the input line or form holds.
    Submit,
    /// Ask the coordinator for fresh data now.
    Refresh,
    /// Mark or unmark the selected run for comparison.
    ToggleMark,
    /// Open the Compare view for the marked runs.
    CompareMarked,
    /// Cycle the Runs view's order.
    CycleSort,
    /// Open the form to launch training.
    OpenLaunchForm,
    /// Move to the next form field.
    NextField,
    /// Change the selected form field's choice (-1 previous, +1 next).
    CycleChoice(i32),
    /// Apply what a fetch brought back, if it is still wanted.
    Fetched {
        ticket: u64,
        ask: Ask,
        answer: Result<Box<Answer>, String>,
    },
    /// Add an event from the coordinator's stream.
    RecordEvent(EventRecord),
    /// Show a message in the status line.
    ShowMessage(String),
    /// Show an error in the status line.
    ShowError(String),
    /// Note that the coordinator is reachable again (and fetch what the screen shows).
    SetConnected,
    /// Note that the coordinator is unreachable: rows are no longer live.
    SetDisconnected { reason: String, retry_at_ms: u64 },
    /// Advance the clock used for "3s ago" columns (the Agents view refreshes then).
    SetClock(u64),
    /// Redraw (after a terminal resize).
    Redraw,
}

/// Work the console asks to be done off the UI loop; results come back as events.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Fetch what `ask` asks for; the answer comes back with `ticket`.
    Fetch { ticket: u64, ask: Ask },
    /// Read a spec file and queue it.
    SubmitSpecFile(String),
    /// Queue a spec built in the launch form.
    SubmitSpec(Box<TrainSpec>),
    /// Fetch what a describe pane shows beyond its row.
    FetchDetail(DetailAsk),
    /// Cancel a queued or running run.
    CancelRun(String),
    /// Move a version to a stage.
    Promote { model: ModelRef, stage: Stage },
    /// Point an alias at a version.
    SetAlias { model: ModelRef, alias: String },
    /// Take an alias off its version.
    RemoveAlias { model: String, alias: String },
    /// Remove an agent; its certificate is refused from then on.
    RemoveAgent(String),
    /// Add the CSV at `path` as the next version of dataset `name`.
    AddDataset { name: String, path: String },
    /// Queue a run's spec again, on the same dataset version with the same seed.
    Rerun(String),
    /// Pause, resume, promote or abort a model's running rollout.
    Rollout {
        model: String,
        command: drover_protocol::rollout::Command,
    },
}
