//! Domain types shared by the coordinator, agents and operators.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Stable identifier of an enrolled agent, e.g. `ag-5f3c9e21a0b4`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AgentId(pub String);

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Key/value labels an agent advertises, used for placement (`role=train,serve`).
pub type Labels = BTreeMap<String, String>;

/// Parses `role=train,serve,gpu=a100`: `key=value` pairs separated by commas; a bare word
/// continues the previous key's value list (`role=train,serve` means role is `train,serve`).
pub fn parse_labels(text: &str) -> Result<Labels, String> {
    let mut labels = Labels::new();
    let mut last: Option<String> = None;
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('=') {
            Some((key, value)) => {
                let key = key.trim();
                if key.is_empty()
                    || !key
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
                {
                    return Err(format!("invalid label key {key:?}"));
                }
                labels.insert(key.to_string(), value.trim().to_string());
                last = Some(key.to_string());
            }
            None => match last.as_ref().and_then(|k| labels.get_mut(k)) {
                Some(value) => {
                    value.push(',');
                    value.push_str(part);
                }
                None => return Err(format!("label {part:?} has no key (expected key=value)")),
            },
        }
    }
    Ok(labels)
}

/// Most labels one agent may carry, and the longest key and value.
pub const MAX_LABELS: usize = 32;
pub const MAX_LABEL_KEY: usize = 63;
pub const MAX_LABEL_VALUE: usize = 253;

/// Checks labels an agent or operator sent: at most [`MAX_LABELS`], keys of letters, digits
/// and `-_./`, values without control characters, within the lengths above.
pub fn check_labels(labels: &Labels) -> Result<(), String> {
    if labels.len() > MAX_LABELS {
        return Err(format!("{} labels; at most {MAX_LABELS}", labels.len()));
    }
    for (key, value) in labels {
        if key.is_empty()
            || key.len() > MAX_LABEL_KEY
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
        {
            return Err(format!(
                "label key {key:?} must be 1 to {MAX_LABEL_KEY} letters, digits or -_./"
            ));
        }
        if value.len() > MAX_LABEL_VALUE || value.chars().any(char::is_control) {
            return Err(format!(
                "label {key}'s value must be at most {MAX_LABEL_VALUE} bytes without control characters"
            ));
        }
    }
    Ok(())
}

/// Checks a hostname an agent sent: 1 to 253 letters, digits and `-_.`, as DNS names and
/// what `hostname` prints are.
pub fn check_hostname(name: &str) -> Result<(), String> {
    if name.is_empty()
        || name.len() > 253
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(format!(
            "hostname {:?} must be 1 to 253 letters, digits or -_.",
            name.escape_debug().to_string()
        ));
    }
    Ok(())
}

/// The labels of `claimed` that `granted` does not give (a key it lacks, or another value).
pub fn beyond_grant(claimed: &Labels, granted: &Labels) -> Labels {
    claimed
        .iter()
        .filter(|(k, v)| granted.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Formats labels back into the `key=value,...` form that [`parse_labels`] reads.
pub fn format_labels(labels: &Labels) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// What an agent can take on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capacity {
    /// Logical CPUs on the host.
    pub cpus: u32,
    /// Total memory in bytes.
    pub memory_bytes: u64,
    /// Jobs the agent runs at once.
    pub job_slots: u32,
}

/// Whether the coordinator currently hears from an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentStatus {
    /// Connected and heartbeating.
    Ready,
    /// No heartbeat within three intervals, or disconnected.
    Lost,
    /// Connected but shutting down: takes no new jobs.
    Draining,
}

impl fmt::Display for AgentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AgentStatus::Ready => "ready",
            AgentStatus::Lost => "lost",
            AgentStatus::Draining => "draining",
        })
    }
}

/// Host load reported with every heartbeat.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct HostLoad {
    /// CPU use over the last interval, percent of all cores (0-100).
    pub cpu_percent: f32,
    /// Memory in use, bytes.
    pub memory_used_bytes: u64,
}

/// What the coordinator knows about one agent, as operators see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentInfo {
    pub id: AgentId,
    pub hostname: String,
    pub labels: Labels,
    pub status: AgentStatus,
    /// Unix milliseconds of the last heartbeat, if any was ever received.
    pub last_heartbeat_ms: Option<u64>,
    /// drover version the agent runs.
    pub version: String,
    /// Remote address of its current or last connection.
    pub address: String,
    pub capacity: Option<Capacity>,
    pub load: Option<HostLoad>,
    /// Labels the agent claimed beyond those it was granted: ignored, shown so an operator
    /// can grant them (`drover agents label`) or find out why it claims them.
    #[serde(default)]
    pub claimed: Labels,
}

/// Milliseconds since the Unix epoch, now.
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_allow_lists_after_a_key() {
        let labels = parse_labels("role=train,serve, zone=eu-1").expect("valid labels");
        assert_eq!(labels.get("role").map(String::as_str), Some("train,serve"));
        assert_eq!(labels.get("zone").map(String::as_str), Some("eu-1"));
        assert_eq!(format_labels(&labels), "role=train,serve,zone=eu-1");
    }

    #[test]
    fn labels_reject_bare_word_first_and_bad_keys() {
        assert!(parse_labels("train").is_err());
        assert!(parse_labels("bad key=1").is_err());
        assert!(parse_labels("").expect("empty is fine").is_empty());
    }
}
