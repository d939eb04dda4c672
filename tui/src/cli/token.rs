//! `drover token create`: a join token for new agents.

use std::path::Path;
use std::time::Duration;

use clap::Subcommand;
use drover_protocol::msg::{OperatorRequest, OperatorResponse};
use drover_protocol::types::parse_labels;

use super::with_client;
use crate::expect_response;

/// Creates a token valid for `ttl` and `uses` enrollments, and prints it.
pub async fn create(
    data_dir: &Path,
    address: Option<&str>,
    ttl: Duration,
    uses: u32,
    labels: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    if ttl < Duration::from_secs(1) {
        anyhow::bail!(
            "--ttl {} is too short: a token lives at least 1s",
            humantime::format_duration(ttl)
        );
    }
    // Tokens live whole seconds; the lifetime printed is the one the token has.
    let ttl = Duration::from_secs(ttl.as_secs());
    let request = match labels {
        Some(text) => OperatorRequest::CreateLabelledToken {
            ttl_secs: ttl.as_secs(),
            uses,
            labels: parse_labels(text).map_err(|e| anyhow::anyhow!("--labels: {e}"))?,
        },
        None => OperatorRequest::CreateToken {
            ttl_secs: ttl.as_secs(),
            uses,
        },
    };
    let issued = with_client(data_dir, address, async |c| {
        expect_response!(c.request(&request).await?, OperatorResponse::Token)
    })
    .await?;
    if json {
        println!("{}", serde_json::to_string(&issued)?);
    } else {
        println!("{}", issued.token);
        eprintln!(
            "token {} allows {} join(s) within {}; on the agent run: drover-agent join <token>",
            issued.token_id,
            issued.uses,
            humantime::format_duration(ttl)
        );
    }
    Ok(())
}

#[derive(Subcommand)]
pub enum TokenCmd {
    /// Create a join token.
    Create {
        /// How long the token stays valid.
        #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
        ttl: Duration,
        /// How many agents may join with it.
        #[arg(long, default_value_t = 1)]
        uses: u32,
        /// Labels every agent joining with it is granted for good, e.g. `role=serve`. Without
        /// them the labels given to `drover-agent join --labels` are fixed at enrollment, or
        /// else those of the agent's first connection; after that only `drover agents label`
        /// changes them.
        #[arg(long)]
        labels: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

impl TokenCmd {
    pub async fn run(self, ctx: &super::Ctx) -> anyhow::Result<()> {
        match self {
            TokenCmd::Create {
                ttl,
                uses,
                labels,
                json,
            } => {
                create(
                    &ctx.data_dir,
                    ctx.address(),
                    ttl,
                    uses,
                    labels.as_deref(),
                    json,
                )
                .await
            }
        }
    }
}
