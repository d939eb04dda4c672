//! A flood of QUIC handshakes that never complete, all from one socket: the coordinator
//! answers them with Retry packets once they pile up, so they hold no slot, and an agent on
//! another socket still enrolls. Failed handshakes are summarised, not logged one by one.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use drover_protocol::{dial, tls};
use drover_tests::{http_get, logs, start_coordinator, token};
use tokio::net::UdpSocket;

/// A UDP relay that forwards what the flooding client sends to `server` and drops every
/// answer, so none of its handshakes can complete (a client at a spoofed address, in effect).
async fn black_hole(server: SocketAddr) -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("binds");
    let addr = socket.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            if from != server {
                let _ = socket.send_to(&buf[..n], server).await;
            }
        }
    });
    addr
}

async fn enroll(
    handle: &drover_coordinator::CoordinatorHandle,
    dir: &std::path::Path,
    name: &str,
) -> Duration {
    let join = token(handle, 1, 60).await;
    let started = Instant::now();
    drover_agent::enroll::join(&join, &dir.join(name), None, name)
        .await
        .expect("enrolls");
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_enrolls_during_a_handshake_flood_from_another_socket() {
    let logs = logs::capture();
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("coord");
    let coordinator = start_coordinator(&data).await;
    let handle = coordinator.handle();
    let quiet = enroll(&handle, tmp.path(), "before").await;

    let relay = black_hole(coordinator.quic_addr()).await;
    let ca = std::fs::read_to_string(data.join("pki/ca.pem")).expect("ca");
    let config = tls::client_config(&ca, None).expect("config");
    let flooder = dial::endpoint_for(relay).expect("endpoint");
    // About 700 new handshakes a second for three seconds, bounded in count and time.
    let flood = tokio::spawn(async move {
        let mut pending = Vec::new();
        for _ in 0..2100 {
            if let Ok(connecting) = flooder.connect_with(
                config.clone(),
                relay,
                drover_protocol::COORDINATOR_SERVER_NAME,
            ) {
                pending.push(connecting);
            }
            tokio::time::sleep(Duration::from_micros(1400)).await;
        }
        (flooder, pending)
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let during = enroll(&handle, tmp.path(), "during").await;
    let (flooder, pending) = flood.await.expect("flood");
    eprintln!(
        "enrolling took {:.1} ms before the flood and {:.1} ms during it",
        quiet.as_secs_f64() * 1e3,
        during.as_secs_f64() * 1e3
    );
    let metrics = http_get(coordinator.http_addr(), "/metrics").await;
    let retried: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("drover_handshakes_retried_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0);
    assert!(retried > 1000.0, "the flood met Retry packets: {retried}");
    // The few admitted half-open handshakes time out; a handful of lines say so in all.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let lines = logs.lines_with(&["QUIC handshake failed"]).len();
    assert!(lines <= 5, "{lines} lines for the failed handshakes");
    drop(pending);
    flooder.close(0u32.into(), b"done");
    coordinator.stop().await;
}
