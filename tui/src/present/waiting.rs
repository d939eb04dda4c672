//! Why a queued run waits, from what the fleet looks like: the CLI (`runs show`,
//! `train --follow`) and the console say it the same way.

use drover_protocol::types::{AgentInfo, AgentStatus, format_labels};

/// Agents the scheduler places training on carry this role.
const TRAIN_ROLE: &str = "train";

/// Whether `agent` takes training jobs: ready, not draining, labelled `role=train`.
fn trains(agent: &AgentInfo) -> bool {
    agent.status == AgentStatus::Ready
        && agent
            .labels
            .get("role")
            .is_some_and(|r| r.split(',').any(|r| r.trim() == TRAIN_ROLE))
}

/// Why a queued run is not running yet, given the agents.
pub fn reason(agents: &[AgentInfo]) -> String {
    let trainers = agents.iter().filter(|a| trains(a)).count();
    if trainers > 0 {
        return format!(
            "waiting: for a free job slot on the {trainers} ready agent(s) labelled role={TRAIN_ROLE}"
        );
    }
    if agents.is_empty() {
        return format!(
            "waiting: no agent has joined (add one with `drover token create` and `drover-agent join`; it needs role={TRAIN_ROLE})"
        );
    }
    let seen: Vec<String> = agents
        .iter()
        .map(|a| {
            let labels = format_labels(&a.labels);
            let labels = if labels.is_empty() {
                "no labels".into()
            } else {
                labels
            };
            format!("{} {labels} {}", a.id, a.status)
        })
        .collect();
    format!(
        "waiting: no ready agent labelled role={TRAIN_ROLE} (agents: {})",
        seen.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use drover_protocol::types::{AgentId, parse_labels};

    use super::*;

    fn agent(id: &str, labels: &str, status: AgentStatus) -> AgentInfo {
        AgentInfo {
            id: AgentId(id.into()),
            hostname: id.into(),
            labels: parse_labels(labels).expect("labels"),
            status,
            last_heartbeat_ms: None,
            version: String::new(),
            address: String::new(),
            capacity: None,
            load: None,
            claimed: Default::default(),
        }
    }

    #[test]
    fn the_reason_names_what_is_missing() {
        assert!(reason(&[]).contains("no agent has joined"));
        let serving = [
            agent("ag-1", "role=serve", AgentStatus::Ready),
            agent("ag-2", "role=train", AgentStatus::Lost),
        ];
        assert_eq!(
            reason(&serving),
            "waiting: no ready agent labelled role=train (agents: ag-1 role=serve ready; ag-2 role=train lost)"
        );
        let busy = [agent("ag-3", "role=train,serve", AgentStatus::Ready)];
        assert!(reason(&busy).contains("free job slot on the 1 ready agent"));
    }
}
