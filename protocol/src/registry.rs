//! The model registry: versions of each model with their stage, aliases and lineage.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::run::Metrics;

/// Where a model version is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    None,
    Staging,
    Production,
    Archived,
}

impl Stage {
    /// Parses the lower-case name.
    pub fn parse(text: &str) -> Option<Self> {
        [
            Stage::None,
            Stage::Staging,
            Stage::Production,
            Stage::Archived,
        ]
        .into_iter()
        .find(|s| s.to_string() == text)
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::None => "none",
            Stage::Staging => "staging",
            Stage::Production => "production",
            Stage::Archived => "archived",
        })
    }
}

/// One registered version of a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelVersion {
    pub model: String,
    /// The number in `model@N`.
    pub version: u32,
    /// Semantic version: major for a new feature schema, minor for new data, patch otherwise.
    pub semver: String,
    pub stage: Stage,
    pub aliases: Vec<String>,
    /// Lineage: the run that trained it and the dataset version it learnt from.
    pub run_id: String,
    pub dataset: String,
    pub dataset_hash: String,
    pub artifact_hash: String,
    pub algorithm: String,
    #[serde(with = "crate::float::map")]
    pub metrics: Metrics,
    pub created_ms: u64,
    /// How its last rollout ended, e.g. `rolled back by rollout 3: ...` (protocol 5).
    pub rollout: Option<String>,
}

/// A model and where its versions stand, for listings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelSummary {
    pub name: String,
    pub latest: u32,
    pub latest_semver: String,
    pub versions: u32,
    pub production: Option<u32>,
    pub staging: Option<u32>,
    pub created_ms: u64,
}

/// `model`, `model@latest`, `model@N` or `model@ALIAS`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelRef {
    pub name: String,
    pub selector: Selector,
}

/// Which version a [`ModelRef`] names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Selector {
    Latest,
    Number(u32),
    Alias(String),
}

impl std::str::FromStr for ModelRef {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (name, selector) = match text.split_once('@') {
            None | Some((_, "latest")) => {
                (text.split('@').next().unwrap_or(text), Selector::Latest)
            }
            Some((name, v)) if v.chars().all(|c| c.is_ascii_digit()) => {
                let n = v
                    .parse::<u32>()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| format!("{text:?}: versions count from 1"))?;
                (name, Selector::Number(n))
            }
            Some((name, alias)) => {
                crate::data::version::validate_name(alias).map_err(|e| format!("alias: {e}"))?;
                (name, Selector::Alias(alias.to_string()))
            }
        };
        crate::data::version::validate_name(name)?;
        Ok(Self {
            name: name.to_string(),
            selector,
        })
    }
}

impl fmt::Display for ModelRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.selector {
            Selector::Latest => write!(f, "{}@latest", self.name),
            Selector::Number(n) => write!(f, "{}@{n}", self.name),
            Selector::Alias(a) => write!(f, "{}@{a}", self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse() {
        let r: ModelRef = "churn@3".parse().expect("number");
        assert_eq!(r.selector, Selector::Number(3));
        let r: ModelRef = "churn@champion".parse().expect("alias");
        assert_eq!(r.selector, Selector::Alias("champion".into()));
        let r: ModelRef = "churn".parse().expect("latest");
        assert_eq!((r.name.as_str(), r.selector), ("churn", Selector::Latest));
        assert!("churn@0".parse::<ModelRef>().is_err());
        assert!("Churn@1".parse::<ModelRef>().is_err());
        assert_eq!(Stage::parse("production"), Some(Stage::Production));
    }
}
