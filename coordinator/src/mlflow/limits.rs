//! MLflow's own size limits on what a client logs, checked before anything is stored and
//! refused with MLflow's `INVALID_PARAMETER_VALUE`: keys of 250 characters, param values of
//! 6000, tag values of 8000, names of 256 (the width of MLflow's own name columns), and the
//! client's own chunk sizes for a log batch.

use super::error::MlflowError;

/// Longest param, tag or metric key.
pub const MAX_KEY: usize = 250;
/// Longest param value.
pub const MAX_PARAM_VALUE: usize = 6000;
/// Longest tag value.
pub const MAX_TAG_VALUE: usize = 8000;
/// Longest experiment or registered model name.
pub const MAX_NAME: usize = 256;
/// Longest description of a registered model or version.
pub const MAX_DESCRIPTION: usize = 5000;
/// The client's own chunk limits for one log-batch request.
pub const MAX_BATCH_METRICS: usize = 1000;
pub const MAX_BATCH_PARAMS: usize = 100;
pub const MAX_BATCH_TAGS: usize = 100;

/// Refuses `text` (a `what`) of more than `max` characters, naming its start.
pub fn within(what: &str, text: &str, max: usize) -> Result<(), MlflowError> {
    let len = text.chars().count();
    if len > max {
        let start: String = text.chars().take(40).collect();
        return Err(MlflowError::invalid(format!(
            "{what} {start:?}... is {len} characters; the limit is {max}"
        )));
    }
    Ok(())
}

/// Checks params and tags (key, value) and metric keys.
pub fn check<'a>(
    params: impl IntoIterator<Item = &'a (String, String)>,
    tags: impl IntoIterator<Item = &'a (String, String)>,
    metric_keys: impl IntoIterator<Item = &'a str>,
) -> Result<(), MlflowError> {
    for (key, value) in params {
        within("param key", key, MAX_KEY)?;
        within(&format!("value of param {key:?}"), value, MAX_PARAM_VALUE)?;
    }
    for (key, value) in tags {
        within("tag key", key, MAX_KEY)?;
        within(&format!("value of tag {key:?}"), value, MAX_TAG_VALUE)?;
    }
    for key in metric_keys {
        within("metric key", key, MAX_KEY)?;
    }
    Ok(())
}

/// Checks the size of one log-batch request.
pub fn batch(metrics: usize, params: usize, tags: usize) -> Result<(), MlflowError> {
    if metrics > MAX_BATCH_METRICS || params > MAX_BATCH_PARAMS || tags > MAX_BATCH_TAGS {
        return Err(MlflowError::invalid(format!(
            "a batch holds at most {MAX_BATCH_METRICS} metrics, {MAX_BATCH_PARAMS} params and {MAX_BATCH_TAGS} tags; got {metrics}, {params} and {tags}"
        )));
    }
    Ok(())
}

/// Checks a description.
pub fn description(text: &str) -> Result<(), MlflowError> {
    within("description", text, MAX_DESCRIPTION)
}

/// Checks an experiment or model name.
pub fn name(what: &str, name: &str) -> Result<(), MlflowError> {
    within(what, name, MAX_NAME)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mlflows_limits_hold_to_the_character() {
        let pair = |k: usize, v: usize| ("k".repeat(k), "v".repeat(v));
        assert!(check(&[pair(250, 6000)], &[pair(250, 8000)], ["m"]).is_ok());
        assert!(check(&[pair(251, 1)], &[], []).is_err());
        assert!(check(&[pair(1, 6001)], &[], []).is_err());
        assert!(check(&[], &[pair(1, 8001)], []).is_err());
        let long = "m".repeat(251);
        assert!(check(&[], &[], [long.as_str()]).is_err());
        assert!(name("experiment name", &"é".repeat(256)).is_ok());
        let err = name("experiment name", &"e".repeat(257)).expect_err("too long");
        assert!(format!("{err:?}").contains("INVALID_PARAMETER_VALUE"));
    }
}
