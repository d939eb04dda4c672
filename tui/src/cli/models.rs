//! `drover models list|show|promote|alias|unalias`: the model registry (`deploy` and
//! `undeploy` are in [`super::deployments`]).

use std::path::Path;

use clap::Subcommand;
use drover_protocol::msg::{OperatorRequest, OperatorResponse};
use drover_protocol::registry::{ModelRef, ModelVersion, Selector, Stage};
use drover_protocol::types::unix_ms;

use super::{age, table, with_client};
use crate::expect_response;

fn reference(text: &str) -> anyhow::Result<ModelRef> {
    text.parse().map_err(anyhow::Error::msg)
}

async fn one(
    data_dir: &Path,
    address: Option<&str>,
    request: OperatorRequest,
) -> anyhow::Result<ModelVersion> {
    Ok(*with_client(data_dir, address, async |c| {
        expect_response!(c.request(&request).await?, OperatorResponse::Model)
    })
    .await?)
}

/// Prints every model with its latest, staging and production versions.
pub async fn list(data_dir: &Path, address: Option<&str>, json: bool) -> anyhow::Result<()> {
    let models = with_client(data_dir, address, async |c| {
        expect_response!(
            c.request(&OperatorRequest::ListModels).await?,
            OperatorResponse::Models
        )
    })
    .await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&models)?);
        return Ok(());
    }
    let show = |v: Option<u32>| v.map_or_else(|| "-".into(), |v| format!("@{v}"));
    let rows: Vec<Vec<String>> = models
        .iter()
        .map(|m| {
            vec![
                m.name.clone(),
                format!("@{} ({})", m.latest, m.latest_semver),
                m.versions.to_string(),
                show(m.staging),
                show(m.production),
            ]
        })
        .collect();
    println!(
        "{}",
        table(
            &["MODEL", "LATEST", "VERSIONS", "STAGING", "PRODUCTION"],
            &rows
        )
    );
    Ok(())
}

/// The text `models show` prints.
pub fn render(v: &ModelVersion, now_ms: u64) -> String {
    let aliases = if v.aliases.is_empty() {
        "-".into()
    } else {
        v.aliases.join(", ")
    };
    let mut out = format!(
        "{}@{}  version {}  stage {}  aliases {}\nalgorithm {}  registered {}\nlineage: run {} <- dataset {} (blake3 {})\nmodel artifact blake3 {}\n",
        v.model,
        v.version,
        v.semver,
        v.stage,
        aliases,
        v.algorithm,
        age(Some(v.created_ms), now_ms),
        v.run_id,
        v.dataset,
        &v.dataset_hash[..v.dataset_hash.len().min(12)],
        v.artifact_hash
    );
    v.metrics.iter().for_each(|(k, m)| {
        let shown = drover_ml::metric::display(k, *m);
        out.push_str(&format!("  {k:<10} {shown}\n"))
    });
    if let Some(note) = &v.rollout {
        out.push_str(&format!("rollout: {note}\n"));
    }
    out
}

/// Prints one version with its lineage.
pub async fn show(
    data_dir: &Path,
    address: Option<&str>,
    text: &str,
    json: bool,
) -> anyhow::Result<()> {
    let version = one(
        data_dir,
        address,
        OperatorRequest::ShowModel(reference(text)?),
    )
    .await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&version)?);
    } else {
        print!("{}", render(&version, unix_ms()));
    }
    Ok(())
}

/// Moves a version to a stage.
pub async fn promote(
    data_dir: &Path,
    address: Option<&str>,
    (text, stage, force): (&str, &str, bool),
) -> anyhow::Result<()> {
    let stage = Stage::parse(stage).ok_or_else(|| {
        super::UsageError(format!(
            "--stage {stage:?}: use none, staging, production or archived"
        ))
    })?;
    let model = reference(text)?;
    if !matches!(model.selector, Selector::Number(_)) {
        return Err(super::UsageError(format!(
            "promote names one version: {}@N (see `drover models show {}`)",
            model.name, model.name
        ))
        .into());
    }
    let name = model.name.clone();
    let (before, version, after) = with_client(data_dir, address, async |c| {
        let versions = async || {
            expect_response!(
                c.request(&OperatorRequest::ListModelVersions {
                    model: name.clone()
                })
                .await?,
                OperatorResponse::ModelVersions
            )
        };
        let before = versions().await?;
        let request = match force {
            false => OperatorRequest::PromoteModel { model, stage },
            true => OperatorRequest::ForcePromoteModel { model, stage },
        };
        let promoted = *expect_response!(c.request(&request).await?, OperatorResponse::Model)?;
        Ok((before, promoted, versions().await?))
    })
    .await?;
    println!(
        "{}@{} is now {}",
        version.model, version.version, version.stage
    );
    for line in promotion_report(&before, &after) {
        println!("{line}");
    }
    Ok(())
}

/// What a promotion changed besides the promoted version: versions moved to another stage
/// (production archived by a new production), and aliases left on archived versions.
fn promotion_report(before: &[ModelVersion], after: &[ModelVersion]) -> Vec<String> {
    let mut lines = Vec::new();
    for was in before {
        if let Some(now) = after.iter().find(|v| v.version == was.version)
            && now.stage != was.stage
            && now.stage == Stage::Archived
        {
            lines.push(format!(
                "archived {}@{} (was {})",
                now.model, now.version, was.stage
            ));
        }
    }
    for v in after.iter().filter(|v| v.stage == Stage::Archived) {
        for alias in &v.aliases {
            lines.push(format!(
                "warning: alias {alias} points at archived {}@{}",
                v.model, v.version
            ));
        }
    }
    lines
}

/// Points an alias at a version.
pub async fn alias(
    data_dir: &Path,
    address: Option<&str>,
    text: &str,
    alias: &str,
) -> anyhow::Result<()> {
    let version = one(
        data_dir,
        address,
        OperatorRequest::SetAlias {
            model: reference(text)?,
            alias: alias.into(),
        },
    )
    .await?;
    println!(
        "{}@{alias} -> {}@{}",
        version.model, version.model, version.version
    );
    Ok(())
}

#[derive(Subcommand)]
pub enum ModelsCmd {
    /// Every model with its latest, staging and production versions.
    List {
        #[arg(long)]
        json: bool,
    },
    /// One version (NAME, NAME@N, NAME@ALIAS): stage, metrics, lineage.
    Show {
        reference: String,
        #[arg(long)]
        json: bool,
    },
    /// Move a version to a stage; promoting to production archives the previous one.
    Promote {
        reference: String,
        /// none, staging, production or archived.
        #[arg(long)]
        stage: String,
        /// Even while a rollout of the model runs, or for a version a rollout rolled back.
        #[arg(long)]
        force: bool,
    },
    /// Point an alias such as `champion` at a version.
    Alias { reference: String, alias: String },
    /// Take an alias off the version it points at.
    Unalias { model: String, alias: String },
    /// Serve one version (NAME@N) on the agents a label selector picks.
    Deploy {
        reference: String,
        /// Agents whose labels include these serve it.
        #[arg(long, default_value = "role=serve")]
        agents: String,
    },
    /// Stop serving a model everywhere.
    Undeploy { model: String },
}

impl ModelsCmd {
    pub async fn run(self, ctx: &super::Ctx) -> anyhow::Result<()> {
        let (data_dir, address) = (&ctx.data_dir, ctx.address());
        match self {
            ModelsCmd::List { json } => list(data_dir, address, json).await,
            ModelsCmd::Show { reference, json } => show(data_dir, address, &reference, json).await,
            ModelsCmd::Promote {
                reference,
                stage,
                force,
            } => promote(data_dir, address, (&reference, &stage, force)).await,
            ModelsCmd::Alias { reference, alias } => {
                self::alias(data_dir, address, &reference, &alias).await
            }
            ModelsCmd::Deploy { reference, agents } => {
                super::deployments::deploy(ctx, &reference, &agents).await
            }
            ModelsCmd::Undeploy { model } => super::deployments::undeploy(ctx, &model).await,
            ModelsCmd::Unalias { model, alias } => {
                let version = one(
                    data_dir,
                    address,
                    OperatorRequest::RemoveAlias {
                        model: model.clone(),
                        alias: alias.clone(),
                    },
                )
                .await?;
                println!(
                    "{model}@{alias} removed (it pointed at {model}@{})",
                    version.version
                );
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(n: u32, stage: Stage, aliases: &[&str]) -> ModelVersion {
        ModelVersion {
            model: "churn".into(),
            version: n,
            semver: format!("1.{n}.0"),
            stage,
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
            run_id: format!("run-{n}"),
            dataset: "churn@1".into(),
            dataset_hash: String::new(),
            artifact_hash: String::new(),
            algorithm: "gaussian_nb".into(),
            metrics: Default::default(),
            created_ms: 0,
            rollout: None,
        }
    }

    #[test]
    fn a_promotion_reports_what_it_archived_and_aliases_left_behind() {
        let before = [
            version(1, Stage::Production, &["champion"]),
            version(2, Stage::None, &[]),
        ];
        let after = [
            version(1, Stage::Archived, &["champion"]),
            version(2, Stage::Production, &[]),
        ];
        assert_eq!(
            promotion_report(&before, &after),
            [
                "archived churn@1 (was production)",
                "warning: alias champion points at archived churn@1"
            ]
        );
        assert!(
            promotion_report(&after, &after).len() == 1,
            "only the alias warning"
        );
    }
}
