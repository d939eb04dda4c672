//! `drover deployments`, `drover models deploy` and `drover models undeploy`: which model
//! versions are served on which agents, and how each agent reports serving them.

use clap::Args;
use drover_protocol::msg::{ApiErrorKind, OperatorRequest, OperatorResponse};
use drover_protocol::registry::{ModelRef, Selector};
use drover_protocol::serve::DeploymentStatus;
use drover_protocol::types::{format_labels, parse_labels};

use super::{Ctx, UsageError, table, with_client};
use crate::expect_response;
use crate::present::serving::rate;

/// `drover deployments`.
#[derive(Args)]
pub struct DeploymentsArgs {
    #[arg(long)]
    json: bool,
}

impl DeploymentsArgs {
    pub async fn run(self, ctx: &Ctx) -> anyhow::Result<()> {
        let list = with_client(&ctx.data_dir, ctx.address(), async |c| {
            expect_response!(
                c.request(&OperatorRequest::ListDeployments).await?,
                OperatorResponse::Deployments
            )
        })
        .await?;
        if self.json {
            println!("{}", serde_json::to_string_pretty(&list)?);
            return Ok(());
        }
        if list.is_empty() {
            println!("nothing is deployed (drover models deploy MODEL@N)");
            return Ok(());
        }
        println!("{}", render(&list));
        Ok(())
    }
}

/// One line per deployment and agent: the versions with their weights, and the state.
pub fn render(list: &[DeploymentStatus]) -> String {
    let mut rows = Vec::new();
    for status in list {
        let d = &status.deployment;
        let versions: Vec<String> = d
            .variants
            .iter()
            .map(|v| {
                let shadow = if v.shadow { " shadow" } else { "" };
                format!("@{} {}%{shadow}", v.version, v.weight)
            })
            .collect();
        let versions = versions.join(", ");
        if status.agents.is_empty() {
            rows.push(vec![
                d.model.clone(),
                versions.clone(),
                format_labels(&d.selector),
                "-".into(),
                "no agent matches".into(),
                "-".into(),
            ]);
        }
        for (agent, serving) in &status.agents {
            let state = if serving.is_empty() {
                "not reported".to_string()
            } else {
                serving
                    .iter()
                    .map(|s| format!("@{} {}", s.version, s.state))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let traffic: Vec<String> = status
                .rates
                .iter()
                .filter(|r| r.agent == *agent)
                .map(|r| format!("@{} {}", r.version, rate(r)))
                .collect();
            rows.push(vec![
                d.model.clone(),
                versions.clone(),
                format_labels(&d.selector),
                agent.to_string(),
                state,
                if traffic.is_empty() {
                    "-".into()
                } else {
                    traffic.join(", ")
                },
            ]);
        }
    }
    table(
        &[
            "MODEL",
            "VERSIONS",
            "AGENTS",
            "AGENT",
            "STATE",
            "TRAFFIC (LAST WINDOW)",
        ],
        &rows,
    )
}

/// Serves `reference` (which must name one version) on the agents `selector` picks.
pub async fn deploy(ctx: &Ctx, reference: &str, selector: &str) -> anyhow::Result<()> {
    let model: ModelRef = reference.parse().map_err(UsageError)?;
    if !matches!(model.selector, Selector::Number(_)) {
        return Err(UsageError(format!(
            "deploy names one version: {}@N (see `drover models show {}`)",
            model.name, model.name
        ))
        .into());
    }
    let selector = parse_labels(selector).map_err(UsageError)?;
    let request = OperatorRequest::Deploy { model, selector };
    let status = with_client(&ctx.data_dir, ctx.address(), async |c| {
        match c.request(&request).await? {
            // Refused as asked (a version no agent can load, a rollout running): exit 2.
            OperatorResponse::Error(e) if e.kind == ApiErrorKind::Invalid => {
                Err(UsageError(e.message).into())
            }
            other => expect_response!(other, OperatorResponse::Deployment),
        }
    })
    .await?;
    let d = &status.deployment;
    println!(
        "{reference} deployed on agents labelled {} ({} match now; `drover deployments` shows them load)",
        format_labels(&d.selector),
        status.agents.len()
    );
    Ok(())
}

/// Stops serving `model` everywhere.
pub async fn undeploy(ctx: &Ctx, model: &str) -> anyhow::Result<()> {
    let request = OperatorRequest::Undeploy {
        model: model.into(),
    };
    let model = with_client(&ctx.data_dir, ctx.address(), async |c| {
        expect_response!(c.request(&request).await?, OperatorResponse::Undeployed)
    })
    .await?;
    println!("{model} undeployed");
    Ok(())
}
