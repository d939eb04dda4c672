//! Deployments as listings and panes show them: where a version is served and its traffic,
//! and what an agent serves.

use drover_protocol::serve::{DeploymentStatus, LoadState, Rate};
use drover_protocol::types::AgentId;

/// `90% on 2, 12.0/s`: a version's weight, the agents that report it ready, and their
/// requests per second in their last window; `None` when it is not deployed.
pub fn version_served(
    deployments: &[DeploymentStatus],
    model: &str,
    version: u32,
) -> Option<String> {
    let status = deployments.iter().find(|d| d.deployment.model == model)?;
    let variant = status
        .deployment
        .variants
        .iter()
        .find(|v| v.version == version)?;
    let ready = status
        .agents
        .iter()
        .filter(|(_, serving)| {
            serving
                .iter()
                .any(|s| s.version == version && s.state == LoadState::Ready)
        })
        .count();
    // Summed from zero: an empty sum of floats is -0.0, which would print as such.
    let rate = status
        .rates
        .iter()
        .filter(|r| r.version == version)
        .fold(0.0, |sum, r| sum + r.requests_per_second);
    let share = if variant.shadow {
        "shadow".to_string()
    } else {
        format!("{}%", variant.weight)
    };
    Some(format!("{share} on {ready}, {rate:.1}/s"))
}

/// `412.5/s  0.2% errors  p99 2.0 ms`: one version's traffic on one agent.
pub fn rate(r: &Rate) -> String {
    let p99 = r
        .p99_us
        .map_or_else(|| "-".into(), |us| format!("{:.1} ms", us as f64 / 1000.0));
    format!(
        "{:.1}/s  {:.1}% errors  p99 {p99}",
        r.requests_per_second,
        r.error_rate * 100.0
    )
}

/// One line per version `agent` serves: its state and its traffic in the last window.
pub fn agent_serves(deployments: &[DeploymentStatus], agent: &AgentId) -> Vec<String> {
    let mut lines = Vec::new();
    for status in deployments {
        let Some((_, serving)) = status.agents.iter().find(|(id, _)| id == agent) else {
            continue;
        };
        for s in serving {
            let traffic = status
                .rates
                .iter()
                .find(|r| r.agent == *agent && r.version == s.version)
                .map_or_else(String::new, |r| format!("  {}", rate(r)));
            lines.push(format!("{}@{} {}{traffic}", s.model, s.version, s.state));
        }
    }
    lines
}
