//! `drover agents [list|remove ID]`.

use std::path::Path;

use clap::{Args, Subcommand};
use drover_protocol::msg::{OperatorRequest, OperatorResponse};
use drover_protocol::types::{AgentId, AgentInfo, format_labels, unix_ms};

use super::{age, table, with_client};
use crate::expect_response;

/// Prints every agent, as a table or JSON.
pub async fn list(data_dir: &Path, address: Option<&str>, json: bool) -> anyhow::Result<()> {
    let agents = with_client(data_dir, address, async |c| {
        expect_response!(
            c.request(&OperatorRequest::ListAgents).await?,
            OperatorResponse::Agents
        )
    })
    .await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&agents)?);
    } else {
        println!("{}", render(&agents, unix_ms()));
    }
    Ok(())
}

/// The agents table as `drover agents` prints it.
pub fn render(agents: &[AgentInfo], now_ms: u64) -> String {
    let rows: Vec<Vec<String>> = agents
        .iter()
        .map(|a| {
            vec![
                a.id.to_string(),
                a.hostname.clone(),
                a.status.to_string(),
                age(a.last_heartbeat_ms, now_ms),
                format_labels(&a.labels),
                a.version.clone(),
                a.address.clone(),
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "HOSTNAME",
            "STATUS",
            "LAST HEARTBEAT",
            "LABELS",
            "VERSION",
            "ADDRESS",
        ],
        &rows,
    )
}

/// Removes an agent; its certificate is refused from then on.
pub async fn remove(data_dir: &Path, address: Option<&str>, id: &str) -> anyhow::Result<()> {
    let request = OperatorRequest::RemoveAgent {
        id: AgentId(id.to_string()),
    };
    let removed = with_client(data_dir, address, async |c| {
        expect_response!(c.request(&request).await?, OperatorResponse::AgentRemoved)
    })
    .await?;
    println!("removed {removed}; its certificate is refused from now on");
    Ok(())
}

/// `drover agents [list|remove ID]`.
#[derive(Args)]
pub struct AgentsArgs {
    #[command(subcommand)]
    action: Option<AgentsCmd>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
pub enum AgentsCmd {
    /// List agents (the default).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove an agent: its certificate is refused from then on.
    Remove { id: String },
}

impl AgentsArgs {
    pub async fn run(self, ctx: &super::Ctx) -> anyhow::Result<()> {
        match self.action {
            None => list(&ctx.data_dir, ctx.address(), self.json).await,
            Some(AgentsCmd::List { json }) => list(&ctx.data_dir, ctx.address(), json).await,
            Some(AgentsCmd::Remove { id }) => remove(&ctx.data_dir, ctx.address(), &id).await,
        }
    }
}
