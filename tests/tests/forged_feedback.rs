//! Feedback decides rollouts, so a client of the serving port cannot forge it: feedback takes
//! its own token (on loopback too; the prediction token does not open it), names a prediction
//! by the id the agent issued in its answer (never the client's request id, which is only
//! echoed), counts a bounded number of rows per request, and a request that pinned a version
//! counts in no window, its feedback included.

use drover_agent::http::Access;
use drover_agent::serve::feedback_route::COUNTED_PER_REQUEST;
use drover_tests::http_exchange;
use drover_tests::listener::{churn_catalog, infer_body, listen};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const FEEDBACK: &str = "drvf_f33dback";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_feedback_is_refused_and_pinned_requests_count_in_no_window() {
    let stop = CancellationToken::new();
    let catalog = churn_catalog();
    let served = catalog.get("churn", None).expect("loaded");
    let access = Access {
        feedback_token: Some(FEEDBACK.into()),
        ..Access::default()
    };
    let addr = listen(catalog.clone(), access, &stop).await;
    let infer = async |path: &str, body: String, headers: &[&str]| {
        let (status, headers, answer) =
            http_exchange(addr, "POST", path, headers, Some(&body)).await;
        assert_eq!(status, 200, "{answer}");
        let answer: Value = serde_json::from_str(&answer).expect("json");
        let id = answer["parameters"]["prediction_id"]
            .as_str()
            .expect("a prediction id")
            .to_string();
        assert_eq!(headers["x-drover-prediction"], id);
        (id, answer, headers)
    };
    let feedback = async |id: &str, labels: Vec<String>, auth: Option<&str>| {
        let header = auth.map(|t| format!("Authorization: Bearer {t}"));
        let headers: Vec<&str> = header.iter().map(String::as_str).collect();
        let body = json!({ "id": id, "labels": labels }).to_string();
        let (status, _, answer) = http_exchange(
            addr,
            "POST",
            "/v2/models/churn/feedback",
            &headers,
            Some(&body),
        )
        .await;
        (
            status,
            serde_json::from_str::<Value>(&answer).unwrap_or_default(),
        )
    };
    let label = |answer: &Value| -> String {
        match &answer["outputs"][0]["data"][0] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    };

    // The client's ids are echoed for tracing only; the agent issues its own, a new one each
    // time, even for a reused request id.
    let traced = ["x-request-id: trace-1"];
    let (first, answer, headers) = infer(
        "/v2/models/churn/infer",
        infer_body(&catalog, 1, Some("client-1")),
        &traced,
    )
    .await;
    assert_eq!(answer["id"], "client-1");
    assert_eq!(
        headers["x-request-id"], "client-1",
        "the body's id, where it gives one"
    );
    assert_eq!(first.len(), 32, "128 bits in hex: {first}");
    let (second, _, headers) = infer(
        "/v2/models/churn/infer",
        infer_body(&catalog, 1, None),
        &traced,
    )
    .await;
    assert_eq!(headers["x-request-id"], "trace-1");
    assert_ne!(
        first, second,
        "a reused id never names another's prediction"
    );
    let truth = vec![label(&answer)];

    // Without the feedback token, or with another, nothing is judged.
    for auth in [None, Some("drva_prediction-token"), Some("drvf_guess")] {
        let (status, answer) = feedback(&first, truth.clone(), auth).await;
        assert_eq!(status, 401, "{auth:?}: {answer}");
    }
    // The client's own ids name nothing.
    for forged in ["client-1", "trace-1", "00000000000000000000000000000001"] {
        let (status, answer) = feedback(forged, truth.clone(), Some(FEEDBACK)).await;
        assert_eq!(status, 404, "{forged}: {answer}");
    }
    let (status, judged) = feedback(&first, truth.clone(), Some(FEEDBACK)).await;
    assert_eq!(status, 200, "{judged}");
    assert_eq!(
        (judged["correct"].as_u64(), judged["counted"].as_u64()),
        (Some(1), Some(1))
    );
    let (status, _) = feedback(&first, truth.clone(), Some(FEEDBACK)).await;
    assert_eq!(status, 404, "judged once");
    let (window, _) = served.window.take(0);
    assert_eq!(
        (window.requests, window.feedback, window.correct),
        (2, 1, 1)
    );

    // A request that pins the version is answered, and its feedback judged, but neither
    // counts in the window rollouts read.
    for _ in 0..5 {
        let (pinned, _, _) = infer(
            "/v2/models/churn/versions/1/infer",
            infer_body(&catalog, 1, None),
            &[],
        )
        .await;
        let (status, judged) = feedback(&pinned, truth.clone(), Some(FEEDBACK)).await;
        assert_eq!(status, 200, "{judged}");
        assert_eq!(judged["counted"].as_u64(), Some(0), "{judged}");
    }
    let (window, _) = served.window.take(0);
    assert_eq!((window.requests, window.errors, window.feedback), (0, 0, 0));

    // One request counts a bounded number of rows, however many labels it carries.
    let rows = 3 * COUNTED_PER_REQUEST;
    let (batch, answer, _) = infer(
        "/v2/models/churn/infer",
        infer_body(&catalog, rows, None),
        &[],
    )
    .await;
    let labels = vec![label(&answer); rows];
    let (status, judged) = feedback(&batch, labels, Some(FEEDBACK)).await;
    assert_eq!(status, 200, "{judged}");
    assert_eq!(judged["rows"].as_u64(), Some(rows as u64));
    assert_eq!(judged["counted"].as_u64(), Some(COUNTED_PER_REQUEST as u64));
    let (window, _) = served.window.take(0);
    assert_eq!(window.feedback, COUNTED_PER_REQUEST as u64);

    // A body id past 128 characters is refused, naming the field.
    let (status, _, answer) = http_exchange(
        addr,
        "POST",
        "/v2/models/churn/infer",
        &[],
        Some(&infer_body(&catalog, 1, Some(&"x".repeat(129)))),
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("\"field\":\"id\""), "{answer}");
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_without_a_feedback_token_takes_no_feedback_and_makes_one_on_first_start() {
    let stop = CancellationToken::new();
    let catalog = churn_catalog();
    let addr = listen(catalog.clone(), Access::default(), &stop).await;
    let (status, headers, _) = http_exchange(
        addr,
        "POST",
        "/v2/models/churn/infer",
        &[],
        Some(&infer_body(&catalog, 1, None)),
    )
    .await;
    assert_eq!(status, 200);
    let body = json!({ "id": headers["x-drover-prediction"], "label": "0" }).to_string();
    let (status, _, answer) = http_exchange(
        addr,
        "POST",
        "/v2/models/churn/feedback",
        &["Authorization: Bearer anything"],
        Some(&body),
    )
    .await;
    assert_eq!(status, 401, "{answer}");
    assert!(answer.contains("takes no feedback"), "{answer}");
    stop.cancel();

    let dir = tempfile::tempdir().expect("tempdir");
    let token = drover_agent::http::feedback_token(dir.path()).expect("made");
    assert!(token.starts_with("drvf_"));
    assert_eq!(
        drover_agent::http::feedback_token(dir.path()).expect("read back"),
        token
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.path().join(drover_agent::http::FEEDBACK_TOKEN_FILE);
        let mode = std::fs::metadata(path).expect("file").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "readable by the agent's user only");
    }
}
