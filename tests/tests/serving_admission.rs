//! The agent's listener under a connection flood: one address holds at most a quarter of
//! the connections, and with every slot taken (from several addresses) the health probes are
//! still answered from a reserve, while predictions there get a 503.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use drover_agent::http::{Access, MAX_CONNECTIONS};
use drover_tests::listener::{churn_catalog, connect_from, infer_body, listen};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use tokio_util::sync::CancellationToken;

/// One request with `Connection: close` from `from`: the status, or 0 when the connection
/// was closed unanswered.
async fn status_from(from: IpAddr, addr: SocketAddr, method: &str, path: &str, body: &str) -> u16 {
    let mut stream = connect_from(from, addr).await;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    if stream.write_all(request.as_bytes()).await.is_err() {
        return 0;
    }
    let mut answer = String::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut answer));
    match read.await {
        Ok(_) => answer
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
        Err(_) => 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_from_one_address_is_capped_and_probes_are_answered_from_a_reserve() {
    let stop = CancellationToken::new();
    let catalog = churn_catalog();
    let body = infer_body(&catalog, 1, None);
    let addr = listen(catalog, Access::default(), &stop).await;
    let share = MAX_CONNECTIONS / 4;
    let infer = "/v2/models/churn/infer";

    // One address: its share, then refused; others are still served.
    let one: IpAddr = [127, 0, 0, 2].into();
    let mut held = Vec::new();
    for _ in 0..share {
        held.push(connect_from(one, addr).await);
    }
    drover_tests::wait_for("the listener to refuse the flooding address", || async {
        (status_from(one, addr, "POST", infer, &body).await == 0).then_some(())
    })
    .await;
    assert_eq!(
        status_from([127, 0, 0, 9].into(), addr, "POST", infer, &body).await,
        200
    );

    // Every slot taken, from four addresses: probes are answered, predictions refused.
    for from in 3..6u8 {
        for _ in 0..share {
            held.push(connect_from([127, 0, 0, from].into(), addr).await);
        }
    }
    let prober: IpAddr = [127, 0, 0, 10].into();
    drover_tests::wait_for("every slot to be taken", || async {
        (status_from(prober, addr, "POST", infer, &body).await == 503).then_some(())
    })
    .await;
    for probe in ["/v2/health/live", "/v2/health/ready"] {
        assert_eq!(
            status_from(prober, addr, "GET", probe, "").await,
            200,
            "{probe}"
        );
    }
    drop(held);
    drover_tests::wait_for("the slots to be given back", || async {
        (status_from(prober, addr, "POST", infer, &body).await == 200).then_some(())
    })
    .await;
    stop.cancel();
}
