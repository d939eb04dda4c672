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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;
    use drover_protocol::drift::{Alert, AlertAction, AlertKind};
    use tokio::io::AsyncReadExt;

    /// An HTTP server on loopback that answers 500 to its first request and 200 after, and
    /// hands over each request it read.
    async fn flaky_webhook() -> (String, tokio::sync::mpsc::Receiver<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        tokio::spawn(async move {
            for n in 0.. {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let mut request = vec![0; 64 * 1024];
                let mut read = 0;
                while !String::from_utf8_lossy(&request[..read]).contains("\"seq\"") {
                    match stream.read(&mut request[read..]).await {
                        Ok(0) | Err(_) => break,
                        Ok(k) => read += k,
                    }
                }
                let status = if n == 0 {
                    "500 Internal Server Error"
                } else {
                    "200 OK"
                };
                let answer =
                    format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                let _ = stream.write_all(answer.as_bytes()).await;
                let _ = tx
                    .send(String::from_utf8_lossy(&request[..read]).into_owned())
                    .await;
            }
        });
        (url, rx)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn alerts_reach_a_flaky_webhook_after_a_retry_and_a_command_on_its_stdin() {
        let dir = tempfile::tempdir().expect("tempdir");
        let shared = testing::shared(dir.path());
        let (url, mut requests) = flaky_webhook().await;
        let out = dir.path().join("alert.json");
        let sinks = Sinks {
            webhook: Some(url),
            command: Some(format!("cat > {}", out.display())),
        };
        let alert = Alert {
            id: 0,
            rule: "drift".into(),
            kind: AlertKind::Drift,
            subject: "churn".into(),
            version: Some(1),
            column: Some("tenure".into()),
            action: AlertAction::Notify,
            firing: true,
            fired_ms: unix_ms(),
            resolved_ms: None,
            value: 0.4,
            bound: 0.1,
            detail: "ks 0.4 > 0.1".into(),
        };
        shared
            .blocking(move |shared| shared.store.sync().fire_alert(alert))
            .await
            .expect("fired");
        let stop = CancellationToken::new();
        let task = tokio::spawn(run(shared.clone(), sinks, stop.clone()));
        let wait = Duration::from_secs(20);
        let first = tokio::time::timeout(wait, requests.recv())
            .await
            .expect("a first try")
            .expect("request");
        let second = tokio::time::timeout(wait, requests.recv())
            .await
            .expect("a retry")
            .expect("request");
        for request in [&first, &second] {
            assert!(request.starts_with("POST /hook HTTP/1.1"), "{request}");
            assert!(
                request.contains("\"alert.fired\"") && request.contains("\"tenure\""),
                "{request}"
            );
        }
        let delivered = loop {
            if let Ok(text) = std::fs::read_to_string(&out)
                && text.contains("alert.fired")
            {
                break text;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let json: serde_json::Value =
            serde_json::from_str(&delivered).expect("the command got JSON");
        assert_eq!(json["alert"]["column"], "tenure");
        stop.cancel();
        task.await.expect("stops");
        let cursor = shared
            .blocking(|shared| shared.store.sync().reaction_cursor(CURSOR))
            .await
            .expect("cursor");
        assert!(
            cursor > 0,
            "delivered alerts are not delivered again after a restart"
        );
    }
}
