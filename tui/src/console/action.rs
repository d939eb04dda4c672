//! Everything that can change the console's state, each an imperative verb.

use drover_protocol::msg::EventRecord;
use drover_protocol::types::AgentInfo;

/// One change to [`super::app::App`]; `App::update` is the only place that applies them.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Leave the console, restoring the terminal.
    Quit,
    /// Open the `:` command line to switch views.
    OpenCommandLine,
    /// Open the `/` filter for the current view.
    OpenFilter,
    /// Show the key help overlay.
    ShowHelp,
    /// Close the overlay or input line, or clear the filter.
    Back,
    /// Move the selection down one row.
    SelectNext,
    /// Move the selection up one row.
    SelectPrevious,
    /// Type a character into the open input line.
    Type(char),
    /// Erase the last character of the open input line.
    Erase,
    /// Run what the input line holds.
    Submit,
    /// Ask the coordinator for fresh data now.
    Refresh,
    /// Replace the agent list with a fresh one from the coordinator.
    ReplaceAgents(Vec<AgentInfo>),
    /// Add an event from the coordinator's stream.
    RecordEvent(EventRecord),
    /// Show an error in the status line.
    ShowError(String),
    /// Advance the clock used for "3s ago" columns.
    SetClock(u64),
    /// Redraw (after a terminal resize).
    Redraw,
}

/// Work the console asks to be done off the UI loop; results come back as events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Fetch the agent list.
    FetchAgents,
}
