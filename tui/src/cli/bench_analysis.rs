//! `drover bench analysis`: what analysing many concurrent rollouts costs the coordinator. A
//! store of its own holds N canary rollouts, each model served by a few agents; every
//! simulated window each agent's windows of both versions are stored, then every rollout is
//! analysed as the controller does: one pass that reads the new windows, then a pass every
//! controller tick until the next window (each reads every rollout again and finds nothing
//! new). What those passes take against the window length is the share of one core the
//! analysis costs.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use drover_coordinator::rollout::{controller, machine};
use drover_coordinator::store::Store;
use drover_protocol::rollout::{Rollout, RolloutSpec};
use drover_protocol::serve::{LATENCY_BUCKETS_US, ServingWindow};
use drover_protocol::types::AgentId;
use serde::Serialize;

/// What the benchmark measured.
#[derive(Debug, Serialize)]
pub struct AnalysisReport {
    pub rollouts: usize,
    pub agents: usize,
    pub window_secs: u64,
    pub passes: usize,
    /// Milliseconds the pass after each window's arrival took.
    pub pass_ms: Vec<f64>,
    /// Milliseconds an idle pass (no new window) took, per window, and how many run per window.
    pub idle_pass_ms: Vec<f64>,
    pub idle_passes_per_window: usize,
    /// The median window's passes against its length: the share of one core they take.
    pub core_percent: f64,
}

fn window(model: &str, version: u32, requests: u64, end_ms: u64, secs: u64) -> ServingWindow {
    let mut latency = vec![0; LATENCY_BUCKETS_US.len() + 1];
    latency[1] = requests * 7 / 10;
    latency[2] = requests - latency[1];
    ServingWindow {
        model: model.into(),
        version,
        start_ms: end_ms - secs * 1000,
        end_ms,
        requests,
        errors: requests / 500,
        latency,
        classes: vec![requests * 6 / 10, requests - requests * 6 / 10],
        feedback: requests / 2,
        correct: requests * 2 / 5,
    }
}

/// Times `passes` analysis passes of `rollouts` rollouts whose models `agents` agents serve,
/// one pass per window of `window_secs`.
pub async fn run(
    rollouts: usize,
    agents: usize,
    window_secs: u64,
    passes: usize,
) -> anyhow::Result<AnalysisReport> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("drover.db");
    let idle = idle_passes(window_secs);
    let (pass_ms, idle_pass_ms) = drover_coordinator::store::handle::blocking(move || {
        measure(&path, rollouts, agents, window_secs, passes)
    })
    .await?;
    let median = super::bench_proc::median;
    let per_window = median(&pass_ms) + idle as f64 * median(&idle_pass_ms);
    Ok(AnalysisReport {
        rollouts,
        agents,
        window_secs,
        passes,
        core_percent: 100.0 * per_window / (window_secs as f64 * 1000.0),
        pass_ms,
        idle_pass_ms,
        idle_passes_per_window: idle,
    })
}

/// Controller ticks between two windows, besides the pass their arrival starts.
fn idle_passes(window_secs: u64) -> usize {
    (window_secs as u128 * 1000 / controller::TICK.as_millis()).saturating_sub(1) as usize
}

fn measure(
    path: &std::path::Path,
    rollouts: usize,
    agents: usize,
    window_secs: u64,
    passes: usize,
) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let store = Store::open(path)?;
    let start = drover_protocol::types::unix_ms();
    let spec = RolloutSpec {
        step_duration: Duration::from_secs(3600),
        step_deadline: Duration::from_secs(7200),
        ..RolloutSpec::default()
    };
    let mut live: Vec<Rollout> = Vec::with_capacity(rollouts);
    for i in 0..rollouts {
        let model = format!("model-{i}");
        let made = store.insert_rollout(&model, |id| {
            machine::start(id, &model, 1, 2, spec.clone(), start)
        })?;
        let (rollout, _) = made.map_err(|id| anyhow::anyhow!("rollout {id} already runs"))?;
        live.push(rollout);
    }
    let agents: Vec<AgentId> = (0..agents).map(|a| AgentId(format!("ag-{a}"))).collect();
    let mut seen = HashMap::new();
    let mut pass_ms = Vec::with_capacity(passes);
    let mut idle_ms = Vec::with_capacity(passes);
    for pass in 1..=passes as u64 {
        let now = start + pass * window_secs * 1000;
        for agent in &agents {
            let windows: Vec<ServingWindow> = live
                .iter()
                .flat_map(|r| {
                    [
                        window(&r.model, 1, 950 * window_secs, now, window_secs),
                        window(&r.model, 2, 50 * window_secs, now, window_secs),
                    ]
                })
                .collect();
            store.insert_windows(agent, &windows, now)?;
        }
        let began = Instant::now();
        controller::analyse(&store, &mut seen, now)?;
        pass_ms.push(began.elapsed().as_secs_f64() * 1000.0);
        let idle = idle_passes(window_secs);
        let began = Instant::now();
        for _ in 0..idle {
            controller::analyse(&store, &mut seen, now)?;
        }
        idle_ms.push(began.elapsed().as_secs_f64() * 1000.0 / idle.max(1) as f64);
    }
    Ok((pass_ms, idle_ms))
}

/// Prints a report.
pub fn print(r: &AnalysisReport) {
    let mut sorted = r.pass_ms.clone();
    sorted.sort_by(f64::total_cmp);
    let at = |q: f64| {
        sorted
            .get(((sorted.len() as f64 - 1.0) * q) as usize)
            .copied()
            .unwrap_or(0.0)
    };
    println!(
        "{} rollouts, each model served by {} agents, a window every {} s: {} passes",
        r.rollouts, r.agents, r.window_secs, r.passes
    );
    println!(
        "the pass after a window: median {:.2} ms, p90 {:.2} ms, max {:.2} ms",
        at(0.5),
        at(0.9),
        at(1.0)
    );
    let mut idle = r.idle_pass_ms.clone();
    idle.sort_by(f64::total_cmp);
    println!(
        "an idle pass (every {} ms, {} per window): median {:.2} ms",
        drover_coordinator::rollout::controller::TICK.as_millis(),
        r.idle_passes_per_window,
        idle.get(idle.len() / 2).copied().unwrap_or_default()
    );
    println!(
        "the analysis takes {:.3}% of one core (budget 5%)",
        r.core_percent
    );
}
