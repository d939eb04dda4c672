//! `drover bench`, and its fleet benchmark: how much a coordinator costs per agent. Starts a
//! real coordinator process, measures it idle, then under `drover-agent sim --count N` (N agents with their own
//! certificates, sockets and sessions, heartbeating every second), then measures an idle
//! `drover-agent run`. CPU comes from /proc/PID/stat, memory from /proc/PID/status (Linux).

use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Subcommand;
use drover_protocol::msg::{OperatorRequest, OperatorResponse};
use serde::Serialize;

use super::bench_proc::{
    clock_ticks, cpu_percent, joined_agent, sibling, spawn, start_coordinator, status_mib,
};
use crate::client::OperatorClient;
use crate::expect_response;

/// Budgets from the fleet issue: one coordinator with 1,000 agents, and one idle agent.
const CPU_BUDGET_PERCENT: f64 = 25.0;
const COORDINATOR_RSS_BUDGET_MIB: f64 = 200.0;
const AGENT_RSS_BUDGET_MIB: f64 = 15.0;

/// What one fleet benchmark measured.
#[derive(Debug, Serialize)]
pub struct FleetReport {
    pub agents: usize,
    pub connected: u32,
    pub seconds: f64,
    pub idle_cpu_percent: f64,
    pub idle_rss_mib: f64,
    pub fleet_cpu_percent: f64,
    pub fleet_rss_mib: f64,
    pub fleet_peak_rss_mib: f64,
    pub agent_idle_rss_mib: f64,
    pub connect_seconds: f64,
}

async fn wait_ready(client: &OperatorClient, want: u32, limit: Duration) -> anyhow::Result<u32> {
    let deadline = Instant::now() + limit;
    loop {
        let status = expect_response!(
            client.request(&OperatorRequest::Status).await?,
            OperatorResponse::Status
        )?;
        if status.agents_ready >= want || Instant::now() > deadline {
            return Ok(status.agents_ready);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Runs the benchmark with `agents` simulated agents measured over `window`.
pub async fn fleet(agents: usize, window: Duration) -> anyhow::Result<FleetReport> {
    let tmp = std::env::temp_dir().join(format!("drover-bench-{}", std::process::id()));
    let data = tmp.join("coordinator");
    std::fs::create_dir_all(&tmp)?;
    let ticks = clock_ticks();
    let coordinator = start_coordinator(&tmp, &data).await?;
    let pid = coordinator.0.id();
    let client = OperatorClient::for_data_dir(&data, None).await?;
    eprintln!("measuring the idle coordinator for {}s", window.as_secs());
    let idle_cpu_percent = cpu_percent(pid, window, ticks).await?;
    let idle_rss_mib = status_mib(pid, "VmRSS")?;

    let token = expect_response!(
        client
            .request(&OperatorRequest::CreateToken {
                ttl_secs: 3600,
                uses: agents as u32 + 1
            })
            .await?,
        OperatorResponse::Token
    )?;
    let sim_for = format!("{}s", window.as_secs() + 120);
    let count = agents.to_string();
    let sim_dir = tmp.join("sim");
    eprintln!("starting {agents} simulated agents");
    let sim = spawn(
        &sibling("drover-agent")?,
        &[
            "sim",
            "--count",
            &count,
            "--duration",
            &sim_for,
            "--token",
            &token.token,
            "--state-dir",
            sim_dir.to_str().context("UTF-8")?,
        ],
        &tmp.join("sim.log"),
    )?;
    let connect_started = Instant::now();
    let connected = wait_ready(&client, agents as u32, Duration::from_secs(120)).await?;
    let connect_seconds = connect_started.elapsed().as_secs_f64();
    eprintln!(
        "{connected} agents ready after {connect_seconds:.1}s; measuring for {}s",
        window.as_secs()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let fleet_cpu_percent = cpu_percent(pid, window, ticks).await?;
    let fleet_rss_mib = status_mib(pid, "VmRSS")?;
    let fleet_peak_rss_mib = status_mib(pid, "VmHWM")?;
    drop(sim);

    eprintln!("measuring one idle drover-agent run");
    let agent = joined_agent(
        &token.token,
        &tmp.join("agent"),
        "127.0.0.1:0",
        &tmp.join("agent.log"),
    )?;
    tokio::time::sleep(window.min(Duration::from_secs(10))).await;
    let agent_idle_rss_mib = status_mib(agent.0.id(), "VmRSS")?;
    drop(agent);
    client.close().await;
    drop(coordinator);
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(FleetReport {
        agents,
        connected,
        seconds: window.as_secs_f64(),
        idle_cpu_percent,
        idle_rss_mib,
        fleet_cpu_percent,
        fleet_rss_mib,
        fleet_peak_rss_mib,
        agent_idle_rss_mib,
        connect_seconds,
    })
}

/// Prints a report with each figure against its budget and the idle baseline.
pub fn print(report: &FleetReport) {
    let r = report;
    println!(
        "fleet benchmark: {} simulated agents ({} ready), heartbeat 1s, measured over {:.0}s",
        r.agents, r.connected, r.seconds
    );
    println!("  connect all agents          {:>8.1} s", r.connect_seconds);
    println!(
        "  coordinator CPU             {:>8.2} % of a core   (idle {:.2} %; {:.2}x of the {CPU_BUDGET_PERCENT}% budget)",
        r.fleet_cpu_percent,
        r.idle_cpu_percent,
        r.fleet_cpu_percent / CPU_BUDGET_PERCENT
    );
    println!(
        "  coordinator RSS             {:>8.1} MiB          (idle {:.1} MiB, {:.1}x idle; peak {:.1} MiB; {:.2}x of the {COORDINATOR_RSS_BUDGET_MIB} MiB budget)",
        r.fleet_rss_mib,
        r.idle_rss_mib,
        r.fleet_rss_mib / r.idle_rss_mib.max(0.1),
        r.fleet_peak_rss_mib,
        r.fleet_peak_rss_mib / COORDINATOR_RSS_BUDGET_MIB
    );
    println!(
        "  drover-agent run idle RSS   {:>8.1} MiB          ({:.2}x of the {AGENT_RSS_BUDGET_MIB} MiB budget)",
        r.agent_idle_rss_mib,
        r.agent_idle_rss_mib / AGENT_RSS_BUDGET_MIB
    );
}

#[derive(Subcommand)]
pub enum BenchCmd {
    /// Cross-validated accuracy and time of each classifier, next to scikit-learn.
    Train {
        /// Rows of the synthetic table (20 features).
        #[arg(long, default_value_t = 100_000)]
        rows: usize,
        /// Only these algorithms (repeatable); all classifiers by default.
        #[arg(long = "algorithm")]
        algorithms: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Metric points per second from an agent into the store, acknowledged after commit.
    Ingest {
        #[arg(long, default_value_t = 1_000_000)]
        points: usize,
        #[arg(long, default_value_t = 5_000)]
        batch: usize,
        #[arg(long)]
        json: bool,
    },
    /// log-batch ingest, runs/search, logged-models/search and registered-models/search
    /// through the MLflow API, next to `mlflow server`.
    Mlflow {
        /// A Python with the `mlflow` package (the client and the reference server).
        #[arg(long, env = "DROVER_MLFLOW_PYTHON", default_value = "python3")]
        python: std::path::PathBuf,
        #[arg(long, default_value_t = 200_000)]
        points: usize,
        /// Runs, logged models and registered models to search over.
        #[arg(long, default_value_t = 1000)]
        runs: usize,
        #[arg(long)]
        json: bool,
    },
    /// Drift: two 100,000 x 20 tables compared (in memory and from CSV files), next to
    /// pandas, a scipy loop and Evidently with `--python`; and the coordinator's live scoring.
    Drift {
        #[arg(long, default_value_t = 100_000)]
        rows: usize,
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// A Python with pandas and scipy (and Evidently, when installed) for the baselines.
        #[arg(long)]
        python: Option<std::path::PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Validating and profiling a large CSV as `data add` does (streamed), next to the
    /// whole table in memory.
    Data {
        /// Size of the synthetic CSV, MiB.
        #[arg(long, default_value_t = 256)]
        mib: u64,
        #[arg(long)]
        json: bool,
    },
    /// What a console idle on :runs costs its coordinator with N runs stored, and how fast
    /// it redraws on a key press.
    Console {
        #[arg(long, default_value_t = 10_000)]
        runs: usize,
        /// Length of each CPU window.
        #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
        window: Duration,
        #[arg(long)]
        json: bool,
    },
    /// Single-row predictions through the agent's prediction API, next to a bare HTTP server.
    Serve {
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Length of each load.
        #[arg(long, default_value = "4s", value_parser = humantime::parse_duration)]
        window: Duration,
        /// Times each target is loaded, in turn.
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        #[arg(long)]
        json: bool,
    },
    /// One-row latency while two clients send 8 MiB batches, next to the same load alone.
    Heavy {
        /// One-row requests a second.
        #[arg(long, default_value_t = 500)]
        rps: u32,
        /// Length of each phase.
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        window: Duration,
        /// Scheduling priority (nice) of the batch clients, which stand in for other
        /// machines; 0 sends them at the server's own priority.
        #[arg(long, default_value_t = 19, value_parser = clap::value_parser!(i32).range(0..=19))]
        batch_nice: i32,
        #[arg(long)]
        json: bool,
    },
    /// What analysing many concurrent rollouts costs the coordinator, per window.
    Analysis {
        #[arg(long, default_value_t = 100)]
        rollouts: usize,
        /// Agents serving each model.
        #[arg(long, default_value_t = 4)]
        agents: usize,
        #[arg(long, default_value_t = 10)]
        window_secs: u64,
        #[arg(long, default_value_t = 30)]
        passes: usize,
        #[arg(long)]
        json: bool,
    },
    /// What one monitoring pass costs in reading agents' reports: from running sums, against
    /// reading the whole window again.
    Monitor {
        #[arg(long, default_value_t = 100)]
        models: usize,
        /// Agents serving each model.
        #[arg(long, default_value_t = 4)]
        agents: usize,
        #[arg(long, default_value_t = 300)]
        window_secs: u64,
        #[arg(long, default_value_t = 10)]
        passes: usize,
        #[arg(long)]
        json: bool,
    },
    /// How soon a rollback takes effect: from the decision to the candidate's last answer,
    /// under a fixed request rate.
    Rollback {
        #[arg(long, default_value_t = 5000)]
        rps: u32,
        #[arg(long, default_value_t = 5)]
        runs: u32,
        #[arg(long)]
        json: bool,
    },
    /// A real agent serving two models at saturation for a long time, its memory sampled.
    Soak {
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
        duration: Duration,
        /// How often the agent's memory is sampled.
        #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
        every: Duration,
        #[arg(long)]
        json: bool,
    },
    /// A coordinator under N simulated agents heartbeating every second, and an idle agent.
    Fleet {
        #[arg(long, default_value_t = 1000)]
        agents: usize,
        /// Length of each measurement window.
        #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
        window: Duration,
        #[arg(long)]
        json: bool,
    },
}

impl BenchCmd {
    pub async fn run(self) -> anyhow::Result<()> {
        use super::emit;
        match self {
            BenchCmd::Train {
                rows,
                algorithms,
                json,
            } => {
                let report =
                    tokio::task::spawn_blocking(move || super::bench_train::run(rows, &algorithms))
                        .await??;
                emit(&report, json, super::bench_train::print)
            }
            BenchCmd::Ingest {
                points,
                batch,
                json,
            } => {
                let report = super::bench_ingest::ingest(points, batch).await?;
                emit(&report, json, super::bench_ingest::print)
            }
            BenchCmd::Mlflow {
                python,
                points,
                runs,
                json,
            } => {
                let report = super::bench_mlflow::run(&python, points, runs).await?;
                emit(&report, json, super::bench_mlflow::print)
            }
            BenchCmd::Drift {
                rows,
                runs,
                python,
                json,
            } => {
                let report = tokio::task::spawn_blocking(move || {
                    super::bench_drift::run(rows, runs, python)
                })
                .await??;
                emit(&report, json, super::bench_drift::print)
            }
            BenchCmd::Data { mib, json } => {
                let report =
                    tokio::task::spawn_blocking(move || super::bench_data::run(mib)).await??;
                emit(&report, json, super::bench_data::print)
            }
            BenchCmd::Serve {
                concurrency,
                window,
                rounds,
                json,
            } => {
                let report = super::bench_serve::run(concurrency, window, rounds).await?;
                emit(&report, json, super::bench_serve::print)
            }
            BenchCmd::Heavy {
                rps,
                window,
                batch_nice,
                json,
            } => {
                let report = super::bench_heavy::run(rps, window, batch_nice).await?;
                emit(&report, json, super::bench_heavy::print)
            }
            BenchCmd::Analysis {
                rollouts,
                agents,
                window_secs,
                passes,
                json,
            } => {
                let report =
                    super::bench_analysis::run(rollouts, agents, window_secs, passes).await?;
                emit(&report, json, super::bench_analysis::print)
            }
            BenchCmd::Monitor {
                models,
                agents,
                window_secs,
                passes,
                json,
            } => {
                let report = super::bench_monitor::run(models, agents, window_secs, passes).await?;
                emit(&report, json, super::bench_monitor::print)
            }
            BenchCmd::Rollback { rps, runs, json } => {
                let report = super::bench_rollback::run(rps, runs).await?;
                emit(&report, json, super::bench_rollback::print)
            }
            BenchCmd::Soak {
                concurrency,
                duration,
                every,
                json,
            } => {
                let report = super::bench_soak::run(concurrency, duration, every).await?;
                emit(&report, json, super::bench_soak::print)
            }
            BenchCmd::Console { runs, window, json } => {
                let report = super::bench_console::run(runs, window).await?;
                emit(&report, json, super::bench_console::print)
            }
            BenchCmd::Fleet {
                agents,
                window,
                json,
            } => {
                let report = fleet(agents, window).await?;
                emit(&report, json, print)
            }
        }
    }
}
