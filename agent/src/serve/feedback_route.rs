//! `POST /v2/models/{name}/feedback` with `{"id": ..., "labels": [...]}` (or `"label"` for
//! one row): the true labels of an earlier prediction, named by the prediction id its answer
//! gave, counted in the answering version's window.
//!
//! Feedback decides rollouts, so it has a credential of its own: the agent's feedback token
//! (`feedback.token` in its state dir), as `Authorization: Bearer`, on loopback too; the
//! listener's prediction token does not open it. One request counts at most
//! [`COUNTED_PER_REQUEST`] rows in a window, and one source (the client's address) at most
//! what [`super::sources`] allows per period; rows past those are judged and answered but not
//! counted.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use drover_protocol::http::Presented;
use serde_json::{Value, json};

use super::feedback::{Judged, PredictionId};
use super::reply::{Failure, read};
use super::request::BadRequest;
use super::serving::Serving;

/// Labelled rows one feedback request counts in a window at most.
pub const COUNTED_PER_REQUEST: usize = 64;

/// The address a request came from, as the listener tells the router.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// Whether `path` is a model's feedback route (which the listener's token does not guard).
pub fn is_feedback(path: &str) -> bool {
    path.strip_prefix("/v2/models/")
        .and_then(|rest| rest.strip_suffix("/feedback"))
        .is_some_and(|name| !name.is_empty() && !name.contains('/'))
}

/// The refusal of a request without the feedback token, if it lacks it.
fn unauthorized(headers: &HeaderMap, token: Option<&str>) -> Option<Response> {
    let message = match token.map(|t| drover_protocol::http::presented(headers, t)) {
        Some(Presented::Right) => return None,
        None => "this agent takes no feedback (it was started without a feedback token)",
        Some(Presented::Wrong) => "the feedback token is wrong",
        Some(Presented::Missing) => {
            "feedback requires the agent's feedback token (Authorization: Bearer <its state dir's feedback.token>)"
        }
    };
    let answer = (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        axum::Json(json!({ "error": message })),
    );
    Some(answer.into_response())
}

/// A label as feedback gives it: text, or a number written as the training CSV had it.
fn label(value: &Value, field: &str) -> Result<String, BadRequest> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
        Value::Bool(b) => Ok(u8::from(*b).to_string()),
        other => Err(BadRequest::new(
            field,
            format!("expected a class label, got {other}"),
        )),
    }
}

/// The prediction id and labels of a feedback body.
fn parse(bytes: &[u8]) -> Result<(String, Vec<String>), Failure> {
    let body: Value = serde_json::from_slice(bytes)
        .map_err(|e| Failure::Bad(BadRequest::new("body", e.to_string())))?;
    let id = body["id"]
        .as_str()
        .ok_or_else(|| {
            Failure::Bad(BadRequest::new(
                "id",
                "the prediction id is missing (the answer's x-drover-prediction header)",
            ))
        })?
        .to_string();
    let labels = match (&body["labels"], &body["label"]) {
        (Value::Array(labels), _) => labels
            .iter()
            .enumerate()
            .map(|(i, l)| label(l, &format!("labels[{i}]")))
            .collect::<Result<Vec<_>, _>>(),
        (Value::Null, Value::Null) => Err(BadRequest::new("labels", "no labels given")),
        (Value::Null, one) => label(one, "label").map(|l| vec![l]),
        _ => Err(BadRequest::new("labels", "expected a list of labels")),
    }
    .map_err(Failure::Bad)?;
    Ok((id, labels))
}

/// The feedback route.
pub async fn feedback(
    State(s): State<Arc<Serving>>,
    Path(name): Path<String>,
    peer: Option<axum::Extension<Peer>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Some(refusal) = unauthorized(&headers, s.feedback_token.as_deref()) {
        return refusal;
    }
    let source = peer.map(|p| p.0.0.ip());
    let (id, labels) = match read(body).await.and_then(|bytes| parse(&bytes)) {
        Ok(parsed) => parsed,
        Err(e) => return e.oip(),
    };
    let unknown = || {
        Failure::NotFound(format!(
            "no prediction of {name} with id {id:?} is waiting for feedback (not an id this agent issued, already judged, or older than {}s)",
            super::feedback::KEEP_FOR.as_secs()
        ))
        .oip()
    };
    let Some(prediction) = PredictionId::parse(&id) else {
        return unknown();
    };
    let allowance = s
        .sources
        .take(source, labels.len().min(COUNTED_PER_REQUEST));
    let loaded = |v| s.catalog.get(&name, Some(v));
    let judged = s
        .pending
        .judge(&name, prediction, &labels, allowance, loaded);
    let counted = match judged {
        Judged::Matched { counted, .. } => counted,
        _ => 0,
    };
    s.sources.give_back(source, allowance - counted);
    if counted > 0
        && let [truth] = labels.as_slice()
    {
        let key = s.pending.key(&name, prediction);
        for version in s.catalog.versions(&name) {
            if let Some(served) = s.catalog.get(&name, Some(version))
                && let Some(class) = served.classes().iter().position(|c| c == truth)
            {
                served.labelled.label(key, class);
            }
        }
    }
    // Shadows scored too, as far as the answer counted; one that dropped this request's copy
    // has nothing to judge.
    for version in s.catalog.shadows(&name) {
        s.pending
            .judge_shadow((&name, version), prediction, &labels, counted, loaded);
    }
    match judged {
        Judged::Matched {
            rows,
            correct,
            counted,
        } => axum::Json(json!({ "id": id, "rows": rows, "correct": correct, "counted": counted }))
            .into_response(),
        Judged::Unknown => unknown(),
        Judged::WrongRows { expected } => Failure::Bad(BadRequest::new(
            "labels",
            format!("that prediction had {expected} rows"),
        ))
        .oip(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_models_feedback_route_is_feedback() {
        assert!(is_feedback("/v2/models/churn/feedback"));
        for path in [
            "/v2/models//feedback",
            "/v2/models/a/b/feedback",
            "/v2/models/churn/infer",
            "/feedback",
        ] {
            assert!(!is_feedback(path), "{path}");
        }
    }
}
