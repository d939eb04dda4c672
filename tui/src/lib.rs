//! drover: the console, the coordinator and the scripted verbs.
//!
//! - [`coordinator`]: store, PKI and enrollment, agent and operator sessions, HTTP metrics.
//!   Never depends on the console.
//! - [`client`]: the operator API over QUIC, and [`client::OperatorLink`], which the console
//!   and the verbs use whether the coordinator is in this process or another.
//! - [`config`]: settings, resolved flag > `DROVER_*` env > file > default.
//! - [`cli`]: one scripted verb per file.
//! - [`console`]: the ratatui application.
//! - [`daemon`]: the headless coordinator, with an optional in-process agent.
//! - [`ops`]: backup, restore and doctor for a coordinator's data dir.

pub mod cli;
pub mod client;
pub mod config;
pub mod console;
pub mod daemon;
pub mod local_agent;
pub mod ops;
