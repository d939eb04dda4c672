//! An agent's bulk streams: model artifacts are kept only when every announced byte arrives
//! and hashes as announced; artifacts are fetched whole. A cut-off or forged upload leaves
//! nothing behind (so no run can register a model from it).

use drover_protocol::bulk;
use drover_protocol::conn::open_bi;
use drover_protocol::data::content_hash;
use drover_protocol::msg::{AgentHello, Hello, HelloOutcome, HelloReply, Intent};
use drover_protocol::run::{AgentRequest, AgentResponse};
use drover_protocol::types::{Capacity, Labels};
use drover_protocol::{DROVER_VERSION, PROTOCOL_VERSION};
use drover_tests::{blobs, connect_raw, start_coordinator, token};

async fn put(conn: &quinn::Connection, hash: String, len: u64, bytes: &[u8]) -> AgentResponse {
    let (mut send, mut recv) = open_bi(conn).await.expect("stream");
    send.send(&AgentRequest::PutArtifact { hash, len })
        .await
        .expect("frame");
    let _ = send.send_raw(bytes).await;
    send.finish();
    recv.expect().await.expect("answer")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn artifacts_are_stored_only_whole_and_verified() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("coord");
    let coordinator = start_coordinator(&data).await;
    let join = token(&coordinator.handle(), 1, 60).await;
    let state = drover_agent::enroll::join(&join, &tmp.path().join("agent"), None, "bulk")
        .await
        .expect("joins");
    let conn = connect_raw(&coordinator, &data, Some(&state.identity))
        .await
        .expect("connects");
    let (mut control, mut replies) = open_bi(&conn).await.expect("control stream");
    let hello = AgentHello {
        hostname: "bulk".into(),
        labels: Labels::new(),
        capacity: Capacity {
            cpus: 1,
            memory_bytes: 0,
            job_slots: 1,
        },
    };
    control
        .send(&Hello {
            proto_version: PROTOCOL_VERSION,
            drover_version: DROVER_VERSION.into(),
            intent: Intent::Agent(hello),
        })
        .await
        .expect("hello");
    let reply: HelloReply = replies.expect_versioned().await.expect("reply");
    assert!(matches!(reply.outcome, HelloOutcome::Welcome(_)));

    let model = vec![7u8; 1000];
    let cut = put(&conn, content_hash(&model), 1000, &model[..400]).await;
    assert!(
        matches!(&cut, AgentResponse::Error(e) if e.contains("cut off")),
        "{cut:?}"
    );
    let forged = put(&conn, content_hash(b"other"), 1000, &model).await;
    assert!(
        matches!(&forged, AgentResponse::Error(e) if e.contains("does not verify")),
        "{forged:?}"
    );
    assert_eq!(blobs(&data), 0, "nothing was stored");

    drover_agent::jobs::put_artifact(&conn, &content_hash(&model), &model)
        .await
        .expect("a whole upload is stored");
    assert_eq!(blobs(&data), 1);

    let (mut send, mut recv) = open_bi(&conn).await.expect("stream");
    send.send(&AgentRequest::FetchArtifact {
        hash: content_hash(&model),
    })
    .await
    .expect("frame");
    send.finish();
    let AgentResponse::Artifact { len } = recv.expect().await.expect("answer") else {
        panic!("no artifact")
    };
    let mut fetched = Vec::new();
    let hash = bulk::receive(recv, len, &mut |chunk| {
        fetched.extend_from_slice(chunk);
        Ok(())
    })
    .await
    .expect("bytes");
    assert_eq!((fetched, hash), (model.clone(), content_hash(&model)));

    let (mut send, mut recv) = open_bi(&conn).await.expect("stream");
    send.send(&AgentRequest::FetchArtifact {
        hash: "00".repeat(32),
    })
    .await
    .expect("frame");
    send.finish();
    assert!(
        matches!(recv.expect().await.expect("answer"), AgentResponse::Error(e) if e.contains("no artifact"))
    );
    conn.close(0u32.into(), b"done");
    coordinator.stop().await;
}
