//! What every MLflow endpoint shares to read a request: JSON bodies and query strings read
//! into MLflow's errors, required arguments, experiment ids, the run a request names, view
//! types, and page tokens.

use axum::Json;
use axum::body::Bytes;
use axum::extract::Query;
use axum::http::Uri;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::MlflowError;
use super::filter::{Attributes, Filter, OrderBy};

/// What a JSON endpoint answers.
pub type Reply = Result<Json<Value>, MlflowError>;

/// A JSON body (an empty body reads as `{}`); a malformed one is `INVALID_PARAMETER_VALUE`.
pub fn body<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, MlflowError> {
    let bytes: &[u8] = if bytes.is_empty() { b"{}" } else { bytes };
    serde_json::from_slice(bytes)
        .map_err(|e| MlflowError::invalid(format!("malformed request body: {e}")))
}

/// The query string's arguments.
pub fn query<T: DeserializeOwned>(uri: &Uri) -> Result<T, MlflowError> {
    Query::<T>::try_from_uri(uri)
        .map(|q| q.0)
        .map_err(|e| MlflowError::invalid(format!("malformed query: {e}")))
}

/// A required argument, non-empty; `INVALID_PARAMETER_VALUE` naming it otherwise.
pub fn required<'a>(value: &'a Option<String>, name: &str) -> Result<&'a str, MlflowError> {
    value.as_deref().filter(|v| !v.is_empty()).ok_or_else(|| {
        MlflowError::invalid(format!("missing value for required parameter '{name}'"))
    })
}

/// An experiment id as the client sends it (a decimal string).
pub fn experiment_id(text: &str) -> Result<i64, MlflowError> {
    text.parse()
        .map_err(|_| MlflowError::invalid(format!("invalid experiment id {text:?}")))
}

/// The run a request names, by `run_id` or the older `run_uuid`.
#[derive(Deserialize)]
pub struct RunRef {
    run_id: Option<String>,
    run_uuid: Option<String>,
}

impl RunRef {
    /// The run id, from whichever field the client filled.
    pub fn id(&self) -> Result<&str, MlflowError> {
        required(&self.run_id, "run_id").or_else(|_| required(&self.run_uuid, "run_id"))
    }
}

/// A search's `filter` and `order_by` entries over `attributes`; either malformed is
/// `INVALID_PARAMETER_VALUE`.
pub fn search_terms<'a>(
    filter: Option<&str>,
    order_by: impl IntoIterator<Item = &'a str>,
    attributes: Attributes,
) -> Result<(Filter, Vec<OrderBy>), MlflowError> {
    let invalid = |e: super::filter::FilterError| MlflowError::invalid(e.0);
    let filter = Filter::parse_with(filter.unwrap_or(""), attributes).map_err(invalid)?;
    let order = order_by
        .into_iter()
        .map(|o| OrderBy::parse_with(o, attributes))
        .collect::<Result<_, _>>()
        .map_err(invalid)?;
    Ok((filter, order))
}

/// Which lifecycle a search wants.
pub fn view_matches(view: Option<&str>, deleted: bool) -> Result<bool, MlflowError> {
    match view.unwrap_or("ACTIVE_ONLY") {
        "ACTIVE_ONLY" => Ok(!deleted),
        "DELETED_ONLY" => Ok(deleted),
        "ALL" => Ok(true),
        other => Err(MlflowError::invalid(format!("invalid view type {other:?}"))),
    }
}

/// Where a page token says to start (tokens are offsets).
pub fn offset(token: Option<&str>) -> Result<usize, MlflowError> {
    match token.filter(|t| !t.is_empty()) {
        None => Ok(0),
        Some(t) => t
            .parse()
            .map_err(|_| MlflowError::invalid(format!("invalid page token {t:?}"))),
    }
}

/// A page of `items` from the offset in `token`, and the token of the next page if any.
pub fn page<T>(
    items: Vec<T>,
    token: Option<&str>,
    max: usize,
) -> Result<(Vec<T>, Option<String>), MlflowError> {
    let offset = offset(token)?;
    let total = items.len();
    let end = offset.saturating_add(max).min(total);
    let next = (end < total).then(|| end.to_string());
    Ok((items.into_iter().skip(offset).take(max).collect(), next))
}
