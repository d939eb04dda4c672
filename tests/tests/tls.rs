//! Mutual TLS refusals: a certificate from another CA, no certificate, an agent certificate
//! on the operator API, and a removed agent's certificate. Each connection is refused and the
//! coordinator keeps serving everyone else.

use drover::client::OperatorClient;
use drover_coordinator::Coordinator;
use drover_protocol::conn::open_bi;
use drover_protocol::msg::{
    Hello, HelloOutcome, HelloReply, Intent, OperatorRequest, OperatorResponse,
};
use drover_protocol::pki::{self, Role};
use drover_protocol::{DROVER_VERSION, PROTOCOL_VERSION};
use drover_tests::{InProcessAgent, connect_raw, start_coordinator, wait_for};

/// Connects with `identity` (or none), sends an operator hello, and returns how it went.
async fn operator_hello(
    coordinator: &Coordinator,
    data_dir: &std::path::Path,
    identity: Option<&pki::CertifiedKeyPem>,
) -> Result<HelloOutcome, String> {
    let conn = connect_raw(coordinator, data_dir, identity).await?;
    let (mut send, mut recv) = open_bi(&conn).await.map_err(|e| e.to_string())?;
    let hello = Hello {
        proto_version: PROTOCOL_VERSION,
        drover_version: DROVER_VERSION.into(),
        intent: Intent::Operator,
    };
    send.send(&hello).await.map_err(|e| e.to_string())?;
    let reply: HelloReply = recv.expect_versioned().await.map_err(|e| e.to_string())?;
    conn.close(0u32.into(), b"");
    Ok(reply.outcome)
}

async fn still_serves(data_dir: &std::path::Path) {
    let client = OperatorClient::for_data_dir(data_dir, None)
        .await
        .expect("a good operator still connects");
    assert!(matches!(
        client
            .request(&OperatorRequest::Status)
            .await
            .expect("status"),
        OperatorResponse::Status(_)
    ));
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_or_missing_certificates_are_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("coord");
    let coordinator = start_coordinator(&data).await;

    // A client certificate signed by another CA fails the handshake.
    let other_ca = pki::new_ca("someone else").expect("ca");
    let stranger = pki::issue(&other_ca, Role::Operator, "mallory").expect("cert");
    let err = operator_hello(&coordinator, &data, Some(&stranger))
        .await
        .expect_err("foreign certificate refused");
    assert!(!err.is_empty());
    still_serves(&data).await;

    // No certificate: TLS lets it in, the coordinator refuses anything but enrollment.
    match operator_hello(&coordinator, &data, None).await {
        Ok(HelloOutcome::Refused(reason)) => assert!(
            reason.contains("client certificate is required"),
            "{reason}"
        ),
        other => panic!("no-certificate operator was not refused: {other:?}"),
    }
    still_serves(&data).await;

    // A real agent certificate on the operator API.
    let agent =
        InProcessAgent::join_and_run(&coordinator.handle(), tmp.path().join("agent"), "host-a")
            .await;
    let identity = pki::CertifiedKeyPem {
        cert_pem: std::fs::read_to_string(agent.state_dir.join("agent.pem")).expect("cert"),
        key_pem: std::fs::read_to_string(agent.state_dir.join("agent.key")).expect("key"),
    };
    match operator_hello(&coordinator, &data, Some(&identity)).await {
        Ok(HelloOutcome::Refused(reason)) => assert!(
            reason.contains("agent certificate of ag-")
                && reason.contains("cannot use the operator API"),
            "{reason}"
        ),
        other => panic!("agent certificate reached the operator API: {other:?}"),
    }
    still_serves(&data).await;

    // A removed agent is disconnected, and its certificate is refused from then on.
    let handle = coordinator.handle();
    let id = agent.id.clone();
    wait_for("agent ready", || async {
        (drover_tests::ready_count(&handle).await == 1).then_some(())
    })
    .await;
    let removed = handle
        .request(OperatorRequest::RemoveAgent { id: id.clone() })
        .await;
    assert_eq!(removed, OperatorResponse::AgentRemoved(id));
    let ended = agent
        .ended()
        .await
        .expect_err("a removed agent stops with an error");
    assert!(format!("{ended:#}").contains("removed"), "{ended:#}");
    let state = drover_agent::state::AgentState::load(&tmp.path().join("agent"))
        .expect("load")
        .expect("state");
    let config = drover_agent::config::AgentConfig {
        state_dir: tmp.path().join("agent"),
        labels: Default::default(),
        http: None,
        job_slots: 1,
        coordinator: Some(state.coordinator),
        hostname: None,
        shutdown_grace: std::time::Duration::ZERO,
        log_level: None,
        serving_window: drover_agent::config::DEFAULT_SERVING_WINDOW,
        http_tls: None,
    };
    let rerun = drover_agent::run(config, tokio_util::sync::CancellationToken::new())
        .await
        .expect_err("refused");
    assert!(format!("{rerun:#}").contains("was removed"), "{rerun:#}");
    assert!(drover_tests::agents(&handle).await.is_empty());
    still_serves(&data).await;
    coordinator.stop().await;
}
