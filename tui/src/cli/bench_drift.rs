//! `drover bench drift`: the offline comparison of two 100,000 x 20 numeric tables (the
//! statistics on tables in memory, and end to end from the CSV files), against reading the
//! files alone and, with `--python`, against pandas, a plain scipy/numpy loop and Evidently
//! in the same run; then the coordinator's live work, merging sketches and scoring 100
//! models x 50 features per window.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use drover_coordinator::drift::thresholds::Thresholds;
use drover_ml::drift::{compare, reference, score};
use drover_protocol::drift::{ColumnCounts, Shape};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::bench_proc::median;
use super::drift::compare_files;

/// The Python baselines, medians in seconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Baselines {
    pub read: f64,
    pub scipy_loop: f64,
    pub evidently_version: Option<String>,
    pub evidently: Option<f64>,
    pub pandas_and_evidently: Option<f64>,
}

/// What the benchmark measured (medians of `runs`, seconds).
#[derive(Debug, Serialize)]
pub struct DriftBench {
    pub rows: usize,
    pub columns: usize,
    pub runs: usize,
    /// Reading and parsing the two files alone.
    pub parse: f64,
    /// The statistics on the two tables in memory.
    pub compute: f64,
    pub compute_runs: Vec<f64>,
    /// From the two files to the report.
    pub end_to_end: f64,
    pub python: Option<Baselines>,
    /// Live: merging 4 agents' sketches and scoring, per window, for the models x features.
    pub live_models: usize,
    pub live_features: usize,
    pub live_first_window: f64,
    pub live_window: f64,
    pub live_share_of_10s: f64,
}

/// A standard normal draw.
fn normal(rng: &mut StdRng) -> f64 {
    super::synth::normal(rng, 0.0, 1.0)
}

/// Writes a `rows` x `columns` numeric CSV; `shift` moves every third column.
fn write_table(
    path: &Path,
    rows: usize,
    columns: usize,
    seed: u64,
    shift: f64,
) -> anyhow::Result<()> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = String::with_capacity(rows * columns * 11);
    let header: Vec<String> = (0..columns).map(|c| format!("f{c}")).collect();
    out.push_str(&header.join(","));
    out.push('\n');
    for _ in 0..rows {
        for c in 0..columns {
            let moved = if c % 3 == 0 { shift } else { 0.0 };
            let v = c as f64 * 0.5 + normal(&mut rng) + moved;
            if c > 0 {
                out.push(',');
            }
            out.push_str(&format!("{v:.6}"));
        }
        out.push('\n');
    }
    std::fs::write(path, out)?;
    Ok(())
}

fn timed<T>(runs: usize, mut f: impl FnMut() -> anyhow::Result<T>) -> anyhow::Result<Vec<f64>> {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            f()?;
            Ok(start.elapsed().as_secs_f64())
        })
        .collect()
}

/// Runs the benchmark.
pub fn run(rows: usize, runs: usize, python: Option<PathBuf>) -> anyhow::Result<DriftBench> {
    let dir = tempfile::tempdir()?;
    let (r, c) = (dir.path().join("ref.csv"), dir.path().join("cur.csv"));
    let columns = 20;
    write_table(&r, rows, columns, 1, 0.0)?;
    write_table(&c, rows, columns, 2, 0.2)?;
    let read = |p: &Path| -> anyhow::Result<drover_ml::table::Table> {
        Ok(drover_ml::table::parse(&std::fs::read(p)?)?)
    };
    let parse = timed(runs, || {
        std::thread::scope(|s| {
            let a = s.spawn(|| read(&r));
            let b = read(&c);
            a.join().map_err(|_| anyhow::anyhow!("panicked"))??;
            b
        })
    })?;
    let (rt, ct) = (read(&r)?, read(&c)?);
    let compute_runs = timed(runs, || Ok(compare::compare(&rt, &ct, &[])?))?;
    let end_to_end = timed(runs, || compare_files(&r, &c, &[]))?;
    let python = match python {
        Some(python) => {
            let script = dir.path().join("drift_baseline.py");
            std::fs::write(&script, include_str!("drift_baseline.py"))?;
            Some(super::script_json::<Baselines>(
                std::process::Command::new(python)
                    .arg(&script)
                    .arg(&r)
                    .arg(&c)
                    .arg(runs.to_string()),
            )?)
        }
        None => None,
    };
    let (live_models, live_features) = (100, 50);
    let (live_first_window, live_window) = live(live_models, live_features);
    Ok(DriftBench {
        rows,
        columns,
        runs,
        parse: median(&parse),
        compute: median(&compute_runs),
        compute_runs,
        end_to_end: median(&end_to_end),
        python,
        live_models,
        live_features,
        live_first_window,
        live_window,
        live_share_of_10s: live_window / 10.0,
    })
}

/// Seconds for the first window (every threshold calibrated, no budget) and for later ones
/// (thresholds on the grid already calibrated), with each agent's sketch size varying by
/// about 10% from window to window as traffic does: merge 4 agents' sketches per model, then
/// score every feature.
fn live(models: usize, features: usize) -> (f64, f64) {
    let mut rng = StdRng::seed_from_u64(5);
    let references: Vec<_> = (0..features)
        .map(|f| reference::numeric(&format!("f{f}"), (0..5_000).map(|_| Some(normal(&mut rng)))))
        .collect();
    let sketch = |rng: &mut StdRng, r: &drover_protocol::drift::ColumnReference, values: usize| {
        let mut counts = ColumnCounts::empty(r.counts.len());
        if let Shape::Numeric { edges, .. } = &r.shape {
            for _ in 0..values {
                if let Some(bin) = Shape::bin_number(edges, normal(rng)) {
                    counts.counts[bin] += 1;
                }
            }
        }
        counts
    };
    // Per agent, three sizes of sketch; each window picks one per agent and model.
    let agents: Vec<Vec<Vec<ColumnCounts>>> = (0..4)
        .map(|_| {
            [225, 250, 275]
                .iter()
                .map(|&values| {
                    references
                        .iter()
                        .map(|r| sketch(&mut rng, r, values))
                        .collect()
                })
                .collect()
        })
        .collect();
    let mut thresholds = Thresholds::new(Duration::MAX);
    let judging = score::Judging::default();
    let window = |rng: &mut StdRng, thresholds: &mut Thresholds| {
        let picks: Vec<Vec<usize>> = (0..models)
            .map(|_| (0..agents.len()).map(|_| rng.gen_range(0..3)).collect())
            .collect();
        let start = Instant::now();
        thresholds.start_pass();
        for (model, pick) in picks.iter().enumerate() {
            for (f, r) in references.iter().enumerate() {
                let mut merged = ColumnCounts::empty(r.counts.len());
                for (agent, &size) in agents.iter().zip(pick) {
                    merged.merge(&agent[size][f]);
                }
                let method = score::default_method(&r.shape, r.total());
                let column = (format!("m{model}"), 1, f, method);
                let threshold = thresholds
                    .get(&column, r, merged.total(), 0.01)
                    .unwrap_or(f64::INFINITY);
                std::hint::black_box(score::judge(r, &merged, method, threshold, &judging));
            }
        }
        start.elapsed().as_secs_f64()
    };
    let first = window(&mut rng, &mut thresholds);
    for _ in 0..10 {
        window(&mut rng, &mut thresholds);
    }
    let later: Vec<f64> = (0..10).map(|_| window(&mut rng, &mut thresholds)).collect();
    let later = median(&later);
    (first, later)
}

/// Prints the report with its ratios.
pub fn print(b: &DriftBench) {
    println!(
        "two {} x {} numeric tables, medians of {} runs (release builds give meaningful figures)",
        b.rows, b.columns, b.runs
    );
    println!(
        "  drover: statistics in memory  {:>8.3} s  (runs {:?})",
        b.compute, b.compute_runs
    );
    println!("  drover: CSV files to report    {:>8.3} s", b.end_to_end);
    println!("  drover: reading the files only {:>8.3} s", b.parse);
    println!(
        "  end to end / reading alone: {:.2}x (bar: within 3x)",
        b.end_to_end / b.parse
    );
    if let Some(p) = &b.python {
        println!("  pandas reading the files      {:>8.3} s", p.read);
        println!(
            "  scipy/numpy loop of KS + PSI  {:>8.3} s  -> drover {:.1}x faster (bar: 2x)",
            p.scipy_loop,
            p.scipy_loop / b.compute
        );
        if let (Some(e), Some(pe)) = (p.evidently, p.pandas_and_evidently) {
            println!(
                "  Evidently {} report        {:>8.3} s  -> drover {:.0}x faster (bar: 50x)",
                p.evidently_version.as_deref().unwrap_or("?"),
                e,
                e / b.compute
            );
            println!(
                "  pandas + Evidently end to end {:>8.3} s  -> drover {:.0}x faster (bar: 10x)",
                pe,
                pe / b.end_to_end
            );
        } else {
            println!("  Evidently is not installed beside that Python: no comparison with it");
        }
    }
    println!(
        "live: {} models x {} features, 4 agents each, sketch sizes varying by 10%: first window {:.3} s (every threshold calibrated; the monitor spreads this over passes, 0.5 s each), then {:.4} s per window = {:.2}% of one core every 10 s (bar: 5%)",
        b.live_models,
        b.live_features,
        b.live_first_window,
        b.live_window,
        b.live_share_of_10s * 100.0
    );
}
