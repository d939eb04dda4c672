//! Whether drover's agents can load a model version, checked before anything is deployed or
//! rolled out. Agents load the model artifacts drover's own training writes (a JSON document
//! with a `format`). A version registered through the MLflow API from a model folder (an
//! `MLmodel` file beside the model's files) is refused up front, naming its flavors, rather
//! than "deployed" and then failing on every agent.

use drover_protocol::hash::ContentHash;
use drover_protocol::msg::ApiError;
use drover_protocol::registry::ModelVersion;
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::state::Shared;

/// The part of a drover model artifact that says it is one.
#[derive(Deserialize)]
struct Artifact {
    #[serde(rename = "format")]
    _format: u32,
    #[serde(flatten)]
    _rest: IgnoredAny,
}

/// Ok when `version`'s artifact is a model drover's agents load; otherwise why not, naming
/// what the version is.
pub fn check(shared: &Shared, version: &ModelVersion) -> Result<(), ApiError> {
    let name = format!("{}@{}", version.model, version.version);
    let read = |hash: &str| -> Option<Vec<u8>> {
        let hash: ContentHash = hash.parse().ok()?;
        std::fs::read(shared.artifacts.path(&hash)).ok()
    };
    let Some(bytes) = read(&version.artifact_hash) else {
        return Err(ApiError::invalid(format!(
            "{name} has no model file in the artifact store (logged by run {}); nothing was deployed",
            version.run_id
        )));
    };
    if serde_json::from_slice::<Artifact>(&bytes).is_ok() {
        return Ok(());
    }
    let flavors = manifest_entry(&bytes, "MLmodel")
        .and_then(|hash| read(&hash))
        .map(|mlmodel| flavors(&String::from_utf8_lossy(&mlmodel)));
    Err(ApiError::invalid(match flavors {
        Some(flavors) => format!(
            "{name} is an MLflow model (flavors: {}); drover's agents serve only the models drover trains so far, so nothing was deployed",
            if flavors.is_empty() {
                "none listed".into()
            } else {
                flavors.join(", ")
            }
        ),
        None => format!(
            "{name} is not a model drover's agents can load (logged by run {}); nothing was deployed",
            version.run_id
        ),
    }))
}

/// The hash a folder's manifest (`path<TAB>hash` lines) gives for `path`.
fn manifest_entry(manifest: &[u8], path: &str) -> Option<String> {
    std::str::from_utf8(manifest)
        .ok()?
        .lines()
        .filter_map(|line| line.split_once('\t'))
        .find(|(p, _)| *p == path)
        .map(|(_, hash)| hash.to_string())
}

/// The flavors an `MLmodel` file lists: the keys one level under `flavors:`.
fn flavors(mlmodel: &str) -> Vec<String> {
    let mut lines = mlmodel.lines().skip_while(|l| l.trim_end() != "flavors:");
    lines.next();
    let mut found = Vec::new();
    let mut indent = None;
    for line in lines {
        if line.trim().is_empty() {
            continue;
        }
        let depth = line.len() - line.trim_start().len();
        if depth == 0 {
            break;
        }
        let indent = *indent.get_or_insert(depth);
        if depth == indent
            && let Some((key, _)) = line.trim_start().split_once(':')
        {
            found.push(key.to_string());
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flavors_of_an_mlmodel_file_are_the_keys_under_flavors() {
        let mlmodel = "artifact_path: model\nflavors:\n  python_function:\n    env:\n      conda: conda.yaml\n    loader_module: mlflow.xgboost\n  xgboost:\n    code: null\n    data: model.xgb\n    model_format: xgb\nmlflow_version: 3.1.0\n";
        assert_eq!(flavors(mlmodel), vec!["python_function", "xgboost"]);
        assert!(flavors("artifact_path: model\n").is_empty());
        let manifest = b"MLmodel\tabc\nmodel.xgb\tdef\n";
        assert_eq!(manifest_entry(manifest, "MLmodel"), Some("abc".into()));
        assert_eq!(manifest_entry(manifest, "conda.yaml"), None);
    }
}
