//! A model version's pane: stage, aliases, lineage (run <- dataset), artifact hash, metrics,
//! and its stage history from the registry's events.

use drover_ml::metric;
use drover_protocol::msg::{Event, EventRecord};
use drover_protocol::registry::ModelVersion;

use crate::present::age;

pub fn lines(v: &ModelVersion, history: Option<&[EventRecord]>, now_ms: u64) -> Vec<String> {
    let metrics: Vec<String> = v
        .metrics
        .iter()
        .map(|(k, m)| format!("{k} {}", metric::display(k, *m)))
        .collect();
    let mut out = vec![
        format!("version    {} ({})  stage {}", v.version, v.semver, v.stage),
        format!(
            "aliases    {}",
            if v.aliases.is_empty() {
                "-".into()
            } else {
                v.aliases.join(", ")
            }
        ),
        format!("lineage    run {} <- dataset {}", v.run_id, v.dataset),
        format!(
            "algorithm  {}  registered {}",
            v.algorithm,
            age(Some(v.created_ms), now_ms)
        ),
        format!("artifact   blake3 {}", v.artifact_hash),
        format!("metrics    {}", metrics.join("  ")),
    ];
    match history {
        None => out.push("history    loading...".into()),
        Some(events) => {
            out.push("history".into());
            out.extend(
                events
                    .iter()
                    .filter_map(|e| change(v.version, &e.event).map(|what| (e.at_ms, what)))
                    .map(|(at, what)| format!("  {:>9}  {what}", age(Some(at), now_ms))),
            );
        }
    }
    out
}

/// What `event` did to version `version`, if anything.
fn change(version: u32, event: &Event) -> Option<String> {
    match event {
        Event::ModelRegistered {
            version: v, run_id, ..
        } if *v == version => Some(format!("registered from {run_id}")),
        Event::ModelPromoted {
            version: v, stage, ..
        } if *v == version => Some(format!("moved to {stage}")),
        Event::ModelPromoted {
            version: v,
            stage,
            archived: Some(a),
            ..
        } if *a == version => Some(format!("archived: @{v} went to {stage}")),
        Event::AliasSet {
            version: v, alias, ..
        } if *v == version => Some(format!("alias {alias} set")),
        Event::AliasRemoved {
            version: v, alias, ..
        } if *v == version => Some(format!("alias {alias} removed")),
        _ => None,
    }
}
