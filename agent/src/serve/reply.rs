//! How the prediction routes read a request's body and shape their answers: errors in the
//! shape of the protocol asked (a 400 naming the field, a 404, a 408), the 503 of a full
//! agent, and the request id and serving version stamped on every answer.

use std::pin::Pin;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use hyper::body::Body as HttpBody;
use serde_json::json;

use super::model::Served;
use super::request::BadRequest;

/// Largest request body read, bytes.
pub const MAX_BODY: usize = 8 << 20;
/// How long a request's body may take to arrive once its headers have.
pub const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The caller's request id, echoed (or made up) on every answer.
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// The version that answered: `name@version`.
const VERSION: HeaderName = HeaderName::from_static("x-drover-version");
/// The id feedback names the answer's prediction by.
const PREDICTION: HeaderName = HeaderName::from_static("x-drover-prediction");

/// Why a request failed, in the shape of the protocol it came in.
pub(super) enum Failure {
    Bad(BadRequest),
    NotFound(String),
    /// The body did not arrive in time.
    Slow,
}

impl Failure {
    const SLOW: &str = "the request body did not arrive in time";

    pub(super) fn oip(self) -> Response {
        let (status, body) = match self {
            Failure::Bad(e) => (
                StatusCode::BAD_REQUEST,
                json!({ "error": e.to_string(), "field": e.field }),
            ),
            Failure::NotFound(m) => (StatusCode::NOT_FOUND, json!({ "error": m })),
            Failure::Slow => (
                StatusCode::REQUEST_TIMEOUT,
                json!({ "error": Failure::SLOW }),
            ),
        };
        (status, axum::Json(body)).into_response()
    }

    pub(super) fn mlflow(self) -> Response {
        let (status, body) = match self {
            Failure::Bad(e) => (
                StatusCode::BAD_REQUEST,
                json!({ "error_code": "BAD_REQUEST", "message": e.to_string(), "field": e.field }),
            ),
            Failure::NotFound(m) => (
                StatusCode::NOT_FOUND,
                json!({ "error_code": "RESOURCE_DOES_NOT_EXIST", "message": m }),
            ),
            Failure::Slow => (
                StatusCode::REQUEST_TIMEOUT,
                json!({ "error_code": "REQUEST_TIMEOUT", "message": Failure::SLOW }),
            ),
        };
        (status, axum::Json(body)).into_response()
    }
}

pub(super) fn busy() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "1")],
        axum::Json(
            json!({ "error": "the agent is answering as many requests as it takes; retry" }),
        ),
    )
        .into_response()
}

/// The caller's request id (echoed for tracing: at most 128 characters), or a new one.
pub(crate) fn request_id(headers: &HeaderMap) -> String {
    headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= super::oip::MAX_ID)
        .map_or_else(
            || {
                let raw: [u8; 8] = rand::random();
                drover_protocol::pki::hex(&raw)
            },
            str::to_string,
        )
}

/// `response` with `id` as its `x-request-id`, unless it has one already.
pub(crate) fn with_request_id(mut response: Response, id: &str) -> Response {
    if !response.headers().contains_key(REQUEST_ID)
        && let Ok(id) = HeaderValue::from_str(id)
    {
        response.headers_mut().insert(REQUEST_ID, id);
    }
    response
}

/// Reads the body: at most [`MAX_BODY`] bytes, within [`BODY_TIMEOUT`]. A body that has
/// already arrived whole (a small prediction request, usually) is taken as it is, without
/// arming the timer; any other is read by a future of its own on the heap, which keeps the
/// route's future small.
pub(super) async fn read<B>(mut body: B) -> Result<Bytes, Failure>
where
    B: HttpBody<Data = Bytes> + Unpin + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    use std::task::{Context, Poll, Waker};
    let arrived = Pin::new(&mut body).poll_frame(&mut Context::from_waker(Waker::noop()));
    let first = match arrived {
        Poll::Ready(None) => return Ok(Bytes::new()),
        Poll::Ready(Some(Err(_))) => return Err(too_large()),
        Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
            Ok(data) if data.len() > MAX_BODY => return Err(too_large()),
            Ok(data) if body.is_end_stream() => return Ok(data),
            Ok(data) => data,
            Err(_) => Bytes::new(),
        },
        Poll::Pending => Bytes::new(),
    };
    Box::pin(rest(first, body)).await
}

/// The rest of a body after its `first` bytes, appended frame by frame to one buffer sized
/// by the declared length: a large body is never copied whole at once on an async worker,
/// where it would hold up the small requests beside it.
async fn rest<B>(first: Bytes, mut body: B) -> Result<Bytes, Failure>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    let declared = usize::try_from(body.size_hint().lower()).unwrap_or(MAX_BODY);
    let mut whole = Vec::with_capacity(first.len() + declared.min(MAX_BODY - first.len()));
    whole.extend_from_slice(&first);
    let filled = async {
        while let Some(frame) = body.frame().await {
            let data = frame
                .map_err(|_| too_large())?
                .into_data()
                .unwrap_or_default();
            if whole.len() + data.len() > MAX_BODY {
                return Err(too_large());
            }
            whole.extend_from_slice(&data);
        }
        Ok(())
    };
    tokio::time::timeout(BODY_TIMEOUT, filled)
        .await
        .map_err(|_| Failure::Slow)??;
    Ok(Bytes::from(whole))
}

fn too_large() -> Failure {
    Failure::Bad(BadRequest::new(
        "body",
        format!("larger than {MAX_BODY} bytes, or cut short"),
    ))
}

/// Adds the request id and the serving version to an answer.
pub(super) fn stamped(mut response: Response, id: &str, served: &Served) -> Response {
    let headers = response.headers_mut();
    if let Ok(id) = HeaderValue::from_str(id) {
        headers.insert(REQUEST_ID, id);
    }
    headers.insert(VERSION, served.stamp.clone());
    response
}

/// A 200 answer of `body` as JSON, stamped with `id`, the id of its `prediction` when it is
/// kept for feedback, and the serving version. The body is written into one buffer sized for
/// a typical answer.
pub(super) fn json_answer(
    body: &impl serde::Serialize,
    id: &str,
    prediction: Option<&str>,
    served: &Served,
) -> Response {
    let mut bytes = Vec::with_capacity(512);
    if let Err(e) = serde_json::to_writer(&mut bytes, body) {
        tracing::error!(cause = %e, "an answer could not be written");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let mut response = Response::new(Body::from(bytes));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(prediction) = prediction.and_then(|p| HeaderValue::from_str(p).ok()) {
        headers.insert(PREDICTION, prediction);
    }
    stamped(response, id, served)
}
