//! Streams an agent opens for bulk data: fetching an artifact (a dataset) by hash, and storing
//! one (a trained model), which is kept only when its bytes match the announced hash.

use drover_protocol::conn::{FramedRecv, FramedSend};
use drover_protocol::run::{AgentRequest, AgentResponse};
use tokio::io::AsyncReadExt;

use super::artifacts::StageError;
use super::state::Shared;

const CHUNK: usize = 256 * 1024;

/// Answers one bulk request from an agent.
pub async fn serve(shared: &Shared, mut send: FramedSend, mut recv: FramedRecv) {
    let request = match recv.expect::<AgentRequest>().await {
        Ok(request) => request,
        Err(e) => return tracing::warn!(cause = %e, "bad bulk request from an agent"),
    };
    let result = match request {
        AgentRequest::FetchArtifact { hash } => fetch(shared, &hash, &mut send).await,
        AgentRequest::PutArtifact { hash, len } => {
            let answer = put(shared, &hash, len, recv).await;
            send.send(&answer).await.map_err(|e| e.to_string())
        }
    };
    if let Err(e) = result {
        tracing::warn!(cause = %e, "bulk transfer with an agent failed");
    }
    send.finish();
}

async fn fetch(shared: &Shared, hash: &str, send: &mut FramedSend) -> Result<(), String> {
    let path = shared.artifacts.path(hash);
    let mut file = match tokio::fs::File::open(&path).await {
        Ok(file) => file,
        Err(_) => {
            return send
                .send(&AgentResponse::Error(format!("no artifact {hash}")))
                .await
                .map_err(|e| e.to_string());
        }
    };
    let len = file.metadata().await.map_err(|e| e.to_string())?.len();
    send.send(&AgentResponse::Artifact { len })
        .await
        .map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = file.read(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Ok(());
        }
        send.send_raw(&buf[..n]).await.map_err(|e| e.to_string())?;
    }
}

async fn put(shared: &Shared, hash: &str, len: u64, recv: FramedRecv) -> AgentResponse {
    let staged = match shared.artifacts.stage(recv, len, hash).await {
        Ok(staged) => staged,
        Err(StageError::Mismatch {
            announced,
            received,
        }) => {
            return AgentResponse::Error(format!(
                "the artifact does not verify: announced BLAKE3 {announced}, received {received}"
            ));
        }
        Err(e) => return AgentResponse::Error(e.to_string()),
    };
    match shared.artifacts.commit(staged) {
        Ok(_) => AgentResponse::Stored,
        Err(e) => AgentResponse::Error(format!("storing the artifact: {e}")),
    }
}
