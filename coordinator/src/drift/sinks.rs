//! Delivering alerts beyond the log: an HTTP POST of the alert as JSON to a webhook
//! (retried with backoff) and a command fed the JSON on its standard input. Each sink reads
//! the stored event log through its own persisted cursor, on its own task, and delivers the
//! alerts of a batch concurrently: a slow or dead webhook delays neither the command nor the
//! other alerts, nothing blocks the coordinator, and a restart delivers what was left.

use std::sync::Arc;
use std::time::Duration;

use drover_protocol::msg::{Event, EventRecord};
use drover_protocol::types::unix_ms;
use http_body_util::Full;
use hyper::body::Bytes;
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

use crate::state::Shared;

/// The cursor both sinks shared before each had its own: where a sink that has none yet
/// starts, so an upgrade delivers nothing twice.
const SHARED_CURSOR: &str = "alert-sinks";
/// Alerts read (and delivered at once) per batch.
const BATCH: u32 = 64;
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

/// One place alerts go.
enum Sink {
    Webhook(String),
    Command(String),
}

impl Sink {
    fn cursor(&self) -> &'static str {
        match self {
            Sink::Webhook(_) => "alert-sinks/webhook",
            Sink::Command(_) => "alert-sinks/command",
        }
    }

    async fn deliver(&self, body: String) {
        match self {
            Sink::Webhook(url) => {
                let mut wait = FIRST_WAIT;
                for attempt in 1..=ATTEMPTS {
                    match tokio::time::timeout(TIMEOUT, post(url, body.clone())).await {
                        Ok(Ok(())) => return,
                        Ok(Err(e)) => tracing::warn!(url, attempt, "alert webhook failed: {e}"),
                        Err(_) => tracing::warn!(url, attempt, "alert webhook timed out"),
                    }
                    if attempt < ATTEMPTS {
                        tokio::time::sleep(wait).await;
                        wait *= 2;
                    }
                }
            }
            Sink::Command(command) => {
                if let Err(e) = run_command(command, &body).await {
                    tracing::warn!(command, "alert command failed: {e}");
                }
            }
        }
    }
}

/// Delivers every alert event to every sink, each sink on its own, until shutdown.
pub async fn run(shared: Arc<Shared>, sinks: Sinks, shutdown: CancellationToken) {
    let sinks = [
        sinks.webhook.map(Sink::Webhook),
        sinks.command.map(Sink::Command),
    ];
    let deliveries = sinks
        .into_iter()
        .flatten()
        .map(|sink| deliveries(shared.clone(), sink, shutdown.clone()));
    futures_util::future::join_all(deliveries).await;
}

/// What an alert event is sent as, when it is one and not stale.
fn body(record: &EventRecord, now_ms: u64) -> Option<String> {
    let (Event::AlertFired { alert } | Event::AlertResolved { alert }) = &record.event else {
        return None;
    };
    (record.at_ms + STALE_MS >= now_ms).then(|| {
        serde_json::json!({
            "event": record.event.kind(),
            "seq": record.seq,
            "alert": alert,
            "text": record.event.describe(),
        })
        .to_string()
    })
}

/// Delivers the alert events after `sink`'s cursor to it, a batch at a time, until shutdown.
async fn deliveries(shared: Arc<Shared>, sink: Sink, shutdown: CancellationToken) {
    let name = sink.cursor();
    loop {
        let batch = shared
            .blocking(move |shared| {
                let store = shared.store.sync();
                let own = store.reaction_cursor(name)?;
                let cursor = match own {
                    0 => store.reaction_cursor(SHARED_CURSOR)?,
                    own => own,
                };
                store.events_after(cursor, BATCH)
            })
            .await;
        let events = match batch {
            Ok(events) => events,
            Err(e) => {
                tracing::error!(cause = %e, sink = name, "alert sink could not read the event log");
                Vec::new()
            }
        };
        let now = unix_ms();
        let sent = events
            .iter()
            .filter_map(|record| body(record, now))
            .map(|body| sink.deliver(body));
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = futures_util::future::join_all(sent) => {}
        }
        if let Some(last) = events.last().map(|r| r.seq) {
            let moved = shared
                .blocking(move |shared| shared.store.sync().set_reaction_cursor(name, last))
                .await;
            if let Err(e) = moved {
                tracing::error!(cause = %e, sink = name, "alert sink could not move its cursor");
            }
        }
        if events.len() == BATCH as usize {
            continue;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = shared.events.stored() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
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
        let alert = alert("tenure");
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
        // Each sink moves its own cursor once it has delivered: a restart sends nothing again.
        for sink in ["alert-sinks/webhook", "alert-sinks/command"] {
            tokio::time::timeout(wait, async {
                while cursor(&shared, sink).await == 0 {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
            .await
            .expect("the cursor moves");
        }
        stop.cancel();
        task.await.expect("stops");
    }

    async fn cursor(shared: &Arc<Shared>, name: &'static str) -> u64 {
        shared
            .blocking(move |shared| shared.store.sync().reaction_cursor(name))
            .await
            .expect("cursor")
    }

    /// An alert on `column`, firing now.
    fn alert(column: &str) -> Alert {
        Alert {
            id: 0,
            rule: "drift".into(),
            kind: AlertKind::Drift,
            subject: "churn".into(),
            version: Some(1),
            column: Some(column.into()),
            action: AlertAction::Notify,
            firing: true,
            fired_ms: unix_ms(),
            resolved_ms: None,
            value: 0.4,
            bound: 0.1,
            detail: "ks 0.4 > 0.1".into(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_webhook_that_never_answers_delays_neither_the_command_nor_other_alerts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let shared = testing::shared(dir.path());
        // Takes connections and never answers; counts them.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let (tried, mut tries) = tokio::sync::mpsc::channel(16);
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
                let _ = tried.send(()).await;
            }
        });
        let out = dir.path().join("alerts.jsonl");
        let sinks = Sinks {
            webhook: Some(url),
            command: Some(format!(
                "cat >> {}; echo >> {}",
                out.display(),
                out.display()
            )),
        };
        for column in ["tenure", "charges"] {
            let alert = alert(column);
            shared
                .blocking(move |shared| shared.store.sync().fire_alert(alert))
                .await
                .expect("fired");
        }
        let stop = CancellationToken::new();
        let task = tokio::spawn(run(shared.clone(), sinks, stop.clone()));
        // Well within one webhook timeout (10 s): both alerts reach the command, and the
        // webhook was tried for both at once.
        let soon = Duration::from_secs(5);
        tokio::time::timeout(soon, async {
            loop {
                let text = std::fs::read_to_string(&out).unwrap_or_default();
                if text.contains("tenure") && text.contains("charges") {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the command got both alerts while the webhook hung");
        for _ in 0..2 {
            tokio::time::timeout(soon, tries.recv())
                .await
                .expect("each alert tried on the webhook at once")
                .expect("a try");
        }
        assert!(cursor(&shared, "alert-sinks/command").await > 0);
        assert_eq!(
            cursor(&shared, "alert-sinks/webhook").await,
            0,
            "the webhook's alerts are still owed"
        );
        stop.cancel();
        task.await.expect("stops");
    }
}
