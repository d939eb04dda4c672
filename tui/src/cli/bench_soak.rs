//! `drover bench soak`: a real `drover-agent run` serving two 20-feature logistic regressions,
//! deployed by a real coordinator process, loaded at saturation for a long time while its
//! resident memory is sampled. The bars: under 50 MiB, flat, and no failed request.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;
use serde_json::json;

use super::bench_proc::{Killed, joined_agent, start_coordinator, status_mib};
use super::load::{Format, Load, LoadReport, Target, drive, prepare};

/// Most resident memory the issue allows the serving agent, MiB.
const RSS_BUDGET_MIB: f64 = 50.0;
/// The models the agent serves.
const MODELS: [&str; 2] = ["bench-a", "bench-b"];

/// One stretch of load and the agent's memory after it.
#[derive(Debug, Serialize)]
pub struct Sample {
    pub seconds: f64,
    pub rss_mib: f64,
    pub requests: u64,
    pub requests_per_second: f64,
    pub failed: u64,
}

/// What the soak measured.
#[derive(Debug, Serialize)]
pub struct SoakReport {
    pub concurrency: usize,
    /// The agent before any load, with both models loaded.
    pub loaded_rss_mib: f64,
    pub samples: Vec<Sample>,
    pub peak_rss_mib: f64,
    pub requests: u64,
    pub failed: u64,
}

/// Runs `drover` with `args`, failing with its stderr.
fn drover(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(std::env::current_exe()?).args(args).output()?;
    anyhow::ensure!(
        out.status.success(),
        "drover {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Trains both models on a synthetic table, then joins and starts a serving agent and deploys
/// them to it; returns the agent once it answers for both.
async fn serving_agent(tmp: &Path, data: &str, http: &str) -> anyhow::Result<Killed> {
    let csv = tmp.join("bench.csv");
    std::fs::write(&csv, super::bench_train::synthetic(5_000, 20))?;
    let csv_s = csv.to_str().context("UTF-8")?;
    drover(&["data", "add", csv_s, "--name", "bench", "--data-dir", data])?;
    let token = drover(&["token", "create", "--data-dir", data])?;
    let agent = joined_agent(
        token.trim(),
        &tmp.join("agent"),
        http,
        &tmp.join("agent.log"),
    )?;
    for model in MODELS {
        let spec = tmp.join(format!("{model}.toml"));
        std::fs::write(
            &spec,
            format!(
                "experiment = \"soak\"\nmodel = \"{model}\"\ndataset = \"bench@latest\"\ntarget = \"label\"\ntask = \"classification\"\nalgorithm = \"logistic_regression\"\n"
            ),
        )?;
        eprintln!("training {model}");
        drover(&[
            "train",
            spec.to_str().context("UTF-8")?,
            "--follow",
            "--data-dir",
            data,
        ])?;
        drover(&[
            "models",
            "deploy",
            &format!("{model}@1"),
            "--data-dir",
            data,
        ])?;
    }
    let started = Instant::now();
    for model in MODELS {
        let path = format!("/v2/models/{model}/ready");
        while !ready(http, &path).await {
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(60),
                "the agent did not load {model}; see {}",
                tmp.join("agent.log").display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(agent)
}

/// Whether `GET path` on `address` answers 200.
async fn ready(address: &str, path: &str) -> bool {
    let Ok(mut stream) = tokio::net::TcpStream::connect(address).await else {
        return false;
    };
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer).await;
    answer.starts_with("HTTP/1.1 200")
}

/// Runs the soak: `duration` of load at `concurrency`, memory sampled every `every`.
pub async fn run(
    concurrency: usize,
    duration: Duration,
    every: Duration,
) -> anyhow::Result<SoakReport> {
    let tmp = std::env::temp_dir().join(format!("drover-soak-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let data = tmp.join("coordinator");
    let coordinator = start_coordinator(&tmp, &data).await?;
    let data_s = data.to_str().context("UTF-8")?.to_string();
    let http = format!("127.0.0.1:{}", super::free_port()?);
    let agent = serving_agent(&tmp, &data_s, &http).await?;
    let pid = agent.0.id();
    let loaded_rss_mib = status_mib(pid, "VmRSS")?;
    let inputs: Vec<(String, bool)> = (0..20).map(|i| (format!("x{i}"), true)).collect();
    let row: Vec<serde_json::Value> = (0..20).map(|i| json!(f64::from(i) / 10.0 - 1.0)).collect();
    let target = Arc::new(Target::plain(http.clone())?);
    let requests: Vec<_> = MODELS
        .iter()
        .map(|model| prepare(Format::Oip, model, &inputs, &row, None))
        .collect();
    eprintln!(
        "loading the agent at {concurrency} connections for {}s, sampling its memory every {}s",
        duration.as_secs(),
        every.as_secs()
    );
    let started = Instant::now();
    let mut samples = Vec::new();
    while started.elapsed() < duration {
        let stretch = every.min(duration.saturating_sub(started.elapsed()));
        let report: LoadReport = drive(Load {
            target: target.clone(),
            model: MODELS[0].into(),
            requests: requests.clone(),
            concurrency,
            rps: None,
            duration: stretch.max(Duration::from_secs(1)),
            progress: false,
        })
        .await?;
        let sample = Sample {
            seconds: started.elapsed().as_secs_f64(),
            rss_mib: status_mib(pid, "VmRSS")?,
            requests: report.requests,
            requests_per_second: report.requests_per_second,
            failed: report
                .statuses
                .iter()
                .filter(|(s, _)| **s != 200)
                .map(|(_, n)| n)
                .sum(),
        };
        eprintln!(
            "  {:>5.0}s  {:>6.1} MiB  {:>7.0} req/s  {} failed",
            sample.seconds, sample.rss_mib, sample.requests_per_second, sample.failed
        );
        samples.push(sample);
    }
    let peak_rss_mib = status_mib(pid, "VmHWM")?;
    let requests_total = samples.iter().map(|s| s.requests).sum();
    let failed = samples.iter().map(|s| s.failed).sum();
    drop(agent);
    drop(coordinator);
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(SoakReport {
        concurrency,
        loaded_rss_mib,
        samples,
        peak_rss_mib,
        requests: requests_total,
        failed,
    })
}

/// Prints the memory over the run against the budget.
pub fn print(r: &SoakReport) {
    let first = r.samples.first().map_or(0.0, |s| s.rss_mib);
    let last = r.samples.last().map_or(0.0, |s| s.rss_mib);
    println!(
        "soak: drover-agent run serving {} models (20-feature logistic regressions), {} connections, {} stretches",
        MODELS.len(),
        r.concurrency,
        r.samples.len()
    );
    println!(
        "  RSS loaded {:.1} MiB; after the first stretch {first:.1} MiB, after the last {last:.1} MiB ({:+.1} MiB); peak {:.1} MiB ({:.2}x of the {RSS_BUDGET_MIB} MiB budget)",
        r.loaded_rss_mib,
        last - first,
        r.peak_rss_mib,
        r.peak_rss_mib / RSS_BUDGET_MIB
    );
    println!("  {} requests, {} failed", r.requests, r.failed);
}
