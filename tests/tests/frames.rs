//! Bad bytes on the wire: garbage, truncated and oversized frames close that connection only;
//! a protocol version mismatch is reported clearly on both sides.

use bytes::BufMut;
use drover::client::OperatorClient;
use drover_protocol::conn::open_bi;
use drover_protocol::frame::MAX_FRAME_LEN;
use drover_protocol::msg::{
    AgentHello, Hello, HelloOutcome, HelloReply, Intent, OperatorRequest, OperatorResponse,
};
use drover_protocol::types::Capacity;
use drover_protocol::{DROVER_VERSION, PROTOCOL_VERSION};
use drover_tests::{FakeCoordinator, connect_raw, start_coordinator};

async fn send_bad_bytes_and_expect_close(data: &std::path::Path, bytes: &[u8]) {
    let client = OperatorClient::for_data_dir(data, None)
        .await
        .expect("operator connects");
    let conn = client.connection().clone();
    let (mut send, _recv) = open_bi(&conn).await.expect("stream");
    send.send_raw(bytes).await.expect("bytes go out");
    send.finish();
    let closed = tokio::time::timeout(std::time::Duration::from_secs(5), conn.closed())
        .await
        .expect("closed in time");
    assert!(
        matches!(closed, quinn::ConnectionError::ApplicationClosed(ref c) if c.reason.as_ref() == b"bad frame"),
        "{closed:?}"
    );
    let fresh = OperatorClient::for_data_dir(data, None)
        .await
        .expect("the coordinator keeps serving");
    assert!(matches!(
        fresh
            .request(&OperatorRequest::Status)
            .await
            .expect("status"),
        OperatorResponse::Status(_)
    ));
    fresh.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_truncated_and_oversized_frames_close_only_that_connection() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("coord");
    let coordinator = start_coordinator(&data).await;

    let mut garbage = Vec::new();
    garbage.put_u32(6);
    garbage.put_slice(&[0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0xfa]);
    send_bad_bytes_and_expect_close(&data, &garbage).await;

    let mut truncated = Vec::new();
    truncated.put_u32(100);
    truncated.put_slice(&[1, 2, 3]);
    send_bad_bytes_and_expect_close(&data, &truncated).await;

    let mut oversized = Vec::new();
    oversized.put_u32((MAX_FRAME_LEN + 1) as u32);
    oversized.put_slice(&[0; 64]);
    send_bad_bytes_and_expect_close(&data, &oversized).await;

    coordinator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_garbage_hello_closes_the_connection() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let coordinator = start_coordinator(tmp.path()).await;
    let conn = connect_raw(&coordinator, tmp.path(), None)
        .await
        .expect("connects");
    let (mut send, _recv) = open_bi(&conn).await.expect("stream");
    send.send_raw(&[0, 0, 0, 2, 0xfc, 0x01])
        .await
        .expect("sent");
    let closed = tokio::time::timeout(std::time::Duration::from_secs(5), conn.closed())
        .await
        .expect("closed in time");
    assert!(
        matches!(closed, quinn::ConnectionError::ApplicationClosed(ref c) if c.reason.as_ref() == b"bad frame"),
        "{closed:?}"
    );
    let fresh = OperatorClient::for_data_dir(tmp.path(), None)
        .await
        .expect("still serving");
    fresh.close().await;
    coordinator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_coordinator_refuses_a_peer_of_another_version() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let coordinator = start_coordinator(tmp.path()).await;
    let conn = connect_raw(&coordinator, tmp.path(), None)
        .await
        .expect("connects");
    let (mut send, mut recv) = open_bi(&conn).await.expect("stream");
    let hello = Hello {
        proto_version: PROTOCOL_VERSION + 98,
        drover_version: "9.9.9".into(),
        intent: Intent::Operator,
    };
    send.send(&hello).await.expect("sent");
    let reply: HelloReply = recv
        .expect_versioned()
        .await
        .expect("a reply this version can read");
    match reply.outcome {
        HelloOutcome::Refused(reason) => {
            assert!(
                reason.contains("protocol version mismatch")
                    && reason.contains(&(PROTOCOL_VERSION + 98).to_string()),
                "{reason}"
            );
        }
        other => panic!("a mismatched peer was not refused: {other:?}"),
    }
    coordinator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_reports_a_coordinator_of_another_version() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let fake = FakeCoordinator::start(tmp.path(), "ag-fake");
    let config = FakeCoordinator::agent_config(tmp.path(), std::time::Duration::ZERO);
    let fake = tokio::spawn(async move {
        let (conn, mut send, mut recv) = fake.accept().await;
        let hello: Hello = recv.expect_versioned().await.expect("hello");
        assert!(matches!(
            hello.intent,
            Intent::Agent(AgentHello {
                capacity: Capacity { job_slots: 1, .. },
                ..
            })
        ));
        let reply = HelloReply {
            proto_version: PROTOCOL_VERSION + 1,
            outcome: HelloOutcome::Refused(String::new()),
        };
        send.send(&reply).await.expect("reply");
        send.finish();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), conn.closed()).await;
    });
    let err = drover_agent::run(config, tokio_util::sync::CancellationToken::new())
        .await
        .expect_err("mismatch is fatal");
    let text = format!("{err:#}");
    assert!(
        text.contains(&format!(
            "this agent speaks up to version {PROTOCOL_VERSION}, the coordinator speaks {}",
            PROTOCOL_VERSION + 1
        )),
        "{text}"
    );
    assert!(DROVER_VERSION.contains('.'));
    fake.await.expect("fake coordinator");
}
