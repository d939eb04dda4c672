//! Dataset versions as the registry records them, and references like `churn@3`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::profile::Profile;
use super::schema::{Schema, SchemaChange};

/// Announces the bytes that follow on an upload stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetUpload {
    pub name: String,
    /// The file's name, kept as the version's source.
    pub file_name: String,
    pub len: u64,
    /// BLAKE3 of the bytes, hex; the coordinator refuses bytes that do not match.
    pub blake3: String,
}

/// One recorded version of a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetVersion {
    pub name: String,
    pub version: u32,
    /// BLAKE3 of the CSV, hex: its address in the artifact store.
    pub hash: String,
    pub size_bytes: u64,
    pub rows: u64,
    pub schema: Schema,
    pub profile: Profile,
    /// Schema changes against the previous version (empty for the first).
    pub changes: Vec<SchemaChange>,
    pub source: String,
    pub created_ms: u64,
}

/// The answer to an upload: the version, and whether it already existed with that content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetAdded {
    pub version: DatasetVersion,
    /// True when the content equals the latest version's, so no version was added.
    pub unchanged: bool,
}

/// A dataset and its latest version, for listings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetSummary {
    pub name: String,
    pub latest: u32,
    pub versions: u32,
    pub rows: u64,
    pub columns: u32,
    pub size_bytes: u64,
    pub hash: String,
    pub created_ms: u64,
}

/// `name`, `name@latest` or `name@N`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetRef {
    pub name: String,
    /// `None` means the latest version.
    pub version: Option<u32>,
}

impl FromStr for DatasetRef {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (name, version) = match text.split_once('@') {
            None => (text, None),
            Some((name, "latest")) => (name, None),
            Some((name, v)) => {
                let version = v.parse::<u32>().ok().filter(|v| *v >= 1);
                (
                    name,
                    Some(version.ok_or_else(|| {
                        format!("{text:?}: the version after @ must be a number from 1, or latest")
                    })?),
                )
            }
        };
        validate_name(name)?;
        Ok(Self {
            name: name.to_string(),
            version,
        })
    }
}

impl fmt::Display for DatasetRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.version {
            Some(v) => write!(f, "{}@{v}", self.name),
            None => write!(f, "{}@latest", self.name),
        }
    }
}

/// Dataset (and model) names: 1 to 64 of lower-case letters, digits, `-`, `_`, `.`,
/// starting with a letter or digit.
pub fn validate_name(name: &str) -> Result<(), String> {
    let ok = (1..=64).contains(&name.len())
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a valid name: use 1-64 lower-case letters, digits, '-', '_' or '.'"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse() {
        assert_eq!(
            "churn".parse::<DatasetRef>(),
            Ok(DatasetRef {
                name: "churn".into(),
                version: None
            })
        );
        assert_eq!(
            "churn@latest".parse::<DatasetRef>(),
            Ok(DatasetRef {
                name: "churn".into(),
                version: None
            })
        );
        assert_eq!(
            "churn@3".parse::<DatasetRef>(),
            Ok(DatasetRef {
                name: "churn".into(),
                version: Some(3)
            })
        );
        assert!("churn@0".parse::<DatasetRef>().is_err());
        assert!("Churn".parse::<DatasetRef>().is_err());
        assert!("".parse::<DatasetRef>().is_err());
        assert!("a/b".parse::<DatasetRef>().is_err());
    }
}
