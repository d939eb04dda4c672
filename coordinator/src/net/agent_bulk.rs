//! Streams an agent opens for bulk data: fetching a blob its jobs were handed (a dataset, a
//! production model), and storing one (a trained model), which is kept only when its bytes
//! match the announced hash. Every transfer, and every refusal, is logged with the agent.

use drover_protocol::conn::{FramedRecv, FramedSend};
use drover_protocol::hash::ContentHash;
use drover_protocol::run::{AgentRequest, AgentResponse};
use drover_protocol::types::AgentId;
use tokio::io::AsyncReadExt;

use crate::artifacts::StageError;
use crate::net::grants::Grants;
use crate::state::Shared;

const CHUNK: usize = 256 * 1024;

/// Answers one bulk request from `agent`, within what its session's `grants` allow.
pub async fn serve(
    shared: &Shared,
    agent: &AgentId,
    grants: &Grants,
    mut send: FramedSend,
    mut recv: FramedRecv,
) {
    let request = match recv.expect::<AgentRequest>().await {
        Ok(request) => request,
        Err(e) => {
            metrics::counter!("drover_bulk_refused_total", "reason" => "bad request").increment(1);
            return tracing::warn!(%agent, cause = %e, "bad bulk request from an agent");
        }
    };
    let result = match request {
        AgentRequest::FetchArtifact { hash } => {
            fetch(shared, agent, grants, &hash, &mut send).await
        }
        AgentRequest::PutArtifact { hash, len } => {
            let answer = put(shared, agent, grants, &hash, len, recv).await;
            send.send(&answer).await.map_err(|e| e.to_string())
        }
    };
    if let Err(e) = result {
        tracing::warn!(%agent, cause = %e, "bulk transfer with an agent failed");
    }
    send.finish();
}

async fn fetch(
    shared: &Shared,
    agent: &AgentId,
    grants: &Grants,
    hash: &ContentHash,
    send: &mut FramedSend,
) -> Result<(), String> {
    let Some(what) = grants.fetchable(hash) else {
        metrics::counter!("drover_bulk_refused_total", "reason" => "not granted").increment(1);
        tracing::warn!(%agent, %hash, "refused a fetch: no job of this agent was handed that artifact");
        return send
            .send(&AgentResponse::Error(format!(
                "artifact {hash} is not part of a job assigned to this agent"
            )))
            .await
            .map_err(|e| e.to_string());
    };
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
    tracing::info!(%agent, %hash, what, bytes = len, "agent fetches an artifact");
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

async fn put(
    shared: &Shared,
    agent: &AgentId,
    grants: &Grants,
    hash: &ContentHash,
    len: u64,
    recv: FramedRecv,
) -> AgentResponse {
    if let Err(refused) = grants.may_upload() {
        metrics::counter!("drover_bulk_refused_total", "reason" => "upload").increment(1);
        tracing::warn!(%agent, %hash, bytes = len, %refused, "refused an upload");
        return AgentResponse::Error(format!("upload refused: {refused}"));
    }
    let staged = match shared.artifacts.stage(recv, len, hash).await {
        Ok(staged) => staged,
        Err(StageError::Mismatch {
            announced,
            received,
        }) => {
            tracing::warn!(%agent, %announced, %received, "an uploaded artifact does not verify");
            return AgentResponse::Error(format!(
                "the artifact does not verify: announced BLAKE3 {announced}, received {received}"
            ));
        }
        Err(e) => {
            tracing::warn!(%agent, %hash, cause = %e, "an upload failed");
            return AgentResponse::Error(e.to_string());
        }
    };
    match shared.artifacts.commit(staged) {
        Ok(_) => {
            grants.uploaded(hash);
            tracing::info!(%agent, %hash, bytes = len, "agent stored an artifact");
            AgentResponse::Stored
        }
        Err(e) => AgentResponse::Error(format!("storing the artifact: {e}")),
    }
}
