//! An operator's session: after the welcome, every request arrives on its own bidirectional
//! stream and is answered on it; `Subscribe` keeps its stream open and streams events, and
//! `AddDataset` is followed by the dataset's bytes on the same stream.

use std::sync::Arc;

use drover_protocol::conn::{ConnError, FramedSend, accept_bi};
use drover_protocol::frame::FrameError;
use drover_protocol::msg::{
    ApiError, HelloOutcome, HelloReply, OperatorRequest, OperatorResponse, Welcome,
};
use drover_protocol::{DROVER_VERSION, PROTOCOL_VERSION};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use super::peer::ConnectionError;
use crate::state::Shared;
use crate::{api, audit, datasets};

/// Serves one operator connection until it closes or the coordinator stops.
pub async fn run(
    shared: Arc<Shared>,
    operator: String,
    conn: quinn::Connection,
    mut control: FramedSend,
    shutdown: CancellationToken,
) -> Result<(), ConnectionError> {
    let welcome = Welcome {
        coordinator_version: DROVER_VERSION.into(),
        agent_id: None,
        heartbeat_interval_ms: shared.fleet.interval().as_millis() as u64,
    };
    control
        .send(&HelloReply {
            proto_version: PROTOCOL_VERSION,
            outcome: HelloOutcome::Welcome(welcome),
        })
        .await?;
    loop {
        let (send, mut recv) = tokio::select! {
            _ = shutdown.cancelled() => {
                conn.close(0u32.into(), b"coordinator shutting down");
                return Ok(());
            }
            stream = accept_bi(&conn) => match stream {
                Ok(pair) => pair,
                Err(_) => return Ok(()),
            },
        };
        let shared = shared.clone();
        let conn = conn.clone();
        let operator = operator.clone();
        tokio::spawn(async move {
            let request = match recv.expect::<OperatorRequest>().await {
                Ok(request) => request,
                Err(e) => {
                    tracing::warn!(cause = %e, "bad operator request; closing the connection");
                    metrics::counter!("drover_frames_rejected_total").increment(1);
                    conn.close(1u32.into(), b"bad frame");
                    return;
                }
            };
            metrics::counter!("drover_frames_received_total").increment(1);
            if let OperatorRequest::AddDataset(upload) = request {
                let request = OperatorRequest::AddDataset(upload.clone());
                let response = datasets::receive(&shared, upload, recv).await;
                audit::record(&shared, &operator, &request, &response);
                if respond(send, &response).await.is_err() {
                    tracing::debug!("operator stream ended before the answer");
                }
                return;
            }
            if let Err(e) = answer(&shared, &operator, &conn, request, send).await {
                tracing::debug!(cause = %e, "operator stream ended");
            }
        });
    }
}

async fn answer(
    shared: &Arc<Shared>,
    operator: &str,
    conn: &quinn::Connection,
    request: OperatorRequest,
    mut send: FramedSend,
) -> Result<(), ConnectionError> {
    if request == OperatorRequest::Subscribe {
        let mut events = shared.events.subscribe();
        loop {
            let next = tokio::select! {
                next = events.recv() => next,
                _ = conn.closed() => return Ok(()),
            };
            match next {
                Ok(record) => send.send(&OperatorResponse::Event(record)).await?,
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "subscriber fell behind; events skipped")
                }
                Err(RecvError::Closed) => return Ok(()),
            }
        }
    }
    respond(send, &api::handle(shared, operator, request).await).await
}

/// Sends one answer and finishes the stream. An answer too large for a frame becomes an error
/// answer saying so, and is logged, instead of a stream that closes without a word.
async fn respond(mut send: FramedSend, response: &OperatorResponse) -> Result<(), ConnectionError> {
    match send.send(response).await {
        Err(ConnError::Frame(e @ (FrameError::TooLarge { .. } | FrameError::Encode(_)))) => {
            tracing::error!(cause = %e, "an operator answer is too large to send");
            let error = ApiError::internal(format!("the answer cannot be sent: {e}"));
            send.send(&OperatorResponse::Error(error)).await?;
        }
        other => other?,
    }
    send.finish();
    Ok(())
}
