//! Large batches are predicted on a bounded blocking pool: while two clients keep sending
//! multi-megabyte CSV batches, a client sending one row at a time is still answered
//! promptly (a generous bound here; `drover bench serve --heavy` measures it).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use drover_agent::http::Access;
use drover_tests::listener::{churn_catalog, infer_body, listen};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// Sends `body` as `content_type` to `path` on a fresh connection; the status.
async fn post(addr: SocketAddr, path: &str, content_type: &str, body: &str) -> u16 {
    let mut stream = TcpStream::connect(addr).await.expect("connects");
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("head");
    stream.write_all(body.as_bytes()).await.expect("body");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer[..answer.len().min(16)])
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_row_requests_stay_prompt_while_two_clients_send_large_batches() {
    let stop = CancellationToken::new();
    let catalog = churn_catalog();
    let one_row = infer_body(&catalog, 1, None);
    let inputs = catalog
        .get("churn", None)
        .expect("loaded")
        .inputs()
        .to_vec();
    let header: Vec<&str> = inputs.iter().map(|(n, _)| n.as_str()).collect();
    let row: Vec<&str> = inputs
        .iter()
        .map(|(_, numeric)| if *numeric { "1.5" } else { "other" })
        .collect();
    let row = row.join(",");
    let mut csv = header.join(",");
    while csv.len() < 2 << 20 {
        csv.push('\n');
        csv.push_str(&row);
    }
    let addr = listen(catalog, Access::default(), &stop).await;

    let clients = CancellationToken::new();
    let heavy: Vec<_> = (0..2)
        .map(|_| {
            let (csv, stop) = (csv.clone(), clients.clone());
            tokio::spawn(async move {
                let mut sent = 0;
                while !stop.is_cancelled() {
                    assert_eq!(post(addr, "/invocations", "text/csv", &csv).await, 200);
                    sent += 1;
                }
                sent
            })
        })
        .collect();
    // Both batches are under way before the one-row client starts.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut latencies = Vec::new();
    let until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < until {
        let started = Instant::now();
        let status = post(addr, "/v2/models/churn/infer", "application/json", &one_row).await;
        assert_eq!(status, 200);
        latencies.push(started.elapsed());
    }
    clients.cancel();
    let mut batches = 0;
    for task in heavy {
        batches += task.await.expect("a heavy client");
    }
    stop.cancel();
    latencies.sort();
    let p99 = latencies[latencies.len() * 99 / 100];
    assert!(
        batches >= 2,
        "the large batches were answered too ({batches})"
    );
    assert!(
        p99 < Duration::from_millis(100),
        "one-row p99 {p99:?} over {} requests beside {batches} large batches",
        latencies.len()
    );
}
