//! `drover data add|list|show`: versioned datasets in the coordinator.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::Subcommand;
use drover_protocol::data::{DatasetRef, DatasetVersion};
use drover_protocol::msg::{OperatorRequest, OperatorResponse};
use drover_protocol::types::unix_ms;

use super::{age, table, with_client};
use crate::expect_response;
use crate::present::size;

/// Uploads `file` as the next version of `name` and prints the version and its schema changes.
pub async fn add(
    data_dir: &Path,
    address: Option<&str>,
    file: &Path,
    name: &str,
    json: bool,
) -> anyhow::Result<()> {
    drover_protocol::data::version::validate_name(name).map_err(anyhow::Error::msg)?;
    anyhow::ensure!(file.is_file(), "{} is not a readable file", file.display());
    let show_progress = std::io::stderr().is_terminal();
    let mut progress = |sent: u64, total: u64| {
        if show_progress {
            eprint!(
                "\ruploading {:>3}% ({} of {})",
                sent * 100 / total.max(1),
                size(sent),
                size(total)
            );
            let _ = std::io::stderr().flush();
        }
    };
    let response = with_client(data_dir, address, async |c| {
        c.upload_dataset(name, file, &mut progress).await
    })
    .await;
    if show_progress {
        eprintln!();
    }
    let added = expect_response!(response?, OperatorResponse::DatasetAdded)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&added)?);
        return Ok(());
    }
    let v = &added.version;
    if added.unchanged {
        println!(
            "{}@{} unchanged: the same content is already the latest version ({})",
            v.name,
            v.version,
            short(&v.hash)
        );
        return Ok(());
    }
    println!(
        "{}@{}  {} rows, {} columns, {}, blake3 {}",
        v.name,
        v.version,
        v.rows,
        v.schema.columns.len(),
        size(v.size_bytes),
        short(&v.hash)
    );
    if v.version > 1 {
        if v.changes.is_empty() {
            println!("schema unchanged since {}@{}", v.name, v.version - 1);
        } else {
            println!("schema changes since {}@{}:", v.name, v.version - 1);
            v.changes.iter().for_each(|c| println!("  {c}"));
        }
    }
    Ok(())
}

/// Prints every dataset with its latest version.
pub async fn list(data_dir: &Path, address: Option<&str>, json: bool) -> anyhow::Result<()> {
    let datasets = with_client(data_dir, address, async |c| {
        expect_response!(
            c.request(&OperatorRequest::ListDatasets).await?,
            OperatorResponse::Datasets
        )
    })
    .await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&datasets)?);
        return Ok(());
    }
    let now = unix_ms();
    let rows: Vec<Vec<String>> = datasets
        .iter()
        .map(|d| {
            vec![
                format!("{}@{}", d.name, d.latest),
                d.versions.to_string(),
                d.rows.to_string(),
                d.columns.to_string(),
                size(d.size_bytes),
                short(&d.hash).to_string(),
                age(Some(d.created_ms), now),
            ]
        })
        .collect();
    println!(
        "{}",
        table(
            &[
                "DATASET", "VERSIONS", "ROWS", "COLUMNS", "SIZE", "BLAKE3", "ADDED"
            ],
            &rows
        )
    );
    Ok(())
}

/// Prints one version: where it came from, its schema changes and every column's profile.
pub async fn show(
    data_dir: &Path,
    address: Option<&str>,
    reference: &str,
    json: bool,
) -> anyhow::Result<()> {
    let reference: DatasetRef = reference.parse().map_err(anyhow::Error::msg)?;
    let request = OperatorRequest::ShowDataset(reference);
    let version = with_client(data_dir, address, async |c| {
        expect_response!(c.request(&request).await?, OperatorResponse::Dataset)
    })
    .await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&version)?);
    } else {
        println!("{}", render(&version, unix_ms()));
    }
    Ok(())
}

/// The text `data show` prints.
pub fn render(v: &DatasetVersion, now_ms: u64) -> String {
    let mut out = format!(
        "{}@{}  {} rows, {}, from {}, added {}\nblake3 {}\n",
        v.name,
        v.version,
        v.rows,
        size(v.size_bytes),
        v.source,
        age(Some(v.created_ms), now_ms),
        v.hash
    );
    if !v.changes.is_empty() {
        out.push_str(&format!("schema changes since @{}:\n", v.version - 1));
        v.changes
            .iter()
            .for_each(|c| out.push_str(&format!("  {c}\n")));
    }
    let rows: Vec<Vec<String>> = v
        .profile
        .columns
        .iter()
        .map(|c| {
            vec![
                c.name.clone(),
                c.kind.to_string(),
                c.nulls.to_string(),
                crate::present::dataset::summary(c),
            ]
        })
        .collect();
    out.push('\n');
    out.push_str(&table(&["COLUMN", "TYPE", "NULLS", "PROFILE"], &rows));
    out
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}

#[derive(Subcommand)]
pub enum DataCmd {
    /// Validate a CSV, store it by content hash and record it as the next version of NAME.
    Add {
        file: PathBuf,
        #[arg(long)]
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Every dataset with its latest version.
    List {
        #[arg(long)]
        json: bool,
    },
    /// One version (NAME, NAME@latest or NAME@N): schema, changes and column profiles.
    Show {
        reference: String,
        #[arg(long)]
        json: bool,
    },
    /// Write a data set that ships with drover as CSV to stdout (winequality).
    Sample { name: String },
    /// Write a synthetic table as CSV to stdout.
    Synth {
        /// The generator: churn.
        #[arg(value_parser = ["churn"])]
        kind: String,
        #[arg(long, default_value_t = 10_000)]
        rows: usize,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Shift feature distributions (0 = reference, 1 = strongly drifted).
        #[arg(long, default_value_t = 0.0)]
        drift: f64,
    },
}

impl DataCmd {
    pub async fn run(self, ctx: &super::Ctx) -> anyhow::Result<()> {
        let (data_dir, address) = (&ctx.data_dir, ctx.address());
        match self {
            DataCmd::Add { file, name, json } => add(data_dir, address, &file, &name, json).await,
            DataCmd::List { json } => list(data_dir, address, json).await,
            DataCmd::Show { reference, json } => show(data_dir, address, &reference, json).await,
            DataCmd::Sample { name } => super::sample::write(&name, &mut std::io::stdout().lock()),
            DataCmd::Synth {
                kind: _,
                rows,
                seed,
                drift,
            } => {
                anyhow::ensure!(
                    (0.0..=5.0).contains(&drift),
                    "--drift must be between 0 and 5"
                );
                let options = super::synth::ChurnOptions { rows, seed, drift };
                super::synth::churn(
                    options,
                    &mut std::io::BufWriter::new(std::io::stdout().lock()),
                )
            }
        }
    }
}
