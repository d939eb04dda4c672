//! What a model version's source may be, as MLflow checks it since its fixes for local and
//! relative sources: never a path on the server's disk (`/etc/passwd`, `file:///...`, a bare
//! relative path), and never one that climbs out of where it points (`..`, percent-encoded or
//! not). A source names where a version came from; drover reads files only through
//! `runs:/`, `models:/` and `mlflow-artifacts:/` sources, inside its artifact store.

use percent_encoding::percent_decode_str;

use super::error::MlflowError;

/// Decodes percent-encoding until the text no longer changes (at most a few rounds), as
/// MLflow does, so `%252e%252e` is caught as `..`.
fn decoded(source: &str) -> String {
    let mut text = source.to_string();
    for _ in 0..4 {
        let next = percent_decode_str(&text).decode_utf8_lossy().into_owned();
        if next == text {
            break;
        }
        text = next;
    }
    text
}

/// The source's scheme (`runs`, `s3`, ...), if it has one: a letter, then letters, digits,
/// `+`, `-` or `.`, then `:`. A Windows drive letter (`C:`) is no scheme.
fn scheme(source: &str) -> Option<&str> {
    let (scheme, _) = source.split_once(':')?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic()
        && scheme.len() > 1
        && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)))
    .then_some(scheme)
}

/// Refuses a source MLflow would refuse: a local path, or one with a `..` segment.
pub fn check(source: &str) -> Result<(), MlflowError> {
    if source.is_empty() {
        return Ok(());
    }
    let text = decoded(source);
    let local = match scheme(&text) {
        None => true,
        Some(s) => s.eq_ignore_ascii_case("file"),
    };
    if local {
        return Err(MlflowError::invalid(format!(
            "Invalid model version source: '{source}'. A path on the server cannot be a model version source; use runs:/<run_id>/<path>, models:/<model_id> or mlflow-artifacts:/<path>."
        )));
    }
    let climbs = text.split(['/', '\\']).any(|segment| segment == "..");
    if climbs {
        return Err(MlflowError::invalid(format!(
            "Invalid model version source: '{source}'. If supplying a source as an http, https, local file path, ftp, objectstore, or mlflow-artifacts uri, an absolute path must be provided without relative path references present. Please provide an absolute path."
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_and_climbing_sources_are_refused_as_mlflow_refuses_them() {
        for bad in [
            "/etc/passwd",
            "file:///etc/passwd",
            "FILE:/etc/passwd",
            "../../pki",
            "pki/ca.key",
            "C:/Windows",
            "runs:/abc/../../pki",
            "mlflow-artifacts:/1/../../../pki",
            "mlflow-artifacts:/1/%2e%2e/%2e%2e/pki",
            "s3://bucket/%252e%252e/key",
            "file%3A%2F%2F%2Fetc%2Fpasswd",
        ] {
            assert!(check(bad).is_err(), "{bad} accepted");
        }
        for good in [
            "",
            "runs:/0123abcd/model",
            "models:/m-0123",
            "mlflow-artifacts:/1/abc/artifacts/model",
            "s3://bucket/path/model",
            "https://example.com/model..v2/x",
        ] {
            assert!(check(good).is_ok(), "{good} refused");
        }
    }
}
