//! Delivering alerts beyond the log: an HTTP POST of the alert as JSON to a webhook
//! (retried with backoff) and a command fed the JSON on its standard input. Deliveries read
//! the stored event log through their own persisted cursor, on their own task: a slow or
//! dead sink never blocks the coordinator, and a restart delivers what was left.

use std::sync::Arc;
use std::time::Duration;

use drover_protocol::msg::Event;
use drover_protocol::types::unix_ms;
use http_body_util::Full;
use hyper::body::Bytes;
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

use crate::state::Shared;

const CURSOR: &str = "alert-sinks";
/// Tries per webhook delivery, the first wait between them (doubling), and the longest any
/// one try or command may take.
const ATTEMPTS: u32 = 5;
const FIRST_WAIT: Duration = Duration::from_millis(500);
const TIMEOUT: Duration = Duration::from_secs(10);
/// Alerts older than this when first read (a sink newly configured) are not delivered.
const STALE_MS: u64 = 3_600_000;

/// Where alerts go.
#[derive(Debug, Clone)]
pub struct Sinks {
    pub webhook: Option<String>,
    pub command: Option<String>,
}

/// Delivers every alert event after the cursor, until shutdown.
pub async fn run(shared: Arc<Shared>, sinks: Sinks, shutdown: CancellationToken) {
    loop {
        let batch = shared
            .blocking(|shared| {
                let store = shared.store.sync();
                store
                    .reaction_cursor(CURSOR)
                    .and_then(|cursor| store.events_after(cursor, 64))
            })
            .await;
        let events = match batch {
            Ok(events) => events,
            Err(e) => {
                tracing::error!(cause = %e, "alert sinks could not read the event log");
                Vec::new()
            }
        };
        for record in &events {
            let alert = match &record.event {
                Event::AlertFired { alert } | Event::AlertResolved { alert } => Some(alert),
                _ => None,
            };
            if let Some(alert) = alert
                && record.at_ms + STALE_MS >= unix_ms()
            {
                let body = serde_json::json!({
                    "event": record.event.kind(),
                    "seq": record.seq,
                    "alert": alert,
                    "text": record.event.describe(),
                })
                .to_string();
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = deliver(&sinks, body) => {}
                }
            }
            let seq = record.seq;
            let moved = shared
                .blocking(move |shared| shared.store.sync().set_reaction_cursor(CURSOR, seq))
                .await;
            if let Err(e) = moved {
                tracing::error!(cause = %e, "alert sinks could not move their cursor");
            }
        }
        if events.len() == 64 {
            continue;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = shared.events.stored() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

async fn deliver(sinks: &Sinks, body: String) {
    if let Some(url) = &sinks.webhook {
        let mut wait = FIRST_WAIT;
        for attempt in 1..=ATTEMPTS {
            match tokio::time::timeout(TIMEOUT, post(url, body.clone())).await {
                Ok(Ok(())) => break,
                Ok(Err(e)) => tracing::warn!(url, attempt, "alert webhook failed: {e}"),
                Err(_) => tracing::warn!(url, attempt, "alert webhook timed out"),
            }
            if attempt < ATTEMPTS {
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
        }
    }
    if let Some(command) = &sinks.command
        && let Err(e) = run_command(command, &body).await
    {
        tracing::warn!(command, "alert command failed: {e}");
    }
}

/// POSTs `body` to an `http://host:port/path` URL; any 2xx answer is success.
async fn post(url: &str, body: String) -> Result<(), String> {
    let uri: hyper::Uri = url.parse().map_err(|e| format!("bad URL: {e}"))?;
    let host = uri.host().ok_or("the URL has no host")?.to_string();
    let port = uri.port_u16().unwrap_or(80);
    let stream = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let request = hyper::Request::post(uri.path_and_query().map_or("/", |p| p.as_str()))
        .header(hyper::header::HOST, host)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(hyper::header::USER_AGENT, "drover-alerts")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("answered {}", response.status()))
    }
}

async fn run_command(command: &str, body: &str) -> Result<(), String> {
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| e.to_string())?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(body.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
    }
    match tokio::time::timeout(TIMEOUT, child.wait()).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(format!("exited with {status}")),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out; killed".into()),
    }
}
