//! The QUIC side of the coordinator: the listener and its admission control, each kind of
//! session (enrollment, agent, operator), what an agent may fetch and upload, and the work a
//! session hands off.

pub mod admission;
pub mod agent_bulk;
pub mod agent_session;
pub mod backlog;
pub mod enroll;
pub mod grants;
pub mod labels;
pub mod operator_session;
pub mod peer;
pub mod server;
