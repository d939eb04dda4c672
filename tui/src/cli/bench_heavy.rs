//! `drover bench heavy`: what large batches cost the one-row requests served beside them.
//! The agent's listener (the 20-feature logistic regression of `bench serve`, on a runtime
//! with two workers) answers one client sending one row at a fixed rate, first alone, then
//! while two clients keep sending 8 MiB CSV batches; the report gives the one-row client's
//! latency percentiles in each phase, and how many batches went through. The batch clients
//! stand in for other machines: by default they run at nice 19, so that on a 2-core machine
//! their own copying competes with the server less (`--batch-nice 0` sends them at normal
//! priority).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use drover_agent::serve::catalog::Catalog;
use drover_agent::serve::model::Served;
use serde::Serialize;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use super::load::{Format, Latency, Load, Target, drive, prepare};

/// The bar: a one-row request's p99 beside two 8 MiB batch clients, milliseconds.
const P99_BUDGET_MS: f64 = 5.0;
/// Each batch's size.
const BATCH_BYTES: usize = 8 << 20;

/// One phase: the one-row client's latency, and the batches answered meanwhile.
#[derive(Debug, Serialize)]
pub struct Phase {
    pub requests: u64,
    pub latency: Latency,
    pub batches: u64,
    pub batch_seconds_mean: f64,
}

/// What the benchmark measured.
#[derive(Debug, Serialize)]
pub struct HeavyReport {
    pub rps: u32,
    /// The batch clients' scheduling priority (nice).
    pub batch_nice: i32,
    pub alone: Phase,
    pub beside_batches: Phase,
    /// This process's resident memory after the lone phase and at its peak since, MiB
    /// (server and clients together; the clients hold one 8 MiB batch between them).
    pub rss_before_mib: f64,
    pub peak_rss_mib: f64,
}

/// Posts `csv` to `/invocations` on a fresh connection; whether it got a 200.
async fn batch(addr: SocketAddr, csv: &[u8]) -> anyhow::Result<bool> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let head = format!(
        "POST /invocations HTTP/1.1\r\nHost: bench\r\nContent-Type: text/csv\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        csv.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(csv).await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    Ok(answer.starts_with(b"HTTP/1.1 200"))
}

/// Runs the benchmark: the one-row client at `rps` for `window`, alone and beside batches
/// sent at scheduling priority `batch_nice`.
pub async fn run(rps: u32, window: Duration, batch_nice: i32) -> anyhow::Result<HeavyReport> {
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("bench-server")
        .enable_all()
        .build()?;
    let bytes = super::bench_serve::model()?;
    let catalog = Arc::new(Catalog::default());
    catalog.load(Served::load("bench", 1, &bytes).map_err(anyhow::Error::msg)?);
    let inputs = catalog
        .get("bench", None)
        .map(|s| s.inputs().to_vec())
        .unwrap_or_default();
    let listener = server
        .spawn(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .await??;
    let addr = listener.local_addr()?;
    let stop = CancellationToken::new();
    let (_, connected) = tokio::sync::watch::channel(true);
    server.spawn(drover_agent::http::serve(
        listener,
        connected,
        catalog,
        drover_agent::http::Access::default(),
        stop.clone(),
    ));
    let header: Vec<&str> = inputs.iter().map(|(n, _)| n.as_str()).collect();
    let row: Vec<String> = (0..inputs.len())
        .map(|i| format!("{:.3}", i as f64 / 7.0 - 1.0))
        .collect();
    let (header, row) = (header.join(","), row.join(","));
    let mut csv = String::with_capacity(BATCH_BYTES + row.len() + 1);
    csv.push_str(&header);
    while csv.len() + row.len() < BATCH_BYTES {
        csv.push('\n');
        csv.push_str(&row);
    }
    let csv: Arc<[u8]> = Arc::from(csv.into_bytes());
    let one: Vec<serde_json::Value> = (0..inputs.len())
        .map(|i| json!(i as f64 / 7.0 - 1.0))
        .collect();
    let requests = vec![prepare(Format::Oip, "bench", &inputs, &one, None)];
    let target = Arc::new(Target::plain(addr.to_string())?);
    let load = |requests: Vec<_>| Load {
        target: target.clone(),
        model: "bench".into(),
        requests,
        concurrency: 1,
        rps: Some(rps),
        duration: window,
        progress: false,
    };
    // The one-row client on a runtime of its own, so the batch clients' copying never
    // delays it: what it measures is the server.
    let generator = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("bench-load")
        .enable_all()
        .build()?;
    let alone = generator.spawn(drive(load(requests.clone()))).await??;
    let pid = std::process::id();
    let rss_before_mib = super::bench_proc::status_mib(pid, "VmRSS")?;
    super::bench_proc::reset_peak()?;
    let batches = CancellationToken::new();
    // The batch clients stand in for other machines: on a runtime of their own, at
    // `batch_nice`, so that on a small machine their copying competes with the server less
    // than it would from the same machine's normal priority.
    let senders = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("bench-batches")
        .on_thread_start(move || {
            let _ = rustix::process::setpriority_process(None, batch_nice);
        })
        .enable_all()
        .build()?;
    let clients: Vec<_> = (0..2)
        .map(|_| {
            let (csv, batches) = (csv.clone(), batches.clone());
            senders.spawn(async move {
                let (mut done, mut took) = (0u64, Duration::ZERO);
                while !batches.is_cancelled() {
                    let started = Instant::now();
                    if batch(addr, &csv).await? {
                        done += 1;
                        took += started.elapsed();
                    }
                }
                anyhow::Ok((done, took))
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let beside = generator.spawn(drive(load(requests))).await??;
    batches.cancel();
    let (mut done, mut took) = (0, Duration::ZERO);
    for client in clients {
        let (d, t) = client.await??;
        (done, took) = (done + d, took + t);
    }
    let peak_rss_mib = super::bench_proc::status_mib(pid, "VmHWM")?;
    stop.cancel();
    server.shutdown_background();
    generator.shutdown_background();
    senders.shutdown_background();
    Ok(HeavyReport {
        rss_before_mib,
        peak_rss_mib,
        rps,
        batch_nice,
        alone: Phase {
            requests: alone.requests,
            latency: alone.latency,
            batches: 0,
            batch_seconds_mean: 0.0,
        },
        beside_batches: Phase {
            requests: beside.requests,
            latency: beside.latency,
            batches: done,
            batch_seconds_mean: took.as_secs_f64() / done.max(1) as f64,
        },
    })
}

/// Prints a report.
pub fn print(r: &HeavyReport) {
    println!("one-row requests at {} a second:", r.rps);
    for (name, p) in [
        ("alone", &r.alone),
        ("beside two 8 MiB batch clients", &r.beside_batches),
    ] {
        println!(
            "  {name:<32} p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms  ({} requests)",
            p.latency.p50_ms, p.latency.p99_ms, p.latency.max_ms, p.requests
        );
    }
    println!(
        "  batches answered meanwhile: {} ({:.2} s each on average; their clients at nice {})",
        r.beside_batches.batches, r.beside_batches.batch_seconds_mean, r.batch_nice
    );
    println!(
        "  memory: {:.0} MiB before the batches, {:.0} MiB at the peak beside them",
        r.rss_before_mib, r.peak_rss_mib
    );
    let p99 = r.beside_batches.latency.p99_ms;
    let verdict = if p99 <= P99_BUDGET_MS {
        "within"
    } else {
        "over"
    };
    println!("  p99 beside batches {p99:.2} ms: {verdict} the {P99_BUDGET_MS} ms bar");
}
