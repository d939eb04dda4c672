//! A rogue agent: enrolled for training with a real certificate, it claims `role=serve` and
//! the deployment's zone in its hello and sends forged serving windows. It is sent no
//! deployment, gets no artifact, and none of its windows reaches the store; `drover agents`
//! shows what it claimed beyond its grant. Once an operator grants it the zone, it is sent the
//! deployment, and a window beyond the rate configured for one agent is still refused while
//! an honest one counts.

use std::time::Duration;

use drover_protocol::msg::{AgentReport, OperatorRequest, OperatorResponse};
use drover_protocol::serve::{LATENCY_BUCKETS_US, ServingWindow};
use drover_protocol::types::{Labels, parse_labels, unix_ms};
use drover_tests::raw_agent::RawAgent;
use drover_tests::{InProcessAgent, agents, wait_for};

/// A forged window of churn@1 claiming `requests`, all fast.
fn window(requests: u64) -> ServingWindow {
    let mut latency = vec![0; LATENCY_BUCKETS_US.len() + 1];
    latency[0] = requests;
    let end_ms = unix_ms();
    ServingWindow {
        model: "churn".into(),
        version: 1,
        start_ms: end_ms - 10_000,
        end_ms,
        requests,
        errors: 0,
        latency,
        classes: vec![requests, 0],
        feedback: 0,
        correct: 0,
    }
}

/// How many slices of churn's serving history show traffic from stored windows.
async fn served(handle: &drover_coordinator::CoordinatorHandle) -> usize {
    let answer = handle
        .request(OperatorRequest::ServingHistory {
            model: "churn".into(),
            since_ms: 0,
            points: 10,
        })
        .await;
    let OperatorResponse::ServingHistory(points) = answer else {
        panic!("{answer:?}");
    };
    points
        .iter()
        .filter(|p| p.requests_per_second > 0.0)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rogue_agent_claiming_labels_and_forging_windows_changes_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // An operator who knows their agents serve at most 50 requests a second says so.
    let data = tmp.path().join("coord");
    let options = drover_coordinator::CoordinatorOptions {
        reports: drover_coordinator::quota::ReportLimits {
            max_rps: 50,
            ..Default::default()
        },
        ..drover_tests::options(&data)
    };
    let coordinator = drover_coordinator::Coordinator::start(options)
        .await
        .expect("starts");
    drover_tests::add_dataset(&data, "churn", &drover_tests::churn_csv(300, 7)).await;
    let handle = coordinator.handle();
    let _trainer =
        InProcessAgent::join_and_run(&handle, tmp.path().join("trainer"), "trainer").await;
    drover_tests::train_registered(&handle, "rogue").await;
    let zone: Labels = parse_labels("zone=edge").expect("labels");
    let deployed = handle
        .request(OperatorRequest::Deploy {
            model: "churn@1".parse().expect("ref"),
            selector: zone.clone(),
        })
        .await;
    assert!(
        matches!(deployed, OperatorResponse::Deployment(_)),
        "{deployed:?}"
    );

    let issued = handle
        .request(OperatorRequest::CreateLabelledToken {
            ttl_secs: 60,
            uses: 1,
            labels: parse_labels("role=train").expect("labels"),
        })
        .await;
    let OperatorResponse::Token(token) = issued else {
        panic!("{issued:?}");
    };
    let mut rogue = RawAgent::join_claiming(
        &coordinator,
        &data,
        tmp.path(),
        "rogue",
        &token.token,
        "role=serve,zone=edge",
    )
    .await;
    let sent = rogue.plans(Duration::from_secs(2)).await;
    assert!(
        sent.iter().all(Vec::is_empty),
        "a claimed zone selects no deployment: {sent:?}"
    );
    let listed = agents(&handle).await;
    let listed = listed.iter().find(|a| a.id == rogue.id).expect("listed");
    assert_eq!(listed.labels, parse_labels("role=train").expect("labels"));
    assert_eq!(
        listed.claimed,
        parse_labels("role=serve,zone=edge").expect("labels")
    );

    rogue
        .report(&AgentReport::ServingWindows(vec![window(400)]))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        served(&handle).await,
        0,
        "a window of a version never sent is dropped"
    );

    let granted = handle
        .request(OperatorRequest::LabelAgent {
            id: rogue.id.clone(),
            set: zone,
            remove: Vec::new(),
        })
        .await;
    assert!(
        matches!(granted, OperatorResponse::AgentLabelled(_)),
        "{granted:?}"
    );
    let sent = rogue.plans(Duration::from_secs(2)).await;
    assert!(
        sent.iter()
            .any(|plan| plan.iter().any(|d| d.model == "churn")),
        "once granted the zone, it is sent the deployment: {sent:?}"
    );
    let beyond = 50 * 10 + 1;
    rogue
        .report(&AgentReport::ServingWindows(vec![window(beyond)]))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        served(&handle).await,
        0,
        "a window beyond the configured rate is dropped"
    );
    // Counts chosen to overflow a sum: refused, and the session goes on.
    let mut overflowing = window(0);
    overflowing.latency[0] = u64::MAX;
    overflowing.latency[1] = 1;
    overflowing.classes = vec![u64::MAX, 1];
    rogue
        .report(&AgentReport::ServingWindows(vec![overflowing]))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(served(&handle).await, 0, "an overflowing window is dropped");
    rogue
        .report(&AgentReport::ServingWindows(vec![window(400)]))
        .await;
    wait_for("the honest window to count", || async {
        (served(&handle).await > 0).then_some(())
    })
    .await;
}
