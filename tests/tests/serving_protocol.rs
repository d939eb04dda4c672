//! What every answer of the agent's listener carries, over real HTTP: `GET /v2` answers the
//! Open Inference Protocol's server metadata, and every answer has an `x-request-id`: the
//! client's when it sent one, a new one otherwise; 404s, health probes and a refused
//! prediction's 401 included.

use drover_agent::http::Access;
use drover_tests::http_exchange;
use drover_tests::listener::{churn_catalog, infer_body, listen};
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_carries_a_request_id_and_v2_answers_the_server_metadata() {
    let stop = CancellationToken::new();
    let catalog = churn_catalog();
    let body = infer_body(&catalog, 1, None);
    let open = listen(catalog.clone(), Access::default(), &stop).await;

    let (status, headers, text) = http_exchange(open, "GET", "/v2", &[], None).await;
    assert_eq!(status, 200, "{text}");
    let metadata: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(metadata["name"], "drover-agent");
    assert_eq!(metadata["version"], drover_protocol::DROVER_VERSION);
    assert!(headers.contains_key("x-request-id"), "{headers:?}");

    let traced = ["x-request-id: trace-7"];
    let (status, headers, _) = http_exchange(open, "GET", "/no/such/route", &traced, None).await;
    assert_eq!(status, 404);
    assert_eq!(
        headers.get("x-request-id").map(String::as_str),
        Some("trace-7")
    );
    let (status, headers, _) = http_exchange(open, "GET", "/v2/health/live", &[], None).await;
    assert_eq!(status, 200);
    assert!(
        headers.get("x-request-id").is_some_and(|id| !id.is_empty()),
        "a new id when the client sent none: {headers:?}"
    );

    let guarded = Access {
        token: Some("drva_s3cret".into()),
        ..Access::default()
    };
    let guarded = listen(catalog, guarded, &stop).await;
    let path = "/v2/models/churn/infer";
    let (status, headers, _) = http_exchange(guarded, "POST", path, &traced, Some(&body)).await;
    assert_eq!(status, 401);
    assert_eq!(
        headers.get("x-request-id").map(String::as_str),
        Some("trace-7")
    );
    let (status, headers, _) = http_exchange(guarded, "GET", "/v2", &traced, None).await;
    assert_eq!(status, 401);
    assert_eq!(
        headers.get("x-request-id").map(String::as_str),
        Some("trace-7")
    );
    stop.cancel();
}
