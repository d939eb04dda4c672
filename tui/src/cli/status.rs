//! `drover status`: is a coordinator running here, where, and how many agents are ready.

use std::path::Path;

use clap::Args;
use drover_protocol::msg::{OperatorRequest, OperatorResponse};

use super::with_client;
use crate::expect_response;

/// Prints the coordinator's status.
pub async fn show(data_dir: &Path, address: Option<&str>, json: bool) -> anyhow::Result<()> {
    let status = with_client(data_dir, address, async |c| {
        expect_response!(
            c.request(&OperatorRequest::Status).await?,
            OperatorResponse::Status
        )
    })
    .await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        println!(
            "coordinator {} up {}s\nquic  {}\nhttp  {}\nagents {} ready of {}",
            status.version,
            status.uptime_secs,
            status.quic_addr,
            status.http_addr,
            status.agents_ready,
            status.agents_total
        );
    }
    Ok(())
}

/// `drover status`: the running coordinator's addresses and fleet size.
#[derive(Args)]
pub struct StatusArgs {
    #[arg(long)]
    json: bool,
}

impl StatusArgs {
    pub async fn run(self, ctx: &super::Ctx) -> anyhow::Result<()> {
        show(&ctx.data_dir, ctx.address(), self.json).await
    }
}
