//! `drover runs compare A B [C..]` and `drover runs reproduce ID`.

use std::path::Path;

use anyhow::bail;
use drover_protocol::msg::{OperatorRequest, OperatorResponse};
use drover_protocol::run::RunDetail;

use super::table;
use crate::client::OperatorClient;
use crate::expect_response;
use crate::present::compare::rows;

async fn fetch(client: &OperatorClient, id: &str) -> anyhow::Result<RunDetail> {
    Ok(*expect_response!(
        client
            .request(&OperatorRequest::ShowRun { id: id.into() })
            .await?,
        OperatorResponse::Run
    )?)
}

/// The comparison as aligned text.
pub fn render(runs: &[RunDetail]) -> String {
    let (headers, rows) = rows(runs);
    let refs: Vec<&str> = headers.iter().map(String::as_str).collect();
    table(&refs, &rows)
}

/// Prints runs side by side.
pub async fn compare(
    data_dir: &Path,
    address: Option<&str>,
    ids: &[String],
    json: bool,
) -> anyhow::Result<()> {
    if ids.len() < 2 {
        bail!("compare needs at least two runs");
    }
    let runs = super::with_client(data_dir, address, async |c| {
        let mut runs = Vec::new();
        for id in ids {
            runs.push(fetch(c, id).await?);
        }
        Ok(runs)
    })
    .await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&runs)?);
    } else {
        println!("{}", render(&runs));
    }
    Ok(())
}

/// Retrains run `id` from its recorded lineage (same spec, same dataset version, same seed)
/// and checks that the model artifact is identical.
pub async fn reproduce(data_dir: &Path, address: Option<&str>, id: &str) -> anyhow::Result<()> {
    super::with_client(data_dir, address, async |c| {
        let original = fetch(c, id).await?;
        let Some(expected) = original.artifact_hash.clone() else {
            bail!(
                "run {id} has no model artifact to reproduce ({})",
                original.summary.status
            );
        };
        let Some(mut spec) = original.spec.clone() else {
            bail!(
                "run {id} was logged through the MLflow API; drover has no spec to retrain it from"
            );
        };
        spec.dataset = original.summary.dataset.clone();
        let events = c.subscribe().await?;
        let queued = expect_response!(
            c.request(&OperatorRequest::SubmitRun(Box::new(spec)))
                .await?,
            OperatorResponse::RunQueued
        )?;
        eprintln!("reproducing {id} as {} on {}", queued.id, queued.dataset);
        let rerun = super::follow::wait_for_end(c, events, &queued).await?;
        match rerun.artifact_hash {
            Some(hash) if hash == expected => {
                println!(
                    "{} reproduced {id}: the model artifact is identical (blake3 {hash})",
                    queued.id
                );
                Ok(())
            }
            Some(hash) => bail!(
                "{} did not reproduce {id}: artifact {hash} differs from {expected}",
                queued.id
            ),
            None => bail!(
                "{} ended {} without a model",
                queued.id,
                rerun.summary.status
            ),
        }
    })
    .await
}
