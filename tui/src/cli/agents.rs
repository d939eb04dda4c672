//! `drover agents [list|remove ID|label ID k=v.. k-..]`.

use std::path::Path;

use clap::{Args, Subcommand};
use drover_protocol::msg::{OperatorRequest, OperatorResponse};
use drover_protocol::types::{AgentId, AgentInfo, Labels, format_labels, parse_labels, unix_ms};

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
                labels_cell(a),
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

/// Granted labels, then any claimed beyond them, marked as not granted.
fn labels_cell(a: &AgentInfo) -> String {
    let granted = format_labels(&a.labels);
    if a.claimed.is_empty() {
        return granted;
    }
    format!(
        "{granted} (claimed, not granted: {})",
        format_labels(&a.claimed)
    )
}

/// Grants agent `id` the labels `k=v` of `changes` and takes away those written `k-`.
pub async fn label(
    data_dir: &Path,
    address: Option<&str>,
    id: &str,
    changes: &[String],
) -> anyhow::Result<()> {
    let mut set = Labels::new();
    let mut remove = Vec::new();
    for change in changes {
        match change.strip_suffix('-') {
            Some(key) if !change.contains('=') => remove.push(key.to_string()),
            _ => set.extend(parse_labels(change).map_err(|e| anyhow::anyhow!("{change}: {e}"))?),
        }
    }
    if set.is_empty() && remove.is_empty() {
        anyhow::bail!("name labels to grant (key=value) or to take away (key-)");
    }
    let request = OperatorRequest::LabelAgent {
        id: AgentId(id.to_string()),
        set,
        remove,
    };
    let agent = with_client(data_dir, address, async |c| {
        expect_response!(c.request(&request).await?, OperatorResponse::AgentLabelled)
    })
    .await?;
    println!("{} is granted {}", agent.id, format_labels(&agent.labels));
    Ok(())
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
    /// Grant an agent labels, or take them away: the only way its labels change once
    /// granted (what an agent claims beyond them is ignored).
    ///
    /// Example: drover agents label ag-1a2b3c role=serve zone- (grants role=serve, takes zone away)
    Label {
        /// The agent's id (or a unique prefix of it).
        id: String,
        /// `key=value` to grant, `key-` to take away.
        #[arg(required = true)]
        changes: Vec<String>,
    },
}

impl AgentsArgs {
    pub async fn run(self, ctx: &super::Ctx) -> anyhow::Result<()> {
        match self.action {
            None => list(&ctx.data_dir, ctx.address(), self.json).await,
            Some(AgentsCmd::List { json }) => list(&ctx.data_dir, ctx.address(), json).await,
            Some(AgentsCmd::Remove { id }) => remove(&ctx.data_dir, ctx.address(), &id).await,
            Some(AgentsCmd::Label { id, changes }) => {
                label(&ctx.data_dir, ctx.address(), &id, &changes).await
            }
        }
    }
}
