//! Monitoring with a rogue agent among honest ones: one agent reporting drifted sketches,
//! failed requests and wrong labels raises no alert where three others serve the version
//! honestly (it is announced and left out), while the same reports beside one honest agent
//! still count; and the monitor's running sums count each stored row once and slide with
//! the window.

use drover_protocol::drift::AlertKind;
use drover_protocol::msg::Event;
use drover_protocol::types::AgentId;

use super::aggregates::Aggregates;
use super::config::Rule;
use super::monitor::Monitor;
use super::tests::{NOW, config, deployed, firing, served_by, sketch_from};
use crate::state::Shared;
use crate::testing;

/// What `agent` reports at `at_ms` over one second: a sketch (as the reference has it, or
/// all in the top bin) and 500 requests with `errors` failed and `correct` of 500 labels right.
fn report(shared: &Shared, agent: &str, at_ms: u64, drifted: bool, errors: u64, correct: u64) {
    sketch_from(shared, agent, at_ms, drifted);
    served_by(shared, agent, at_ms, errors, correct);
}

/// The alerts firing (rule and column), and the agents announced as left out.
type Outcome = (Vec<(String, Option<String>)>, Vec<(AgentId, String)>);

/// Three passes a second apart with `honest` agents and one liar reporting before each;
/// the alerts firing after them.
fn monitored(honest: &[&str]) -> Outcome {
    let dir = tempfile::tempdir().expect("tempdir");
    let shared = testing::shared(dir.path());
    deployed(&shared);
    let mut events = shared.events.subscribe();
    let mut settings = config();
    settings.rules.push(Rule {
        name: "errors".into(),
        kind: AlertKind::ErrorRate,
        model: None,
        above: Some(0.05),
        action: drover_protocol::drift::AlertAction::Notify,
    });
    let mut monitor = Monitor::new(&shared, settings);
    for at in [NOW, NOW + 1_000, NOW + 2_000] {
        for agent in honest {
            report(&shared, agent, at, false, 0, 460);
        }
        report(&shared, "liar", at, true, 400, 100);
        monitor.evaluate(&shared, at);
    }
    let alerts = firing(&shared);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    let mut left_out = Vec::new();
    while std::time::Instant::now() < deadline {
        match events.try_recv() {
            Ok(record) => {
                if let Event::AgentLeftOut { agent, detail, .. } = record.event {
                    left_out.push((agent, detail));
                }
            }
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
        }
    }
    (alerts, left_out)
}

#[test]
fn one_agent_disagreeing_with_three_others_raises_no_alert_and_is_announced_once() {
    let (alerts, left_out) = monitored(&["a", "b", "c"]);
    assert_eq!(alerts, Vec::new(), "the liar's reports raised alerts");
    assert_eq!(left_out.len(), 1, "announced once: {left_out:?}");
    assert_eq!(left_out[0].0, AgentId("liar".into()));
    let named = ["error rate", "live accuracy", "tenure bin"];
    assert!(
        named.iter().any(|n| left_out[0].1.contains(n)),
        "says what it disagrees on: {}",
        left_out[0].1
    );

    // Beside one honest agent neither can be told wrong: both count, and the same reports
    // fire drift, accuracy and error-rate alerts.
    let (alerts, left_out) = monitored(&["a"]);
    let rules: Vec<&str> = alerts.iter().map(|(rule, _)| rule.as_str()).collect();
    assert!(rules.contains(&"drift"), "{alerts:?}");
    assert!(rules.contains(&"accuracy"), "{alerts:?}");
    assert!(rules.contains(&"errors"), "{alerts:?}");
    assert!(left_out.is_empty(), "{left_out:?}");
}

#[test]
fn running_sums_count_each_stored_row_once_and_slide_with_the_window() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shared = testing::shared(dir.path());
    deployed(&shared);
    let store = shared.store.sync();
    let mut sums = Aggregates::default();
    let window_ms = 5_000;
    report(&shared, "a", NOW, false, 1, 460);
    report(&shared, "b", NOW, false, 2, 460);
    sums.update(store, NOW - window_ms, window_ms)
        .expect("read");
    sums.update(store, NOW - window_ms, window_ms)
        .expect("read again");
    let requests = |sums: &Aggregates| -> Vec<(String, u64, u64)> {
        sums.evidence("churn", 1)
            .into_iter()
            .map(|(a, e)| (a.0, e.tally.requests, e.tally.errors))
            .collect()
    };
    assert_eq!(
        requests(&sums),
        vec![("a".into(), 500, 1), ("b".into(), 500, 2)],
        "each row once"
    );
    report(&shared, "a", NOW + 4_000, false, 3, 460);
    sums.update(store, NOW + 4_000 - window_ms, window_ms)
        .expect("read");
    assert_eq!(
        requests(&sums),
        vec![("a".into(), 1_000, 4), ("b".into(), 500, 2)]
    );
    let sketched = sums.evidence("churn", 1)[0]
        .1
        .sketch
        .clone()
        .expect("sketch");
    assert_eq!(sketched.columns[0].total(), 2_000, "two sketches merged");
    // The first reports leave the window; the agent with none left is forgotten.
    sums.update(store, NOW + 9_000 - window_ms, window_ms)
        .expect("read");
    assert_eq!(requests(&sums), vec![("a".into(), 500, 3)]);
    assert_eq!(sums.versions("churn"), vec![1]);
    sums.update(store, NOW + 20_000 - window_ms, window_ms)
        .expect("read");
    assert!(sums.versions("churn").is_empty());
}
