//! The prediction API on the agent's HTTP listener, over the models loaded here: Open
//! Inference Protocol v2 (`/v2/models/...`) and MLflow scoring (`/invocations`, `/ping`,
//! `/version`). Every answer carries a request id (`x-request-id`, the client's echoed for
//! tracing) and the version that served it (`x-drover-version`); a classifier's answer also
//! carries the id feedback names it by (`x-drover-prediction`); bad requests get a 400
//! naming the field, an unknown model a 404, and more requests in flight than
//! [`super::serving::MAX_IN_FLIGHT`] a 503 with `Retry-After`. A request that pins a version
//! (`/versions/{v}/infer`) is answered by it but counted in no window: rollouts and monitoring
//! judge the traffic the split sent.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper::body::Body as HttpBody;
use serde_json::{Value, json};

use super::catalog::{Catalog, Pick, ShadowSet};
use super::feedback_route::feedback;
use super::heavy::Reserved;
use super::model::{Predictions, Served};
use super::reply::{Failure, MAX_BODY, busy, json_answer, read, request_id, stamped};
use super::request::{Allowance, BadRequest, Rows};
use super::serving::Serving;
use super::{mlflow, oip};

/// What the split sticks to: requests with the same key get the same version.
const KEY: HeaderName = HeaderName::from_static("x-drover-key");
/// The model `/invocations` asks, when the agent serves more than one.
const MODEL: HeaderName = HeaderName::from_static("x-drover-model");

/// Every prediction route (the hot ones are also answered by [`super::direct`]).
pub fn router(serving: &Arc<Serving>) -> Router {
    Router::new()
        .route("/v2", get(server_metadata))
        .route("/v2/models/{name}", get(metadata))
        .route("/v2/models/{name}/ready", get(ready))
        .route(
            "/v2/models/{name}/versions/{version}/ready",
            get(version_ready),
        )
        .route("/v2/models/{name}/infer", post(infer_latest))
        .route(
            "/v2/models/{name}/versions/{version}/infer",
            post(infer_version),
        )
        .route("/v2/models/{name}/feedback", post(feedback))
        .route("/invocations", post(invocations))
        .route("/ping", get(ping))
        .route(
            "/version",
            get(|| std::future::ready(drover_protocol::DROVER_VERSION)),
        )
        .with_state(serving.clone())
}

/// `GET /v2`: the Open Inference Protocol's server metadata.
async fn server_metadata() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({
        "name": "drover-agent",
        "version": drover_protocol::DROVER_VERSION,
        "extensions": [],
    }))
}

fn model_of(catalog: &Catalog, name: &str, version: Option<u32>) -> Result<Arc<Served>, Failure> {
    catalog.get(name, version).ok_or_else(|| {
        Failure::NotFound(match version {
            Some(v) => format!("model {name} version {v} is not served here"),
            None => format!("model {name} is not served here"),
        })
    })
}

/// The version that answers a request for `name` (the one asked for, or the deployment's
/// split by the `x-drover-key` header), and the shadows that get a copy.
fn chosen(
    catalog: &Catalog,
    name: &str,
    version: Option<u32>,
    headers: &HeaderMap,
) -> Result<Pick, Failure> {
    if version.is_some() {
        let answer = model_of(catalog, name, version)?;
        return Ok(Pick {
            answer,
            shadows: None,
        });
    }
    let key = headers.get(KEY).map(HeaderValue::as_bytes);
    catalog
        .pick(name, key, rand::random())
        .ok_or_else(|| Failure::NotFound(format!("model {name} is not served here")))
}

fn predict(served: &Served, rows: &Rows) -> Result<Predictions, Failure> {
    served
        .predict(rows)
        .map_err(|e| Failure::Bad(BadRequest::new(e.column, e.reason)))
}

async fn metadata(State(s): State<Arc<Serving>>, Path(name): Path<String>) -> Response {
    let Ok(served) = model_of(&s.catalog, &name, None) else {
        return Failure::NotFound(format!("model {name} is not served here")).oip();
    };
    let inputs: Vec<Value> = served
        .inputs()
        .iter()
        .map(|(name, numeric)| {
            json!({ "name": name, "datatype": if *numeric { "FP64" } else { "BYTES" }, "shape": [-1] })
        })
        .collect();
    let outputs = if served.classes().is_empty() {
        json!([{ "name": "predict", "datatype": "FP64", "shape": [-1] }])
    } else {
        json!([
            { "name": "predict", "datatype": served.label_datatype(), "shape": [-1] },
            { "name": "predict_proba", "datatype": "FP64", "shape": [-1, served.classes().len()] }
        ])
    };
    let versions: Vec<String> = s
        .catalog
        .versions(&name)
        .iter()
        .map(u32::to_string)
        .collect();
    axum::Json(json!({
        "name": name,
        "versions": versions,
        "platform": "drover",
        "inputs": inputs,
        "outputs": outputs,
        "parameters": { "target": served.target() },
    }))
    .into_response()
}

async fn ready(State(s): State<Arc<Serving>>, Path(name): Path<String>) -> StatusCode {
    if s.catalog.get(&name, None).is_some() {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    }
}

async fn version_ready(
    State(s): State<Arc<Serving>>,
    Path((name, version)): Path<(String, String)>,
) -> StatusCode {
    match version.parse::<u32>() {
        Ok(v) if s.catalog.get(&name, Some(v)).is_some() => StatusCode::OK,
        _ => StatusCode::NOT_FOUND,
    }
}

async fn infer_latest(
    State(s): State<Arc<Serving>>,
    Path(name): Path<String>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    infer(s, name, None, parts, body).await
}

async fn infer_version(
    State(s): State<Arc<Serving>>,
    Path((name, version)): Path<(String, String)>,
    request: Request,
) -> Response {
    match version.parse::<u32>() {
        Ok(v) => {
            let (parts, body) = request.into_parts();
            infer(s, name, Some(v), parts, body).await
        }
        Err(_) => Failure::NotFound(format!("version {version:?} of {name} is not a number")).oip(),
    }
}

/// Answers an infer request for version `version` of `name` (or the split's pick).
pub(super) async fn infer<B>(
    s: Arc<Serving>,
    name: String,
    version: Option<u32>,
    parts: Parts,
    body: B,
) -> Response
where
    B: HttpBody<Data = Bytes> + Unpin + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    let Pick {
        answer: served,
        shadows,
    } = match chosen(&s.catalog, &name, version, &parts.headers) {
        Ok(pick) => pick,
        Err(e) => return e.oip(),
    };
    let Some(_body) = reserve(&s, &parts) else {
        return busy();
    };
    let bytes = match read(body).await {
        Ok(bytes) => bytes,
        Err(e) => return stamped(unread(e).oip(), &request_id(&parts.headers), &served),
    };
    let Ok(_permit) = s.in_flight.clone().try_acquire_owned() else {
        return busy();
    };
    let size = bytes.len();
    let started = Instant::now();
    let counted = version.is_none();
    let answer = move |s: &Serving| {
        let headers = &parts.headers;
        let (asked_id, rows, predictions) = match decode_oip(&bytes, &served) {
            Ok(answer) => answer,
            Err(e) => {
                served.window.failed(started.elapsed(), counted);
                return stamped(e.oip(), &request_id(headers), &served);
            }
        };
        let id = asked_id.unwrap_or_else(|| request_id(headers));
        answer_oip(
            s,
            (&served, shadows),
            (&id, rows, predictions),
            (started, counted),
        )
    };
    s.answer(size, answer).await
}

/// The answer to an OIP request with `id` whose `rows` `served` predicted as `predictions`
/// (the request arrived at `started`; `counted` unless it pinned the version): kept for
/// feedback, counted in the window, copied to the `shadows`.
fn answer_oip(
    s: &Serving,
    (served, shadows): (&Arc<Served>, Option<ShadowSet>),
    (id, rows, predictions): (&str, Rows, Predictions),
    (started, counted): (Instant, bool),
) -> Response {
    let kept = s.remember(served, &rows, &predictions, started, counted);
    let prediction = kept.map(|k| k.id.to_string());
    let reply = oip::InferResponse {
        model_name: &served.name,
        model_version: &served.version_text,
        id,
        parameters: prediction.as_deref().map(oip::Parameters::of),
        outputs: oip::outputs(served, &predictions),
    };
    let response = json_answer(&reply, id, prediction.as_deref(), served);
    served
        .window
        .answered(started.elapsed(), predictions.chosen(), counted);
    s.shadows
        .send(shadows, (served, rows), predictions, kept.map(|k| k.key));
    response
}

async fn invocations(State(s): State<Arc<Serving>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    invoke(s, parts, body).await
}

/// Answers an MLflow scoring request.
pub(super) async fn invoke<B>(s: Arc<Serving>, parts: Parts, body: B) -> Response
where
    B: HttpBody<Data = Bytes> + Unpin + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    let headers = &parts.headers;
    let named = headers.get(MODEL).and_then(|v| v.to_str().ok());
    let name = match named {
        Some(name) => Ok(name.to_string()),
        None => s.catalog.only().map_err(Failure::NotFound),
    };
    let Pick {
        answer: served,
        shadows,
    } = match name.and_then(|name| chosen(&s.catalog, &name, None, headers)) {
        Ok(pick) => pick,
        Err(e) => return e.mlflow(),
    };
    let csv = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/csv"));
    let id = request_id(headers);
    let Some(_body) = reserve(&s, &parts) else {
        return busy();
    };
    let bytes = match read(body).await {
        Ok(bytes) => bytes,
        Err(e) => return stamped(unread(e).mlflow(), &id, &served),
    };
    let Ok(_permit) = s.in_flight.clone().try_acquire_owned() else {
        return busy();
    };
    let started = Instant::now();
    let size = bytes.len();
    let answer = move |shared: &Serving| match decode_mlflow(&bytes, csv, &served) {
        Ok((rows, predictions)) => {
            let kept = shared.remember(&served, &rows, &predictions, started, true);
            let prediction = kept.map(|k| k.id.to_string());
            let answer = mlflow::answer(&served, &predictions);
            let response = json_answer(&answer, &id, prediction.as_deref(), &served);
            served
                .window
                .answered(started.elapsed(), predictions.chosen(), true);
            shared
                .shadows
                .send(shadows, (&served, rows), predictions, kept.map(|k| k.key));
            response
        }
        Err(e) => {
            served.window.failed(started.elapsed(), true);
            stamped(e.mlflow(), &id, &served)
        }
    };
    s.answer(size, answer).await
}

/// Reserves the body budget for the request with `parts`: its declared length, or the
/// largest body when it declares none.
fn reserve(s: &Serving, parts: &Parts) -> Option<Reserved> {
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
        .unwrap_or(MAX_BODY);
    s.heavy.reserve(declared.min(MAX_BODY))
}

/// An OIP request's id, rows and predictions.
fn decode_oip(
    bytes: &[u8],
    served: &Served,
) -> Result<(Option<String>, Rows, Predictions), Failure> {
    let request = serde_json::from_slice::<oip::InferRequest<'_>>(bytes)
        .map_err(|e| Failure::Bad(BadRequest::new("body", e.to_string())))?;
    let asked_id = oip::asked_id(&request).map_err(Failure::Bad)?;
    let mut allowance = Allowance::for_body(bytes.len());
    let rows = oip::rows(request, served.inputs(), &mut allowance).map_err(Failure::Bad)?;
    let predictions = predict(served, &rows)?;
    Ok((asked_id, rows, predictions))
}

/// An MLflow scoring request's rows (from CSV when `csv`, else JSON) and predictions.
fn decode_mlflow(bytes: &[u8], csv: bool, served: &Served) -> Result<(Rows, Predictions), Failure> {
    let inputs = served.inputs();
    let mut allowance = Allowance::for_body(bytes.len());
    let rows = if csv {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| Failure::Bad(BadRequest::new("body", "CSV is not UTF-8")))?;
        mlflow::rows_from_csv(text, inputs, &mut allowance)
    } else {
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|e| Failure::Bad(BadRequest::new("body", e.to_string())))?;
        mlflow::rows_from_json(&value, inputs).and_then(|rows| allowance.rows(&rows).map(|()| rows))
    }
    .map_err(Failure::Bad)?;
    let predictions = predict(served, &rows)?;
    Ok((rows, predictions))
}

/// A request whose body could not be read (too large, cut short, or too slow to arrive):
/// the client's doing, so no version's latency or errors count it. A body that never
/// finishes would otherwise put a version's p99 past every latency bucket, and honest slow
/// uploads would make a fast version look slow; they are counted apart instead.
fn unread(failure: Failure) -> Failure {
    let reason = match failure {
        Failure::Slow => "slow",
        _ => "unreadable",
    };
    metrics::counter!("drover_agent_unread_requests_total", "reason" => reason).increment(1);
    failure
}

async fn ping(State(s): State<Arc<Serving>>) -> StatusCode {
    if !s.catalog.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}
