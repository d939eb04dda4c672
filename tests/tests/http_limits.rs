//! The coordinator's HTTP listener under abuse: a request whose headers never finish and a
//! connection that sends nothing are closed after the header timeout, connections past the
//! limit are closed at once and the listener serves again when they go, and a body over the
//! limit is a 413 in MLflow's error shape.

use std::net::SocketAddr;
use std::time::Duration;

use drover_coordinator::http::MAX_CONNECTIONS;
use drover_protocol::http::HEADER_TIMEOUT;
use drover_tests::{http_request, start_coordinator, wait_for};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until the server closes the connection; `None` if it is still open after `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<()> {
    let mut buf = [0u8; 1024];
    tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .ok()
}

async fn healthy(addr: SocketAddr) -> bool {
    tokio::time::timeout(
        Duration::from_secs(5),
        http_request(addr, "GET", "/healthz", &[], None),
    )
    .await
    .is_ok_and(|(status, _)| status == 200)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_idle_and_excess_connections_are_closed_and_big_bodies_get_413() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let coordinator = start_coordinator(&tmp.path().join("coord")).await;
    let addr = coordinator.http_addr();

    let mut partial = TcpStream::connect(addr).await.expect("connects");
    partial
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("writes");
    let mut silent = TcpStream::connect(addr).await.expect("connects");
    let grace = HEADER_TIMEOUT + Duration::from_secs(10);
    let (a, b) = tokio::join!(
        closed_within(&mut partial, grace),
        closed_within(&mut silent, grace)
    );
    assert!(
        a.is_some(),
        "a half-sent request is closed after the header timeout"
    );
    assert!(
        b.is_some(),
        "a silent connection is closed after the header timeout"
    );

    let mut held = Vec::new();
    for _ in 0..MAX_CONNECTIONS {
        held.push(TcpStream::connect(addr).await.expect("connects"));
    }
    // Let the listener accept them all before the one too many.
    wait_for("the listener to hold every slot", || async {
        let mut extra = TcpStream::connect(addr).await.ok()?;
        closed_within(&mut extra, Duration::from_millis(500)).await
    })
    .await;
    drop(held);
    wait_for("the listener to serve again", || async {
        healthy(addr).await.then_some(())
    })
    .await;

    let big = format!(
        r#"{{"run_id": "x", "params": [], "pad": "{}"}}"#,
        "p".repeat(2_200_000)
    );
    let (status, body) = http_request(
        addr,
        "POST",
        "/api/2.0/mlflow/runs/log-batch",
        &[],
        Some(&big),
    )
    .await;
    assert_eq!(status, 413, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).expect("MLflow's JSON shape");
    assert_eq!(body["error_code"], "REQUEST_LIMIT_EXCEEDED");
    coordinator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_speaks_https_with_a_certificate_from_drovers_own_ca() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("coord");
    let options = drover_coordinator::CoordinatorOptions {
        http_tls: Some(drover_coordinator::http::HttpTls::OwnCa {
            names: vec!["localhost".into(), "127.0.0.1".into()],
        }),
        ..drover_tests::options(&data)
    };
    let coordinator = drover_coordinator::Coordinator::start(options)
        .await
        .expect("starts");
    let addr = coordinator.http_addr();

    let ca = std::fs::read(data.join("pki/ca.pem")).expect("ca");
    let connector = drover_tests::trusting(&ca);
    let tcp = TcpStream::connect(addr).await.expect("connects");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let mut tls = connector
        .connect(name, tcp)
        .await
        .expect("a verified TLS handshake");
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .expect("request");
    let mut response = String::new();
    tls.read_to_string(&mut response).await.expect("response");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");

    // Plain HTTP gets no answer from an HTTPS listener.
    let plain = tokio::time::timeout(
        HEADER_TIMEOUT + Duration::from_secs(5),
        http_request(addr, "GET", "/healthz", &[], None),
    )
    .await;
    assert!(!matches!(plain, Ok((200, _))));
    coordinator.stop().await;
}
