//! The agent-lost alert fires for an agent that was connected and went silent, never for one
//! that joined but has not connected yet.

use std::time::{Duration, Instant};

use drover_protocol::drift::{AlertAction, AlertKind};

use super::config::{Monitoring, Rule};
use super::monitor::Monitor;
use crate::testing;

#[test]
fn only_an_agent_that_was_there_can_be_lost() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shared = testing::shared(dir.path());
    let _commands = testing::agent(&shared, "gone", 1);
    shared.fleet.enrolled(testing::record("joined-only"));
    let lost = shared
        .fleet
        .expire(Instant::now() + Duration::from_secs(3_600));
    assert_eq!(lost.len(), 1);
    let config = Monitoring {
        fire_after: 1,
        rules: vec![Rule {
            name: "agent-lost".into(),
            kind: AlertKind::AgentLost,
            model: None,
            above: None,
            action: AlertAction::Notify,
        }],
        ..Monitoring::default()
    };
    let mut monitor = Monitor::new(&shared, config);
    monitor.evaluate(&shared, 1_800_000_000_000);
    let firing: Vec<String> = shared
        .store
        .sync()
        .alerts(true, 10)
        .expect("alerts")
        .into_iter()
        .map(|a| a.detail)
        .collect();
    assert_eq!(firing.len(), 1, "{firing:?}");
    assert!(firing[0].contains("gone"), "{firing:?}");
}
