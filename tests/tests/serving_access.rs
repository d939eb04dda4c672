//! The agent's real HTTP listener guarding the prediction API: HTTPS with a certificate from
//! PEM files, a bearer token on every route but the health probes (and `drover load` through
//! both), stalled bodies that take no prediction slot and end in a 408, and the same answer
//! for a body that arrives in pieces.

use std::net::SocketAddr;
use std::time::Duration;

use drover_agent::http::Access;
use drover_agent::serve::reply::BODY_TIMEOUT;
use drover_agent::serve::serving::MAX_IN_FLIGHT;
use drover_tests::http_request;
use drover_tests::listener::{churn_catalog, connect_from, infer_body, listen};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// Sends one request with `Connection: close` over `io` and reads the whole answer.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut io: S,
    method: &str,
    path: &str,
    headers: &str,
    body: &str,
) -> String {
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{headers}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    io.write_all(request.as_bytes()).await.expect("request");
    let mut response = String::new();
    let _ = io.read_to_string(&mut response).await;
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_and_a_bearer_token_guard_the_prediction_api() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = drover_protocol::pki::new_ca("test ca").expect("ca");
    let issued = drover_protocol::pki::issue_https(&ca, &["localhost".into()]).expect("issued");
    let (cert, key) = (tmp.path().join("https.pem"), tmp.path().join("https.key"));
    std::fs::write(&cert, format!("{}{}", issued.cert_pem, ca.cert_pem)).expect("cert");
    std::fs::write(&key, &issued.key_pem).expect("key");
    let access = Access {
        token: Some("drva_s3cret".into()),
        tls: Some(drover_protocol::http::tls_from_files(&cert, &key).expect("acceptor")),
        feedback_token: None,
    };
    let stop = CancellationToken::new();
    let catalog = churn_catalog();
    let body = infer_body(&catalog, 1, None);
    let addr = listen(catalog, access, &stop).await;

    let connector = drover_tests::trusting(ca.cert_pem.as_bytes());
    let https = async |method: &str, path: &str, headers: &str, body: &str| {
        let tcp = TcpStream::connect(addr).await.expect("connects");
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
        let tls = connector
            .connect(name, tcp)
            .await
            .expect("a verified TLS handshake");
        exchange(tls, method, path, headers, body).await
    };

    let answer = https(
        "POST",
        "/v2/models/churn/infer",
        "Authorization: Bearer drva_s3cret\r\n",
        &body,
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"predict_proba\""), "{answer}");

    for (headers, says) in [
        ("", "requires a bearer token"),
        (
            "Authorization: Bearer wrong\r\n",
            "the bearer token is wrong",
        ),
    ] {
        // The prediction routes the agent answers before its router, and one the router does.
        for path in [
            "/v2/models/churn/infer",
            "/invocations",
            "/v2/models/churn/versions/1/infer",
        ] {
            let refused = https("POST", path, headers, &body).await;
            assert!(refused.starts_with("HTTP/1.1 401"), "{path}: {refused}");
            assert!(refused.to_lowercase().contains("www-authenticate: bearer"));
            assert!(refused.contains(says), "{refused}");
        }
    }
    let metrics = https("GET", "/metrics", "", "").await;
    assert!(
        metrics.starts_with("HTTP/1.1 401"),
        "/metrics needs the token too"
    );
    let live = https("GET", "/v2/health/live", "", "").await;
    assert!(
        live.starts_with("HTTP/1.1 200"),
        "probes need no token: {live}"
    );

    // `drover load` reaches it too, trusting the CA and sending the token.
    let ca_file = tmp.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.cert_pem).expect("ca");
    let url = format!("https://localhost:{}", addr.port());
    let ca_s = ca_file.to_str().expect("utf-8").to_string();
    let load = tokio::task::spawn_blocking(move || {
        let mut args = vec![
            "load",
            &url,
            "--model",
            "churn",
            "--ca",
            &ca_s,
            "--duration",
            "1s",
            "--concurrency",
            "2",
            "--json",
        ];
        let refused = drover_tests::drover(&args);
        args.extend(["--token", "drva_s3cret"]);
        (refused, drover_tests::drover_ok(&args))
    });
    let (refused, report) = load.await.expect("load");
    assert!(
        !refused.status.success(),
        "without the token the metadata is refused"
    );
    assert!(String::from_utf8_lossy(&refused.stderr).contains("401"));
    let report: serde_json::Value = serde_json::from_str(&report).expect("json");
    let statuses = report["statuses"].as_object().expect("statuses");
    assert_eq!(statuses.keys().collect::<Vec<_>>(), ["200"], "{report}");

    // Plain HTTP gets no answer from an HTTPS listener.
    let plain = tokio::time::timeout(
        Duration::from_secs(15),
        http_request(addr, "GET", "/v2/health/live", &[], None),
    )
    .await;
    assert!(!matches!(plain, Ok((200, _))));
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_bodies_take_no_prediction_slot_and_end_in_a_408() {
    let stop = CancellationToken::new();
    let catalog = churn_catalog();
    let body = infer_body(&catalog, 1, None);
    let addr = listen(catalog, Access::default(), &stop).await;
    // More requests whose bodies never come than there are prediction slots: a slot is taken
    // only once a body has arrived, so they lock nobody out. (From two addresses: one may
    // hold only a quarter of the listener's connections.)
    let mut stalled = Vec::with_capacity(MAX_IN_FLIGHT + 16);
    for i in 0..MAX_IN_FLIGHT + 16 {
        let from: std::net::IpAddr = [127, 0, 0, 2 + (i % 2) as u8].into();
        let mut stream = connect_from(from, addr).await;
        stream
            .write_all(b"POST /v2/models/churn/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
            .await
            .expect("headers");
        stalled.push(stream);
    }
    let served = infer(addr, &body).await;
    assert!(served.starts_with("HTTP/1.1 200"), "{served}");
    assert!(served.contains("x-drover-version: churn@1"), "{served}");

    // The stalled bodies time out with a 408.
    let started = std::time::Instant::now();
    let mut answers = std::collections::BTreeMap::<String, usize>::new();
    for stream in &mut stalled {
        let mut answer = String::new();
        let _ = tokio::time::timeout(
            BODY_TIMEOUT + Duration::from_secs(10),
            stream.read_to_string(&mut answer),
        )
        .await;
        *answers
            .entry(answer.chars().take(12).collect())
            .or_default() += 1;
    }
    assert_eq!(
        answers.into_iter().collect::<Vec<_>>(),
        [("HTTP/1.1 408".to_string(), MAX_IN_FLIGHT + 16)]
    );
    assert!(started.elapsed() <= BODY_TIMEOUT + Duration::from_secs(5));
    stop.cancel();
}

/// One infer request of `body` to churn, answered whole.
async fn infer(addr: SocketAddr, body: &str) -> String {
    let stream = TcpStream::connect(addr).await.expect("connects");
    exchange(stream, "POST", "/v2/models/churn/infer", "", body).await
}

/// One infer request to churn with `headers` (besides its own), its body sent in `pieces` a
/// moment apart; the whole answer.
async fn in_pieces(addr: SocketAddr, headers: &str, pieces: &[&[u8]]) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connects");
    let head = format!(
        "POST /v2/models/churn/infer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    for piece in pieces {
        stream.write_all(piece).await.expect("a piece");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("answer");
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_arriving_in_pieces_gets_the_answer_it_would_whole_and_one_too_large_a_400() {
    let stop = CancellationToken::new();
    let catalog = churn_catalog();
    let body = infer_body(&catalog, 1, None);
    let addr = listen(catalog, Access::default(), &stop).await;
    let outputs = |answer: &str| {
        let json = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
        let value: serde_json::Value = serde_json::from_str(json).expect("a JSON answer");
        value["outputs"].clone()
    };
    let whole = infer(addr, &body).await;
    assert!(whole.starts_with("HTTP/1.1 200"), "{whole}");

    // Half the body, then the rest a moment later.
    let (first, rest) = body.as_bytes().split_at(body.len() / 2);
    let length = format!("Content-Length: {}", body.len());
    let split = in_pieces(addr, &length, &[first, rest]).await;
    assert!(split.starts_with("HTTP/1.1 200"), "{split}");
    assert_eq!(outputs(&split), outputs(&whole));

    // Chunked, in three chunks sent apart.
    let third = body.len() / 3;
    let chunks: Vec<Vec<u8>> = [
        &body[..third],
        &body[third..2 * third],
        &body[2 * third..],
        "",
    ]
    .iter()
    .map(|piece| format!("{:x}\r\n{piece}\r\n", piece.len()).into_bytes())
    .collect();
    let chunks: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
    let chunked = in_pieces(addr, "Transfer-Encoding: chunked", &chunks).await;
    assert!(chunked.starts_with("HTTP/1.1 200"), "{chunked}");
    assert_eq!(outputs(&chunked), outputs(&whole));

    // A body one byte over the limit, sent whole (so that nothing is left unread when the
    // answer comes), is refused, naming the body.
    let over = drover_agent::serve::reply::MAX_BODY + 1;
    let length = format!("Content-Length: {over}");
    let refused = in_pieces(addr, &length, &[" ".repeat(over).as_bytes()]).await;
    assert!(refused.starts_with("HTTP/1.1 400"), "{refused}");
    assert!(refused.contains("\"field\":\"body\""), "{refused}");
    stop.cancel();
}
