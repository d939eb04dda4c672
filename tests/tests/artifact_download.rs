//! Artifact downloads through the MLflow API stream from disk: many slow readers of a large
//! artifact cost the coordinator a chunk each, not the artifact each, and a whole download
//! is the stored bytes with their length.

use std::time::Duration;

use drover_tests::mlflow::create_run;
use drover_tests::{http_request, spawn_coordinator};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The resident memory of process `pid`, MiB.
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS");
    kib / 1024.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_readers_of_a_large_artifact_cost_a_chunk_each() {
    const SIZE: usize = 64 << 20;
    const READERS: usize = 8;
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("coord");
    let (coordinator, _) =
        spawn_coordinator(&data, "127.0.0.1:0", tmp.path().join("coord.log")).await;
    let info = drover_coordinator::runfile::read(&data).expect("runfile");
    let addr: std::net::SocketAddr = info.http_addr.parse().expect("http addr");
    let run = create_run(addr).await;
    let path = format!("/api/2.0/mlflow-artifacts/artifacts/0/{run}/artifacts/big.bin");
    let bytes: String = (0..SIZE)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let (status, body) = http_request(addr, "PUT", &path, &[], Some(&bytes)).await;
    assert_eq!(status, 200, "{body}");
    drop(bytes);

    let before = rss_mib(coordinator.pid());
    let mut stalled = Vec::new();
    for _ in 0..READERS {
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connects");
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("request");
        let mut first = vec![0; 64 << 10];
        stream
            .read_exact(&mut first)
            .await
            .expect("the first bytes");
        let head = String::from_utf8_lossy(&first);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(
            head.to_ascii_lowercase()
                .contains(&format!("content-length: {SIZE}")),
            "{head}"
        );
        stalled.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let grown = rss_mib(coordinator.pid()) - before;
    assert!(
        grown < 64.0,
        "{READERS} stalled readers of a {} MiB artifact grew the coordinator by {grown:.0} MiB",
        SIZE >> 20
    );
    drop(stalled);

    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("request");
    let mut whole = Vec::new();
    stream
        .read_to_end(&mut whole)
        .await
        .expect("the whole answer");
    let start = whole
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head")
        + 4;
    let body = &whole[start..];
    assert_eq!(body.len(), SIZE);
    assert!(
        body.iter()
            .enumerate()
            .all(|(i, &b)| b == b'a' + (i % 26) as u8),
        "the stored bytes"
    );
}
