//! `drover schedules list|remove`: repeating training specs.

use std::path::Path;

use clap::Subcommand;
use drover_protocol::msg::{OperatorRequest, OperatorResponse};
use drover_protocol::types::unix_ms;

use super::{age, table, with_client};
use crate::expect_response;

/// Prints every schedule with when it last ran and runs next.
pub async fn list(data_dir: &Path, address: Option<&str>, json: bool) -> anyhow::Result<()> {
    let schedules = with_client(data_dir, address, async |c| {
        expect_response!(
            c.request(&OperatorRequest::ListSchedules).await?,
            OperatorResponse::Schedules
        )
    })
    .await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&schedules)?);
        return Ok(());
    }
    let now = unix_ms();
    let rows: Vec<Vec<String>> = schedules
        .iter()
        .map(|s| {
            let next = s.next_run_ms.map_or_else(
                || "-".into(),
                |t| format!("in {}s", t.saturating_sub(now) / 1000),
            );
            let trigger = match (&s.cron, s.on_new_data) {
                (Some(cron), true) => format!("cron {cron}; new data"),
                (Some(cron), false) => format!("cron {cron}"),
                (None, _) => "new data".into(),
            };
            vec![
                s.id.clone(),
                s.model.clone(),
                s.dataset.clone(),
                trigger,
                next,
                s.last_run_id.clone().map_or_else(
                    || "-".into(),
                    |r| format!("{r} ({})", age(s.last_run_ms, now)),
                ),
            ]
        })
        .collect();
    println!(
        "{}",
        table(
            &[
                "SCHEDULE", "MODEL", "DATASET", "TRIGGER", "NEXT", "LAST RUN"
            ],
            &rows
        )
    );
    Ok(())
}

/// Deletes a schedule; runs it already queued are not touched.
pub async fn remove(data_dir: &Path, address: Option<&str>, id: &str) -> anyhow::Result<()> {
    let request = OperatorRequest::RemoveSchedule { id: id.into() };
    let id = with_client(data_dir, address, async |c| {
        expect_response!(
            c.request(&request).await?,
            OperatorResponse::ScheduleRemoved
        )
    })
    .await?;
    println!("removed {id}");
    Ok(())
}

#[derive(Subcommand)]
pub enum SchedulesCmd {
    /// Every schedule, its trigger, next and last run.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Stop a schedule.
    Remove { id: String },
}

impl SchedulesCmd {
    pub async fn run(self, ctx: &super::Ctx) -> anyhow::Result<()> {
        match self {
            SchedulesCmd::List { json } => list(&ctx.data_dir, ctx.address(), json).await,
            SchedulesCmd::Remove { id } => remove(&ctx.data_dir, ctx.address(), &id).await,
        }
    }
}
