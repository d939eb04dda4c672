//! drover: the console and the scripted verbs, around the coordinator library
//! (`drover-coordinator`), which never depends on them.
//!
//! - [`client`]: the operator API over QUIC, and [`client::OperatorLink`], which the console
//!   and the verbs use whether the coordinator is in this process or another.
//! - [`config`]: settings, resolved flag > `DROVER_*` env > file > default.
//! - [`cli`]: one scripted verb per file.
//! - [`console`]: the ratatui application.
//! - [`daemon`]: the headless coordinator, with an optional in-process agent.
//! - [`local_agent`]: an agent in this process, enrolled like any other.
//! - [`ops`]: backup, restore and doctor for a coordinator's data dir.
//! - [`present`]: formatting shared by the CLI and the console.

pub mod cli;
pub mod client;
pub mod config;
pub mod console;
pub mod daemon;
pub mod local_agent;
pub mod ops;
pub mod present;
