//! `drover bench serve`: single-row predictions of a 20-feature logistic regression through
//! the agent's prediction API, next to a bare hyper server answering a fixed JSON body, both
//! loaded by `drover load`'s engine at the same concurrency in the same run; then the same
//! model behind a 90/10 split with a shadow version, to price the split and the shadow, and
//! the model without its reference profile, to price the drift sketch. The
//! servers run on one runtime thread and the load generator on another, so that neither
//! steals the other's core and runs compare. The three targets take turns for several rounds,
//! and each ratio is taken within a round, so that a machine slowing down over the run shows
//! as spread instead of skewing one target.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use drover_agent::serve::catalog::Catalog;
use drover_agent::serve::model::Served;
use drover_protocol::hash::ContentHash;
use drover_protocol::serve::{Deployment, Variant};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde_json::json;

use super::bench_proc::{clock_ticks, thread_cpu_seconds};
use super::load::{Format, Load, LoadReport, Target, drive, prepare};

/// The issue's bar: at least this share of the bare server's requests per second.
const RATIO_BUDGET: f64 = 0.7;
/// The issue's bar for the model's p99, milliseconds.
const P99_BUDGET_MS: f64 = 5.0;
/// The split, the shadow and the windows may cost at most 10% of the throughput.
const SPLIT_BUDGET: f64 = 0.9;
/// Sketching inputs and predictions for drift may cost at most 5% of it.
const SKETCH_BUDGET: f64 = 0.95;
/// The names of the servers' and the load generator's runtime threads.
const SERVER_THREAD: &str = "bench-server";
const GENERATOR_THREAD: &str = "bench-load";

/// One target loaded once: what the load saw, and how busy each side's thread was (a side
/// near 100% is the limit; the generator must not be).
#[derive(Debug, Serialize)]
pub struct Phase {
    #[serde(flatten)]
    pub load: LoadReport,
    pub server_busy_percent: f64,
    pub generator_busy_percent: f64,
}

/// What one round measured: each target loaded in turn.
#[derive(Debug, Serialize)]
pub struct Round {
    pub bare: Phase,
    /// The model without its reference profile: no drift sketch.
    pub unsketched: Phase,
    pub model: Phase,
    pub split_and_shadow: Phase,
}

/// What one serving benchmark measured.
#[derive(Debug, Serialize)]
pub struct ServeReport {
    pub concurrency: usize,
    pub rounds: Vec<Round>,
}

/// A server that answers every request with the same small JSON body.
async fn bare() -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    |request: hyper::Request<hyper::body::Incoming>| async move {
                        let _ = request.into_body().collect().await;
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(
                        br#"{"outputs":[{"name":"predict","shape":[1],"datatype":"INT64","data":[1]}]}"#,
                    ))))
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(addr)
}

/// The agent's HTTP listener serving `catalog`, as `drover-agent run` starts it on loopback.
async fn serving(catalog: Arc<Catalog>) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (_, connected) = tokio::sync::watch::channel(true);
    tokio::spawn(drover_agent::http::serve(
        listener,
        connected,
        catalog,
        drover_agent::http::Access::default(),
        tokio_util::sync::CancellationToken::new(),
    ));
    Ok(addr)
}

/// A logistic regression trained on 20 synthetic features, as artifact bytes.
pub(super) fn model() -> anyhow::Result<Vec<u8>> {
    let csv = super::bench_train::synthetic(5_000, 20);
    let table = drover_ml::table::parse(csv.as_bytes())?;
    let spec = super::bench_train::spec("label", "logistic_regression")?;
    let trained = drover_agent::train::train(
        &spec,
        &table,
        None,
        None,
        &mut |_| {},
        &drover_agent::train::stop::Stop::default(),
    )?;
    Ok(trained.artifact)
}

/// The artifact with its reference profile taken out: served, it sketches nothing.
fn without_reference(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut artifact: serde_json::Value = serde_json::from_slice(bytes)?;
    if let Some(object) = artifact.as_object_mut() {
        object.remove("reference");
    }
    Ok(serde_json::to_vec(&artifact)?)
}

/// A runtime with one worker thread, named for profilers.
fn one_thread(name: &str) -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(name)
        .enable_all()
        .build()?)
}

/// Runs the benchmark: each target loaded for `window` by `concurrency` connections, in turn,
/// `rounds` times.
pub async fn run(
    concurrency: usize,
    window: Duration,
    rounds: usize,
) -> anyhow::Result<ServeReport> {
    let (servers, generator) = (one_thread(SERVER_THREAD)?, one_thread(GENERATOR_THREAD)?);
    let report = measure(&servers, &generator, concurrency, window, rounds.max(1)).await;
    servers.shutdown_background();
    generator.shutdown_background();
    report
}

async fn measure(
    servers: &tokio::runtime::Runtime,
    generator: &tokio::runtime::Runtime,
    concurrency: usize,
    window: Duration,
    rounds: usize,
) -> anyhow::Result<ServeReport> {
    eprintln!("training a 20-feature logistic regression");
    let bytes = tokio::task::spawn_blocking(model).await??;
    let single = Arc::new(Catalog::default());
    let sketched = Served::load("bench", 1, &bytes).map_err(anyhow::Error::msg)?;
    anyhow::ensure!(
        sketched.sketch.is_some(),
        "the model has no reference profile"
    );
    single.load(sketched);
    let plain = Arc::new(Catalog::default());
    plain.load(Served::load("bench", 1, &without_reference(&bytes)?).map_err(anyhow::Error::msg)?);
    let split = Arc::new(Catalog::default());
    for version in [1, 2, 3] {
        split.load(Served::load("bench", version, &bytes).map_err(anyhow::Error::msg)?);
    }
    let variant = |version, weight, shadow| Variant {
        version,
        artifact_hash: ContentHash::of(&bytes),
        weight,
        shadow,
    };
    split.route(&[Deployment {
        model: "bench".into(),
        variants: vec![
            variant(1, 90, false),
            variant(2, 10, false),
            variant(3, 0, true),
        ],
        selector: Default::default(),
        updated_ms: 0,
    }]);
    let inputs: Vec<(String, bool)> = (0..20).map(|i| (format!("x{i}"), true)).collect();
    let row: Vec<serde_json::Value> = (0..20).map(|i| json!(f64::from(i) / 10.0 - 1.0)).collect();
    let load = |target: &Arc<Target>, key: bool| Load {
        target: target.clone(),
        model: "bench".into(),
        requests: (0..64)
            .map(|i| {
                prepare(
                    Format::Oip,
                    "bench",
                    &inputs,
                    &row,
                    key.then(|| format!("user-{i}")),
                )
            })
            .collect(),
        concurrency,
        rps: None,
        duration: window,
        progress: false,
    };
    let target = |address: SocketAddr| Target::plain(address.to_string()).map(Arc::new);
    let bare = target(servers.spawn(bare()).await??)?;
    let single = target(servers.spawn(serving(single)).await??)?;
    let plain = target(servers.spawn(serving(plain)).await??)?;
    let split = target(servers.spawn(serving(split)).await??)?;
    eprintln!("warming up each target for 1s");
    for (address, key) in [
        (&bare, false),
        (&plain, false),
        (&single, false),
        (&split, true),
    ] {
        let warm = Load {
            duration: Duration::from_secs(1),
            ..load(address, key)
        };
        generator.spawn(drive(warm)).await??;
    }
    let mut measured = Vec::with_capacity(rounds);
    for round in 1..=rounds {
        eprintln!(
            "round {round} of {rounds}: the bare server, the model unsketched, the model, the split, {}s each",
            window.as_secs()
        );
        measured.push(Round {
            bare: phase(generator, load(&bare, false)).await?,
            unsketched: phase(generator, load(&plain, false)).await?,
            model: phase(generator, load(&single, false)).await?,
            split_and_shadow: phase(generator, load(&split, true)).await?,
        });
    }
    Ok(ServeReport {
        concurrency,
        rounds: measured,
    })
}

/// Drives `load` on the generator's thread and measures both threads' CPU meanwhile.
async fn phase(generator: &tokio::runtime::Runtime, load: Load) -> anyhow::Result<Phase> {
    let ticks = clock_ticks();
    let cpu = || -> anyhow::Result<(f64, f64)> {
        Ok((
            thread_cpu_seconds(SERVER_THREAD, ticks)?,
            thread_cpu_seconds(GENERATOR_THREAD, ticks)?,
        ))
    };
    let before = cpu()?;
    let report = generator.spawn(drive(load)).await??;
    let after = cpu()?;
    let busy = |used: f64| 100.0 * used / report.seconds.max(0.001);
    Ok(Phase {
        server_busy_percent: busy(after.0 - before.0),
        generator_busy_percent: busy(after.1 - before.1),
        load: report,
    })
}

/// The median of `values`, and their least and greatest.
fn spread(mut values: Vec<f64>) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    let median = values.get(values.len() / 2).copied().unwrap_or(0.0);
    let least = values.first().copied().unwrap_or(0.0);
    let greatest = values.last().copied().unwrap_or(0.0);
    (median, least, greatest)
}

/// Prints each round's targets, then each ratio's median and range over the rounds against
/// its budget.
pub fn print(r: &ServeReport) {
    let line = |name: &str, p: &Phase| {
        let l = &p.load;
        let failed: u64 = l
            .statuses
            .iter()
            .filter(|(s, _)| **s != 200)
            .map(|(_, n)| n)
            .sum();
        println!(
            "  {name:<26} {:>9.0} req/s  p50 {:>5.2} ms  p99 {:>5.2} ms  busy: server {:>3.0}%, generator {:>3.0}%  ({} requests, {failed} failed)",
            l.requests_per_second,
            l.latency.p50_ms,
            l.latency.p99_ms,
            p.server_busy_percent,
            p.generator_busy_percent,
            l.requests
        );
    };
    println!(
        "serving benchmark: single-row OIP requests, {} connections; servers on one thread, the load generator on another",
        r.concurrency
    );
    for (i, round) in r.rounds.iter().enumerate() {
        println!("round {}", i + 1);
        line("bare hyper, fixed body", &round.bare);
        line("model without sketch", &round.unsketched);
        line("logistic regression (20)", &round.model);
        line("90/10 split + shadow", &round.split_and_shadow);
    }
    let of = |f: fn(&Round) -> f64| spread(r.rounds.iter().map(f).collect());
    fn rps(l: &LoadReport) -> f64 {
        l.requests_per_second.max(1.0)
    }
    let (ratio, ratio_min, ratio_max) =
        of(|x| x.model.load.requests_per_second / rps(&x.bare.load));
    // Requests per second of the server thread's CPU: what each server could answer if
    // nothing else limited it. The generator nears its limit against the bare server, which
    // then answers fewer than it could, so the plain ratio flatters the model.
    fn capacity(p: &Phase) -> f64 {
        p.load.requests_per_second / (p.server_busy_percent / 100.0).max(0.01)
    }
    let (per_cpu, per_cpu_min, per_cpu_max) =
        of(|x| capacity(&x.model) / capacity(&x.bare).max(1.0));
    let (p99, p99_min, p99_max) = of(|x| x.model.load.latency.p99_ms);
    let (split, split_min, split_max) =
        of(|x| x.split_and_shadow.load.requests_per_second / rps(&x.model.load));
    let (sketch, sketch_min, sketch_max) =
        of(|x| x.model.load.requests_per_second / rps(&x.unsketched.load));
    println!("over {} rounds (median, range):", r.rounds.len());
    println!(
        "  model / bare        {ratio:.2}x ({ratio_min:.2}-{ratio_max:.2})  budget at least {RATIO_BUDGET}x"
    );
    println!(
        "  model / bare, per server CPU second {per_cpu:.2}x ({per_cpu_min:.2}-{per_cpu_max:.2})  the fairer ratio when the generator is busier than the bare server"
    );
    println!(
        "  model p99           {p99:.2} ms ({p99_min:.2}-{p99_max:.2})  budget under {P99_BUDGET_MS} ms"
    );
    println!(
        "  split+shadow / model {split:.2}x ({split_min:.2}-{split_max:.2})  budget at least {SPLIT_BUDGET}x"
    );
    println!(
        "  sketched / unsketched {sketch:.2}x ({sketch_min:.2}-{sketch_max:.2})  budget at least {SKETCH_BUDGET}x"
    );
}
