//! `drover events [--follow]`: what happened in the fleet, newest last.

use std::path::Path;

use clap::Args;
use drover_protocol::msg::{EventRecord, OperatorRequest, OperatorResponse};
use tokio_util::sync::CancellationToken;

use super::with_client;
use crate::expect_response;

/// One event as a line of text or JSON.
pub fn line(record: &EventRecord, json: bool) -> String {
    if json {
        serde_json::json!({
            "seq": record.seq,
            "at_ms": record.at_ms,
            "kind": record.event.kind(),
            "message": record.event.describe(),
            "event": record.event,
        })
        .to_string()
    } else {
        format!(
            "{:>6}  {:<16}  {}",
            record.seq,
            record.event.kind(),
            crate::present::printable(&record.event.describe())
        )
    }
}

/// Prints the last `limit` events; with `follow`, keeps printing new ones until `shutdown`.
pub async fn show(
    data_dir: &Path,
    address: Option<&str>,
    limit: u32,
    follow: bool,
    json: bool,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    with_client(data_dir, address, async |c| {
        let mut stream = if follow {
            Some(c.subscribe().await?)
        } else {
            None
        };
        let events = expect_response!(
            c.request(&OperatorRequest::ListEvents { limit }).await?,
            OperatorResponse::Events
        )?;
        let last = events.last().map_or(0, |e| e.seq);
        for record in &events {
            println!("{}", line(record, json));
        }
        let Some(stream) = stream.as_mut() else {
            return Ok(());
        };
        loop {
            let next = tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                next = stream.recv::<OperatorResponse>() => next?,
            };
            match next {
                Some(OperatorResponse::Event(record)) if record.seq > last => {
                    println!("{}", line(&record, json))
                }
                Some(_) => {}
                None => anyhow::bail!("the coordinator closed the event stream"),
            }
        }
    })
    .await
}

/// `drover events [--follow]`: fleet events.
#[derive(Args)]
pub struct EventsArgs {
    /// Keep printing new events until interrupted.
    #[arg(long)]
    follow: bool,
    /// How many past events to show.
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// Print one JSON object per line.
    #[arg(long)]
    json: bool,
}

impl EventsArgs {
    pub async fn run(self, ctx: &super::Ctx, stop: CancellationToken) -> anyhow::Result<()> {
        show(
            &ctx.data_dir,
            ctx.address(),
            self.limit,
            self.follow,
            self.json,
            stop,
        )
        .await
    }
}
