//! `drover bench data`: validating and profiling a large CSV as `data add` does it (a stream,
//! two passes, bounded memory), next to a baseline measured in the same run: reading the whole
//! file, parsing it into a table and profiling that, as `data add` did before. Peak memory is
//! read from `/proc/self/status` (Linux), reset between the two.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use drover_ml::{profile, scan, table};
use serde::Serialize;

use super::bench_proc::{reset_peak, status_mib};

/// What the data benchmark measured.
#[derive(Debug, Serialize)]
pub struct DataReport {
    pub file_mib: f64,
    pub rows: u64,
    pub streamed_secs: f64,
    pub streamed_peak_mib: f64,
    /// Resident memory once the scan is over, above what it was before.
    pub streamed_retained_mib: f64,
    pub whole_secs: f64,
    pub whole_peak_mib: f64,
}

/// Writes a synthetic churn CSV of at least `mib` MiB to `path`; returns its row count.
fn write_csv(path: &Path, mib: u64) -> anyhow::Result<u64> {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let target = mib << 20;
    let (mut rows, mut written, mut seed) = (0u64, 0u64, 0u64);
    while written < target {
        let mut chunk = Vec::new();
        let options = super::synth::ChurnOptions {
            rows: 50_000,
            seed,
            drift: 0.0,
        };
        super::synth::churn(options, &mut chunk)?;
        let body = if seed == 0 {
            &chunk[..]
        } else {
            let header_end = chunk.iter().position(|b| *b == b'\n').map_or(0, |i| i + 1);
            &chunk[header_end..]
        };
        file.write_all(body)?;
        written += body.len() as u64;
        rows += 50_000;
        seed += 1;
    }
    file.flush()?;
    Ok(rows)
}

/// Measures both ways on a CSV of `mib` MiB written to a temporary file.
pub fn run(mib: u64) -> anyhow::Result<DataReport> {
    let dir = std::env::temp_dir().join(format!("drover-bench-data-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("churn.csv");
    let result = measure(&path, mib);
    std::fs::remove_dir_all(&dir)?;
    result
}

fn measure(path: &Path, mib: u64) -> anyhow::Result<DataReport> {
    write_csv(path, mib)?;
    let file_mib = std::fs::metadata(path)?.len() as f64 / (1 << 20) as f64;

    let pid = std::process::id();
    let before = status_mib(pid, "VmRSS")?;
    reset_peak()?;
    let started = Instant::now();
    let open = || std::fs::File::open(path).map(std::io::BufReader::new);
    let scanned = scan::scan(open).context("scanning")?;
    let streamed_secs = started.elapsed().as_secs_f64();
    let streamed_peak_mib = status_mib(pid, "VmHWM")? - before;
    drop(scanned);
    let streamed_retained_mib = (status_mib(pid, "VmRSS")? - before).max(0.0);

    let before = status_mib(pid, "VmRSS")?;
    reset_peak()?;
    let started = Instant::now();
    let bytes = std::fs::read(path)?;
    let whole = table::parse(&bytes).context("parsing")?;
    let rows = whole.rows as u64;
    let whole_profile = profile::profile(&whole);
    let whole_secs = started.elapsed().as_secs_f64();
    let whole_peak_mib = status_mib(pid, "VmHWM")? - before;
    drop((bytes, whole, whole_profile));
    Ok(DataReport {
        file_mib,
        rows,
        streamed_secs,
        streamed_peak_mib,
        streamed_retained_mib,
        whole_secs,
        whole_peak_mib,
    })
}

/// Prints the report as text; peaks also as a share of the file's size.
pub fn print(r: &DataReport) {
    let share = |mib: f64| mib / r.file_mib.max(f64::MIN_POSITIVE);
    println!("CSV of {:.0} MiB, {} rows", r.file_mib, r.rows);
    println!(
        "data add (streamed, two passes): {:.1} s, peak +{:.0} MiB ({:.3}x the file), +{:.0} MiB kept after",
        r.streamed_secs,
        r.streamed_peak_mib,
        share(r.streamed_peak_mib),
        r.streamed_retained_mib
    );
    println!(
        "whole table in memory (before):  {:.1} s, peak +{:.0} MiB ({:.1}x the file)",
        r.whole_secs,
        r.whole_peak_mib,
        share(r.whole_peak_mib)
    );
}
