//! drover-protocol: the language the coordinator, agents and operators share.
//!
//! The types and framing build without features; the `net` feature adds the network half
//! (QUIC and TLS, PKI, tokens, bulk streams, telemetry).
//!
//! - [`types`]: domain types (agent ids, labels, capacity, agent records).
//! - [`msg`]: the wire enums, `Hello` first on every connection.
//! - [`frame`]: length-prefixed bincode frames with a size limit (bytes only, no I/O).
//! - [`bulk`]: verified bulk bytes after a request frame.
//! - [`conn`]: whole frames over quinn streams.
//! - [`data`]: dataset types: schemas, profiles, versions.
//! - [`drift`]: reference profiles, live sketches, drift scores and alerts.
//! - [`event`]: the event log's entries (re-exported by [`msg`]).
//! - [`float`]: floats that read back from JSON, NaN and infinities included.
//! - [`dial`]: resolving and connecting to the coordinator.
//! - [`files`]: crash-safe writes of keys and state (0600 for secrets).
//! - [`hash`]: content hashes, which can never be paths.
//! - [`http`]: the bounded HTTP(S) listener of both daemons, and its bearer-token rule;
//!   [`head_deadline`]: its deadline on a request's head.
//! - [`tls`]: rustls/quinn configurations for mutual TLS and CA pinning.
//! - [`pki`]: certificate authority, certificate requests, roles inside certificates.
//! - [`registry`]: model versions, stages, aliases, lineage.
//! - [`rollout`]: rollout specs, state and decisions.
//! - [`run`]: training jobs, agent reports, runs as operators see them.
//! - [`serve`]: deployments, traffic weights, what agents serve, label selectors.
//! - [`spec`]: training specs (TOML), validated before anything is queued.
//! - [`telemetry`]: the process-wide Prometheus recorder.
//! - [`token`]: the opaque enrollment token.

#[cfg(feature = "net")]
pub mod admission;
#[cfg(feature = "net")]
pub mod bulk;
#[cfg(feature = "net")]
pub mod conn;
pub mod data;
#[cfg(feature = "net")]
pub mod dial;
pub mod drift;
pub mod event;
#[cfg(feature = "net")]
pub mod files;
pub mod float;
pub mod frame;
pub mod hash;
#[cfg(feature = "net")]
pub mod head_deadline;
#[cfg(feature = "net")]
pub mod http;
pub mod msg;
#[cfg(feature = "net")]
pub mod pki;
pub mod registry;
pub mod rollout;
pub mod run;
pub mod serve;
pub mod spec;
#[cfg(feature = "net")]
pub mod telemetry;
#[cfg(feature = "net")]
pub mod tls;
#[cfg(feature = "net")]
pub mod token;
pub mod types;

/// Version of the wire protocol this build speaks.
///
/// Version 3 added [`msg::AgentReport::Draining`], [`msg::AgentReport::Reconfigured`] and
/// [`msg::AgentReport::Clock`]; an agent sends them only to a coordinator of version 3 or later.
/// Version 4 added serving: [`msg::AgentCommand::Serve`] (sent only to agents of version 4) and
/// [`msg::AgentReport::Serving`] (sent only to coordinators of version 4).
/// Version 5 added rollouts and [`msg::AgentReport::ShadowWindows`] (sent only to
/// coordinators of version 5).
/// Version 6 added drift: [`msg::AgentReport::Sketches`] (sent only to coordinators of
/// version 6).
/// Version 7 added [`msg::Event::RecordQuarantined`] and [`msg::Event::AgentDisagrees`] for
/// operators.
/// Version 8 added [`msg::Event::AgentLeftOut`] for operators and
/// [`msg::Intent::EnrollLabelled`] (sent only by `drover-agent join --labels`).
pub const PROTOCOL_VERSION: u32 = 8;

/// The oldest protocol version still spoken: peers one version apart work together, so
/// agents and the coordinator can be upgraded one at a time. Older peers are refused with a
/// clear error.
pub const MIN_PROTOCOL_VERSION: u32 = 7;

/// ALPN identifier negotiated on every QUIC connection.
pub const ALPN: &[u8] = b"drover/1";

/// The drover release this crate belongs to.
pub const DROVER_VERSION: &str = env!("CARGO_PKG_VERSION");

/// TLS server name every coordinator certificate carries, whatever address it listens on.
pub const COORDINATOR_SERVER_NAME: &str = "drover-coordinator";
