//! The prediction API over real HTTP: a model trained by a real agent, registered by a real
//! coordinator, loaded from its artifact and asked in every request format. Its answers equal
//! what the model gave on the same rows at training time, bit for bit; bad requests get a 400
//! naming the field, unknown models a 404.

use std::net::SocketAddr;
use std::sync::Arc;

use drover_agent::serve::catalog::Catalog;
use drover_agent::serve::model::Served;
use drover_agent::train::ModelArtifact;
use drover_ml::table::{ColumnData, Table};
use drover_protocol::hash::ContentHash;
use drover_tests::{InProcessAgent, http_request};
use serde_json::{Value, json};

/// The token feedback takes.
const FEEDBACK: &str = "drvf_test";

/// The artifact of a freshly trained and registered churn model, and the table it learnt from.
async fn trained(tmp: &std::path::Path) -> (Vec<u8>, Table) {
    let (coordinator, data) = drover_tests::coordinator_with_churn(tmp).await;
    let handle = coordinator.handle();
    let agent = InProcessAgent::join_and_run(&handle, tmp.join("agent"), "trainer").await;
    let run = drover_tests::submit(&handle, &drover_tests::quick_spec("serve"))
        .await
        .expect("queued");
    let detail = drover_tests::finished(&handle, &run).await;
    let hash = ContentHash::parse(&detail.artifact_hash.expect("an artifact")).expect("hash");
    let artifacts = drover_coordinator::artifacts::Artifacts::open(&data).expect("artifacts");
    let bytes = std::fs::read(artifacts.path(&hash)).expect("artifact bytes");
    let _ = agent.stop().await;
    coordinator.stop().await;
    let table = drover_ml::table::parse(&drover_tests::churn_csv(300, 7)).expect("csv");
    (bytes, table)
}

/// The inputs of the loaded churn model: name, and whether numeric.
fn inputs_of(catalog: &Catalog) -> Vec<(String, bool)> {
    catalog
        .get("churn", None)
        .expect("loaded")
        .inputs()
        .to_vec()
}

async fn serve(catalog: Arc<Catalog>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            drover_agent::serve::routes::router(&drover_agent::serve::serving::Serving::start(
                catalog,
                Some(FEEDBACK.into()),
            )),
        )
        .await;
    });
    addr
}

/// Row `r` of `table` as a JSON record of the model's inputs.
fn record(table: &Table, inputs: &[(String, bool)], r: usize) -> serde_json::Map<String, Value> {
    inputs
        .iter()
        .map(|(name, _)| {
            let c = table
                .schema
                .columns
                .iter()
                .position(|c| &c.name == name)
                .expect("input column");
            let value = match &table.columns[c] {
                ColumnData::Numeric(v) => v[r].map_or(Value::Null, Value::from),
                ColumnData::Categorical(v) => v[r].as_deref().map_or(Value::Null, Value::from),
            };
            (name.clone(), value)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_format_answers_what_the_model_gave_at_training_time() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (bytes, table) = trained(tmp.path()).await;
    let artifact: ModelArtifact = serde_json::from_slice(&bytes).expect("artifact");
    let rows: Vec<usize> = (0..40).collect();
    let x = artifact
        .pipeline
        .transform(&table, &rows)
        .expect("transform");
    let expected = artifact.model.probabilities(&x, artifact.classes.len());

    let catalog = Arc::new(Catalog::default());
    catalog.load(Served::load("churn", 1, &bytes).expect("loads"));
    let windows = catalog.clone();
    let inputs = inputs_of(&catalog);
    let addr = serve(catalog).await;
    let records: Vec<Value> = rows
        .iter()
        .map(|&r| Value::Object(record(&table, &inputs, r)))
        .collect();

    // OIP, one tensor per named input.
    let tensors: Vec<Value> = inputs
        .iter()
        .map(|(name, numeric)| {
            let data: Vec<Value> = records.iter().map(|r| r[name].clone()).collect();
            json!({
                "name": name,
                "shape": [rows.len()],
                "datatype": if *numeric { "FP64" } else { "BYTES" },
                "data": data,
            })
        })
        .collect();
    let body = json!({ "id": "req-1", "inputs": tensors }).to_string();
    let (status, answer) =
        http_request(addr, "POST", "/v2/models/churn/infer", &[], Some(&body)).await;
    assert_eq!(status, 200, "{answer}");
    let answer: Value = serde_json::from_str(&answer).expect("json");
    assert_eq!(answer["id"], "req-1");
    let prediction = answer["parameters"]["prediction_id"]
        .as_str()
        .expect("a prediction id")
        .to_string();
    assert_eq!(answer["model_version"], "1");
    let proba = &answer["outputs"][1];
    assert_eq!(proba["name"], "predict_proba");
    let served: Vec<f64> = proba["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|v| v.as_f64().expect("number"))
        .collect();
    let trained: Vec<f64> = expected.iter().copied().collect();
    assert_eq!(
        served.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        trained.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        "bit for bit"
    );
    let labels = answer["outputs"][0]["data"].clone();

    // Ground truth later, by the prediction id the answer gave: judged once, counted in the
    // version's window.
    let churned = table
        .schema
        .columns
        .iter()
        .position(|c| c.name == "churned")
        .expect("target");
    let ColumnData::Numeric(truth) = &table.columns[churned] else {
        panic!("numeric target")
    };
    let truth: Vec<i64> = rows
        .iter()
        .map(|&r| truth[r].unwrap_or(0.0) as i64)
        .collect();
    let right = truth
        .iter()
        .zip(labels.as_array().expect("labels"))
        .filter(|(t, l)| l.as_i64() == Some(**t))
        .count();
    let feedback = async |id: &str| {
        let body = json!({ "id": id, "labels": truth }).to_string();
        let auth = format!("Authorization: Bearer {FEEDBACK}");
        let (status, judged) = http_request(
            addr,
            "POST",
            "/v2/models/churn/feedback",
            &[&auth],
            Some(&body),
        )
        .await;
        (
            status,
            serde_json::from_str::<Value>(&judged).unwrap_or_default(),
        )
    };
    let (status, judged) = feedback("req-1").await;
    assert_eq!(
        status, 404,
        "the client's request id names no prediction: {judged}"
    );
    let (status, judged) = feedback(&prediction).await;
    assert_eq!(status, 200, "{judged}");
    assert_eq!(
        (judged["rows"].as_u64(), judged["correct"].as_u64()),
        (Some(40), Some(right as u64))
    );
    let (status, _) = feedback(&prediction).await;
    assert_eq!(status, 404, "judged once");
    let window = windows.windows(0).0.into_iter().next().expect("a window");
    assert_eq!((window.feedback, window.correct), (40, right as u64));

    // MLflow: records, split, instances, columnar inputs and CSV all give the same labels.
    let split_data: Vec<Value> = records
        .iter()
        .map(|r| Value::Array(inputs.iter().map(|(n, _)| r[n].clone()).collect()))
        .collect();
    let names: Vec<&str> = inputs.iter().map(|(n, _)| n.as_str()).collect();
    let columnar: serde_json::Map<String, Value> = inputs
        .iter()
        .map(|(n, _)| {
            (
                n.clone(),
                Value::Array(records.iter().map(|r| r[n].clone()).collect()),
            )
        })
        .collect();
    for body in [
        json!({ "dataframe_records": records }),
        json!({ "dataframe_split": { "columns": names, "data": split_data } }),
        json!({ "instances": records }),
        json!({ "inputs": columnar }),
    ] {
        let (status, answer) =
            http_request(addr, "POST", "/invocations", &[], Some(&body.to_string())).await;
        assert_eq!(status, 200, "{answer}");
        let answer: Value = serde_json::from_str(&answer).expect("json");
        assert_eq!(answer["predictions"], labels, "{body}");
    }

    let mut csv = names.join(",");
    for r in &records {
        csv.push('\n');
        let cells: Vec<String> = inputs
            .iter()
            .map(|(n, _)| match &r[n] {
                Value::Null => String::new(),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect();
        csv.push_str(&cells.join(","));
    }
    let (status, headers, answer) = drover_tests::http_exchange(
        addr,
        "POST",
        "/invocations",
        &["Content-Type: text/csv", "x-request-id: csv-7"],
        Some(&csv),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(headers["x-request-id"], "csv-7", "echoed for tracing");
    let answer: Value = serde_json::from_str(&answer).expect("json");
    assert_eq!(answer["predictions"], labels, "CSV");
    // An MLflow answer gives its prediction id in a header.
    let (status, judged) = feedback(&headers["x-drover-prediction"]).await;
    assert_eq!(status, 200, "{judged}");
    assert_eq!(judged["correct"].as_u64(), Some(right as u64));

    // Bad requests name the field; an unknown model is a 404.
    let first = &inputs[0].0;
    let mut wrong_type = records[0].as_object().expect("record").clone();
    let numeric = inputs
        .iter()
        .find(|(_, n)| *n)
        .expect("a numeric input")
        .0
        .clone();
    wrong_type.insert(numeric.clone(), json!("high"));
    let mut missing = records[0].as_object().expect("record").clone();
    missing.remove(first);
    let mut unknown = records[0].as_object().expect("record").clone();
    unknown.insert("bogus".into(), json!(1));
    for (body, field, says) in [
        (
            json!({ "dataframe_records": [wrong_type] }),
            numeric.clone(),
            "expected a number",
        ),
        (
            json!({ "dataframe_records": [missing] }),
            "dataframe_records[0]".into(),
            "missing input",
        ),
        (
            json!({ "dataframe_records": [unknown] }),
            "dataframe_records[0]".into(),
            "unknown input \"bogus\"",
        ),
        (json!({ "rows": [] }), "body".into(), "none of"),
    ] {
        let (status, answer) =
            http_request(addr, "POST", "/invocations", &[], Some(&body.to_string())).await;
        assert_eq!(status, 400, "{answer}");
        let answer: Value = serde_json::from_str(&answer).expect("json");
        assert_eq!(answer["field"], field.as_str(), "{answer}");
        assert!(
            answer["message"].as_str().is_some_and(|m| m.contains(says)),
            "{answer}"
        );
    }
    let shape =
        json!({ "inputs": [{ "name": "x", "shape": [2, 3], "datatype": "FP64", "data": [1, 2] }] });
    let (status, answer) = http_request(
        addr,
        "POST",
        "/v2/models/churn/infer",
        &[],
        Some(&shape.to_string()),
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("inputs[0].data"), "{answer}");
    let (status, _) = http_request(addr, "POST", "/v2/models/nope/infer", &[], Some("{}")).await;
    assert_eq!(status, 404);
    let (status, metadata) = http_request(addr, "GET", "/v2/models/churn", &[], None).await;
    assert_eq!(status, 200);
    let metadata: Value = serde_json::from_str(&metadata).expect("json");
    assert_eq!(
        metadata["inputs"].as_array().map(Vec::len),
        Some(inputs.len())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weights_split_traffic_keys_stick_and_a_shadow_never_answers() {
    use drover_protocol::serve::{Deployment, Variant};
    let tmp = tempfile::tempdir().expect("tempdir");
    let (bytes, table) = trained(tmp.path()).await;
    let metrics = drover_protocol::telemetry::prometheus();
    let catalog = Arc::new(Catalog::default());
    for version in [1, 2, 3] {
        catalog.load(Served::load("churn", version, &bytes).expect("loads"));
    }
    let hash = ContentHash::of(&bytes);
    let variant = |version, weight, shadow| Variant {
        version,
        artifact_hash: hash.clone(),
        weight,
        shadow,
    };
    catalog.route(&[Deployment {
        model: "churn".into(),
        variants: vec![
            variant(1, 90, false),
            variant(2, 10, false),
            variant(3, 0, true),
        ],
        selector: Default::default(),
        updated_ms: 0,
    }]);
    let inputs = inputs_of(&catalog);
    let addr = serve(catalog).await;
    let body = json!({ "dataframe_records": [Value::Object(record(&table, &inputs, 0))] });
    let oip: Vec<Value> = inputs
        .iter()
        .map(|(name, numeric)| {
            json!({
                "name": name,
                "shape": [1],
                "datatype": if *numeric { "FP64" } else { "BYTES" },
                "data": [body["dataframe_records"][0][name].clone()],
            })
        })
        .collect();
    let oip = json!({ "inputs": oip }).to_string();
    let version_for = |key: Option<String>| {
        let oip = oip.clone();
        async move {
            let header = key.map(|k| format!("x-drover-key: {k}"));
            let headers: Vec<&str> = header.iter().map(String::as_str).collect();
            let (status, answer) =
                http_request(addr, "POST", "/v2/models/churn/infer", &headers, Some(&oip)).await;
            assert_eq!(status, 200, "{answer}");
            let answer: Value = serde_json::from_str(&answer).expect("json");
            answer["model_version"]
                .as_str()
                .expect("version")
                .to_string()
        }
    };
    let mut second = 0;
    for i in 0..400 {
        let version = version_for(None).await;
        assert_ne!(version, "3", "a shadow never answers");
        second += usize::from(version == "2");
        let key = format!("user-{}", i % 20);
        assert_eq!(
            version_for(Some(key.clone())).await,
            version_for(Some(key)).await,
            "a key keeps its version"
        );
    }
    // 10% of 400: the standard deviation is 6, so 4 of them is 24.
    assert!(
        (16..=64).contains(&second),
        "{second} of 400 went to version 2"
    );
    // The shadow got a copy of all 1,200 requests, and (the same model) never disagreed.
    let counted = |series: &str| {
        let text = metrics.render();
        let prefix = format!("{series}{{model=\"churn\",version=\"3\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix)?.trim().parse::<u64>().ok())
    };
    drover_tests::wait_for("the shadow to answer every copy", || async {
        (counted("drover_shadow_requests_total") == Some(1_200)).then_some(())
    })
    .await;
    assert_eq!(counted("drover_shadow_rows_differing_total"), Some(0));
}
