//! `drover bench monitor`: what one monitoring pass costs the coordinator in reading what
//! agents reported. A store of its own fills a sliding window with every agent's serving
//! windows and 50-feature sketches, report after report, for many models; each pass then
//! brings every model's evidence up to date and pools it over the agents that agree, either
//! from the running sums (reading only the reports stored since the last pass, as the
//! monitor does) or read again whole from the store (what it did before: the baseline).

use std::time::Instant;

use drover_coordinator::drift::aggregates::Aggregates;
use drover_coordinator::drift::pooled;
use drover_coordinator::store::Store;
use drover_protocol::drift::{ColumnCounts, SketchWindow};
use drover_protocol::serve::{LATENCY_BUCKETS_US, ServingWindow};
use drover_protocol::types::AgentId;
use serde::Serialize;

/// Features each model's sketches carry, and bins per feature.
const FEATURES: usize = 50;
const BINS: usize = 20;
/// Seconds between two reports of one agent.
const EVERY_SECS: u64 = 10;

/// What the benchmark measured (medians over the passes, milliseconds).
#[derive(Debug, Serialize)]
pub struct MonitorReport {
    pub models: usize,
    pub agents: usize,
    pub window_secs: u64,
    /// Reports (a serving window and a sketch) in the window, all models.
    pub reports_in_window: usize,
    pub incremental_ms: f64,
    pub reread_ms: f64,
    /// The baseline's time over the running sums'.
    pub speedup: f64,
}

fn reports(model: &str, agent: usize, at_ms: u64) -> (ServingWindow, SketchWindow) {
    let requests = 5_000 + agent as u64;
    let mut latency = vec![0; LATENCY_BUCKETS_US.len() + 1];
    latency[1] = requests;
    let served = ServingWindow {
        model: model.into(),
        version: 1,
        start_ms: at_ms - EVERY_SECS * 1_000,
        end_ms: at_ms,
        requests,
        errors: requests / 500,
        latency,
        classes: vec![requests / 2, requests - requests / 2],
        feedback: requests / 4,
        correct: requests / 5,
    };
    let column = ColumnCounts {
        counts: (0..BINS as u64).map(|b| 200 + b + agent as u64).collect(),
        ..ColumnCounts::default()
    };
    let sketch = SketchWindow {
        model: model.into(),
        version: 1,
        start_ms: served.start_ms,
        end_ms: at_ms,
        columns: vec![column; FEATURES],
        predictions: ColumnCounts {
            counts: vec![2_500, 2_500],
            ..ColumnCounts::default()
        },
    };
    (served, sketch)
}

/// Stores one report of every agent for every model at `at_ms`.
fn report_all(store: &Store, models: usize, agents: usize, at_ms: u64) -> anyhow::Result<()> {
    for agent in 0..agents {
        let id = AgentId(format!("ag-{agent}"));
        let (served, sketched): (Vec<_>, Vec<_>) = (0..models)
            .map(|m| reports(&format!("model-{m}"), agent, at_ms))
            .unzip();
        store.insert_windows(&id, &served, at_ms)?;
        store.insert_sketches(&id, &sketched, at_ms)?;
    }
    Ok(())
}

/// Every model's evidence brought up to date in `sums` and pooled.
fn pass(sums: &mut Aggregates, store: &Store, models: usize, since: u64, window_ms: u64) -> f64 {
    let started = Instant::now();
    if let Err(e) = sums.update(store, since, window_ms) {
        tracing::error!(cause = %e, "could not read reports");
    }
    for m in 0..models {
        let pooled = pooled::pool(sums.evidence(&format!("model-{m}"), 1), None);
        std::hint::black_box(pooled);
    }
    started.elapsed().as_secs_f64() * 1_000.0
}

fn measure(
    path: &std::path::Path,
    models: usize,
    agents: usize,
    window_secs: u64,
    passes: usize,
) -> anyhow::Result<(Vec<f64>, Vec<f64>, usize)> {
    let store = Store::open(path)?;
    let window_ms = window_secs * 1_000;
    let start = 1_800_000_000_000u64;
    let filled = window_secs / EVERY_SECS;
    for i in 0..filled {
        report_all(&store, models, agents, start + i * EVERY_SECS * 1_000)?;
    }
    let mut sums = Aggregates::default();
    let mut now = start + (filled - 1) * EVERY_SECS * 1_000;
    pass(&mut sums, &store, models, now - window_ms, window_ms);
    let (mut incremental, mut reread) = (Vec::new(), Vec::new());
    for _ in 0..passes {
        now += EVERY_SECS * 1_000;
        report_all(&store, models, agents, now)?;
        incremental.push(pass(&mut sums, &store, models, now - window_ms, window_ms));
        reread.push(pass(
            &mut Aggregates::default(),
            &store,
            models,
            now - window_ms,
            window_ms,
        ));
    }
    Ok((incremental, reread, filled as usize * models * agents))
}

/// Times `passes` monitoring passes over `models` models each served by `agents` agents,
/// with a window of `window_secs`.
pub async fn run(
    models: usize,
    agents: usize,
    window_secs: u64,
    passes: usize,
) -> anyhow::Result<MonitorReport> {
    anyhow::ensure!(
        window_secs >= EVERY_SECS,
        "--window-secs must be at least {EVERY_SECS}"
    );
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("drover.db");
    let (incremental, reread, reports_in_window) =
        drover_coordinator::store::handle::blocking(move || {
            measure(&path, models, agents, window_secs, passes)
        })
        .await?;
    let median = super::bench_proc::median;
    let (incremental_ms, reread_ms) = (median(&incremental), median(&reread));
    Ok(MonitorReport {
        models,
        agents,
        window_secs,
        reports_in_window,
        incremental_ms,
        reread_ms,
        speedup: reread_ms / incremental_ms.max(1e-9),
    })
}

pub fn print(r: &MonitorReport) {
    println!(
        "monitoring {} models x {} agents, a {} s window ({} reports of {FEATURES} features in it)",
        r.models, r.agents, r.window_secs, r.reports_in_window
    );
    println!(
        "  a pass from the running sums: {:.2} ms (median)",
        r.incremental_ms
    );
    println!(
        "  the window read again whole:  {:.2} ms (median)",
        r.reread_ms
    );
    println!("  {:.1}x less time per pass", r.speedup);
}
