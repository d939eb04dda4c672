//! An agent's bulk streams: model artifacts are kept only when every announced byte arrives
//! and hashes as announced, and only from an agent that holds a job; the blobs a job was
//! handed are fetched whole. A cut-off or forged upload leaves nothing behind (so no run can
//! register a model from it).

use drover_protocol::bulk;
use drover_protocol::conn::open_bi;
use drover_protocol::hash::ContentHash;
use drover_protocol::run::{AgentRequest, AgentResponse};
use drover_tests::raw_agent::RawAgent;
use drover_tests::{blobs, coordinator_with_churn, quick_spec, submit};

async fn put(conn: &quinn::Connection, hash: ContentHash, len: u64, bytes: &[u8]) -> AgentResponse {
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
    let (coordinator, data) = coordinator_with_churn(tmp.path()).await;
    let mut agent = RawAgent::join(&coordinator, &data, tmp.path(), "bulk").await;
    let conn = agent.conn.clone();
    let model = vec![7u8; 1000];
    let idle = put(&conn, ContentHash::of(&model), 1000, &model).await;
    assert!(
        matches!(&idle, AgentResponse::Error(e) if e.contains("no job is assigned")),
        "{idle:?}"
    );
    assert_eq!(blobs(&data), 1, "only the dataset is stored");

    submit(&coordinator.handle(), &quick_spec("bulk"))
        .await
        .expect("queued");
    let job = agent.next_job().await;
    let cut = put(&conn, ContentHash::of(&model), 1000, &model[..400]).await;
    assert!(
        matches!(&cut, AgentResponse::Error(e) if e.contains("cut off")),
        "{cut:?}"
    );
    let forged = put(&conn, ContentHash::of(b"other"), 1000, &model).await;
    assert!(
        matches!(&forged, AgentResponse::Error(e) if e.contains("does not verify")),
        "{forged:?}"
    );
    assert_eq!(blobs(&data), 1, "nothing was stored");

    drover_agent::jobs::put_artifact(&conn, &ContentHash::of(&model), &model)
        .await
        .expect("a whole upload is stored");
    assert_eq!(blobs(&data), 2);

    let (mut send, mut recv) = open_bi(&conn).await.expect("stream");
    send.send(&AgentRequest::FetchArtifact {
        hash: job.dataset.hash.clone(),
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
    assert_eq!(hash, job.dataset.hash);
    assert_eq!(ContentHash::of(&fetched), job.dataset.hash);

    let (mut send, mut recv) = open_bi(&conn).await.expect("stream");
    send.send(&AgentRequest::FetchArtifact {
        hash: ContentHash::of(b"never stored"),
    })
    .await
    .expect("frame");
    send.finish();
    assert!(
        matches!(recv.expect().await.expect("answer"), AgentResponse::Error(e) if e.contains("not part of a job"))
    );
    conn.close(0u32.into(), b"done");
    coordinator.stop().await;
}
