//! `drover drift`: the drift of a served model (`status`) and the offline comparison of two
//! CSV files (`compare`), with the statistics the coordinator computes live.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use drover_ml::drift::compare::{ColumnComparison, compare};
use drover_ml::lines::{LineLimit, LineTooLong};
use drover_ml::table::{Table, parse};
use serde::Serialize;

use drover_protocol::drift::{Alert, DriftReport, Status};
use drover_protocol::msg::{OperatorRequest, OperatorResponse};

use super::{Ctx, UsageError, emit, with_client};
use crate::expect_response;

/// `drover drift ...`.
#[derive(Subcommand)]
pub enum DriftCmd {
    /// Compare CUR.csv with REF.csv column by column: KS (with its p-value), PSI,
    /// Wasserstein, Jensen–Shannon and chi-squared (with its p-value).
    Compare {
        reference: PathBuf,
        current: PathBuf,
        /// Only these columns (comma-separated); every column when omitted, and the two
        /// files must then have the same ones.
        #[arg(long, value_delimiter = ',')]
        columns: Vec<String>,
        /// Exit with status 1 when any column drifted (for CI pipelines).
        #[arg(long)]
        fail_on_drift: bool,
        #[arg(long)]
        json: bool,
    },
    /// The latest drift evaluation of each served version of MODEL (or of every model):
    /// per column the method, score, threshold, values and status, worst first.
    Status {
        model: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

/// `drover alerts`: the newest alerts, firing or resolved.
#[derive(clap::Args)]
pub struct AlertsArgs {
    /// Only those firing now.
    #[arg(long)]
    firing: bool,
    #[arg(long, default_value_t = 50)]
    limit: u32,
    #[arg(long)]
    json: bool,
}

impl AlertsArgs {
    pub async fn run(self, ctx: &Ctx) -> anyhow::Result<()> {
        let request = OperatorRequest::ListAlerts {
            firing_only: self.firing,
            limit: self.limit,
        };
        let alerts = with_client(&ctx.data_dir, ctx.address(), async |client| {
            expect_response!(client.request(&request).await?, OperatorResponse::Alerts)
        })
        .await?;
        emit(&alerts, self.json, |a: &Vec<Alert>| print_alerts(a))
    }
}

fn print_alerts(alerts: &[Alert]) {
    if alerts.is_empty() {
        println!("no alerts");
        return;
    }
    let rows: Vec<Vec<String>> = alerts
        .iter()
        .map(|a| {
            vec![
                a.id.to_string(),
                if a.firing { "FIRING" } else { "resolved" }.into(),
                a.kind.to_string(),
                format!(
                    "{}{}",
                    a.subject,
                    a.version.map(|v| format!("@{v}")).unwrap_or_default()
                ),
                a.column.clone().unwrap_or_else(|| "-".into()),
                super::age(Some(a.fired_ms), drover_protocol::types::unix_ms()),
                a.action.to_string(),
                a.detail.clone(),
            ]
        })
        .collect();
    println!(
        "{}",
        super::table(
            &[
                "ID", "STATE", "KIND", "SUBJECT", "COLUMN", "FIRED", "ACTION", "DETAIL"
            ],
            &rows
        )
    );
}

fn print_status(reports: &[DriftReport]) {
    if reports.is_empty() {
        println!(
            "no drift evaluated yet: deploy a model trained by this drover and send it traffic"
        );
        return;
    }
    for r in reports {
        let drifted = r
            .columns
            .iter()
            .filter(|c| c.status == Status::Drifted)
            .count();
        println!(
            "{}@{}: {drifted} of {} columns drifted (evaluated {})",
            r.model,
            r.version,
            r.columns.len(),
            super::age(Some(r.at_ms), drover_protocol::types::unix_ms())
        );
        let rows: Vec<Vec<String>> = r
            .columns
            .iter()
            .map(|c| {
                vec![
                    c.column.clone(),
                    c.status.to_string(),
                    c.method.to_string(),
                    format!("{:.4}", c.score),
                    format!("{:.4}", c.threshold),
                    c.samples.to_string(),
                    format!("{:.1}%", c.null_share * 100.0),
                    format!("{:.1}%", c.invalid_share * 100.0),
                    c.reason.clone(),
                ]
            })
            .collect();
        println!(
            "{}\n",
            super::table(
                &[
                    "COLUMN",
                    "STATUS",
                    "METHOD",
                    "SCORE",
                    "THRESHOLD",
                    "VALUES",
                    "MISSING",
                    "INVALID",
                    "WHY"
                ],
                &rows
            )
        );
        if !r.importance.is_empty() {
            println!(
                "feature importance (accuracy drop when shuffled), training against {} labelled live rows:",
                r.importance_rows
            );
            let mut ranked: Vec<_> = r.importance.iter().collect();
            ranked.sort_by_key(|i| i.training_rank);
            let rows: Vec<Vec<String>> = ranked
                .iter()
                .map(|i| {
                    vec![
                        i.column.clone(),
                        format!("{:.4}", i.training),
                        i.training_rank.to_string(),
                        format!("{:.4}", i.live),
                        i.live_rank.to_string(),
                    ]
                })
                .collect();
            println!(
                "{}\n",
                super::table(&["COLUMN", "TRAINING", "RANK", "LIVE", "RANK"], &rows)
            );
        }
    }
}

/// The comparison of two files.
#[derive(Debug, Serialize)]
pub struct Comparison {
    pub reference: String,
    pub current: String,
    pub drifted: usize,
    pub columns: Vec<ColumnComparison>,
}

impl DriftCmd {
    pub async fn run(self, ctx: &Ctx) -> anyhow::Result<()> {
        match self {
            DriftCmd::Compare {
                reference,
                current,
                columns,
                fail_on_drift,
                json,
            } => {
                let report = compare_files(&reference, &current, &columns)?;
                emit(&report, json, print)?;
                if fail_on_drift && report.drifted > 0 {
                    std::process::exit(1);
                }
                Ok(())
            }
            DriftCmd::Status { model, json } => {
                let request = OperatorRequest::DriftStatus { model };
                let reports = with_client(&ctx.data_dir, ctx.address(), async |client| {
                    expect_response!(client.request(&request).await?, OperatorResponse::Drift)
                })
                .await?;
                emit(&reports, json, |r: &Vec<DriftReport>| print_status(r))
            }
        }
    }
}

/// Reads both files (in parallel) and compares them.
pub fn compare_files(
    reference: &Path,
    current: &Path,
    columns: &[String],
) -> anyhow::Result<Comparison> {
    let (r, c) = std::thread::scope(|scope| {
        let r = scope.spawn(|| read(reference));
        let c = read(current);
        (
            r.join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("reading panicked"))),
            c,
        )
    });
    let (r, c) = (r?, c?);
    let columns = compare(&r, &c, columns).map_err(|e| UsageError(e.to_string()))?;
    Ok(Comparison {
        reference: reference.display().to_string(),
        current: current.display().to_string(),
        drifted: columns.iter().filter(|c| c.drifted).count(),
        columns,
    })
}

/// Reads a CSV file, refusing it at the first line longer than
/// [`drover_ml::lines::MAX_LINE`] (so a file with
/// no newline is never read whole).
fn read(path: &Path) -> anyhow::Result<Table> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut bytes = Vec::new();
    if let Err(e) = LineLimit::new(file).read_to_end(&mut bytes) {
        return Err(
            match e.get_ref().and_then(|i| i.downcast_ref::<LineTooLong>()) {
                Some(long) => UsageError(format!("{}: {long}", path.display())).into(),
                None => anyhow::Error::new(e).context(format!("cannot read {}", path.display())),
            },
        );
    }
    parse(&bytes).map_err(|e| UsageError(format!("{}: {e}", path.display())).into())
}

fn print(report: &Comparison) {
    let rows: Vec<Vec<String>> = report
        .columns
        .iter()
        .map(|c| {
            let stat = |m| {
                c.statistics
                    .iter()
                    .find(|s| s.method == m)
                    .map_or("-".to_string(), |s| match s.p_value {
                        Some(p) => format!("{:.4} (p {})", s.value, p_text(p)),
                        None => format!("{:.4}", s.value),
                    })
            };
            use drover_protocol::drift::Method;
            vec![
                c.column.clone(),
                if c.numeric { "numeric" } else { "categorical" }.into(),
                format!("{}/{}", c.reference, c.current),
                if c.drifted { "DRIFT" } else { "ok" }.into(),
                c.method.to_string(),
                stat(Method::Ks),
                stat(Method::Psi),
                stat(Method::Wasserstein),
                stat(Method::JensenShannon),
                stat(Method::ChiSquared),
                if c.unseen > 0 {
                    c.unseen.to_string()
                } else {
                    "-".into()
                },
            ]
        })
        .collect();
    println!(
        "{}",
        super::table(
            &[
                "COLUMN",
                "TYPE",
                "VALUES",
                "DRIFT",
                "BY",
                "KS",
                "PSI",
                "WASSERSTEIN",
                "JS",
                "CHI2",
                "UNSEEN"
            ],
            &rows
        )
    );
    println!(
        "\n{} of {} columns drifted ({} against {})",
        report.drifted,
        report.columns.len(),
        report.current,
        report.reference
    );
}

fn p_text(p: f64) -> String {
    if p < 1e-4 {
        "<0.0001".into()
    } else {
        format!("{p:.4}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_with_a_line_past_the_limit_is_refused_without_reading_it_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("long.csv");
        let mut text = b"a,b\n1,2\n".to_vec();
        text.extend(std::iter::repeat_n(b'7', drover_ml::lines::MAX_LINE + 1));
        text.extend(b"\n3,4\n");
        std::fs::write(&path, &text).expect("write");
        let error = read(&path).expect_err("refused").to_string();
        assert!(error.contains("line 3 is longer than"), "{error}");
        let fine = dir.path().join("fine.csv");
        std::fs::write(&fine, "a,b\n1,2\n3,4\n").expect("write");
        assert_eq!(read(&fine).expect("reads").rows, 2);
    }
}
