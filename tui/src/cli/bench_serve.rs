//! `drover bench serve`: single-row predictions of a 20-feature logistic regression through
//! the agent's prediction API, next to a bare hyper server answering a fixed JSON body, both
//! loaded by `drover load`'s engine at the same concurrency in the same run; then the same
//! model behind a 90/10 split with a shadow version, to price the split and the shadow. The
//! servers run on one runtime thread and the load generator on another, so that neither
//! steals the other's core and runs compare.

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

use super::load::{Format, Load, LoadReport, drive, prepare};

/// The issue's bar: at least this share of the bare server's requests per second.
const RATIO_BUDGET: f64 = 0.7;
/// The issue's bar for the model's p99, milliseconds.
const P99_BUDGET_MS: f64 = 5.0;

/// What one serving benchmark measured.
#[derive(Debug, Serialize)]
pub struct ServeReport {
    pub concurrency: usize,
    pub bare: LoadReport,
    pub model: LoadReport,
    pub split_and_shadow: LoadReport,
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

/// The prediction API over `catalog`.
async fn serving(catalog: Arc<Catalog>) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, drover_agent::serve::routes::router(catalog)).await;
    });
    Ok(addr)
}

/// A logistic regression trained on 20 synthetic features, as artifact bytes.
fn model() -> anyhow::Result<Vec<u8>> {
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

/// A runtime with one worker thread, named for profilers.
fn one_thread(name: &str) -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(name)
        .enable_all()
        .build()?)
}

/// Runs the benchmark: each target loaded for `window` by `concurrency` connections.
pub async fn run(concurrency: usize, window: Duration) -> anyhow::Result<ServeReport> {
    let (servers, generator) = (one_thread("bench-server")?, one_thread("bench-load")?);
    let report = measure(&servers, &generator, concurrency, window).await;
    servers.shutdown_background();
    generator.shutdown_background();
    report
}

async fn measure(
    servers: &tokio::runtime::Runtime,
    generator: &tokio::runtime::Runtime,
    concurrency: usize,
    window: Duration,
) -> anyhow::Result<ServeReport> {
    eprintln!("training a 20-feature logistic regression");
    let bytes = tokio::task::spawn_blocking(model).await??;
    let single = Arc::new(Catalog::default());
    single.load(Served::load("bench", 1, &bytes).map_err(anyhow::Error::msg)?);
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
    let load = |address: SocketAddr, key: bool| Load {
        address: address.to_string(),
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
    let bare = servers.spawn(bare()).await??;
    let single = servers.spawn(serving(single)).await??;
    let split = servers.spawn(serving(split)).await??;
    eprintln!("loading the bare server for {}s", window.as_secs());
    let bare = generator.spawn(drive(load(bare, false))).await??;
    eprintln!("loading the model for {}s", window.as_secs());
    let model = generator.spawn(drive(load(single, false))).await??;
    eprintln!(
        "loading the 90/10 split with a shadow for {}s",
        window.as_secs()
    );
    let split_and_shadow = generator.spawn(drive(load(split, true))).await??;
    Ok(ServeReport {
        concurrency,
        bare,
        model,
        split_and_shadow,
    })
}

/// Prints each target with its ratio to the baseline and the budgets.
pub fn print(r: &ServeReport) {
    let line = |name: &str, l: &LoadReport| {
        let failed: u64 = l
            .statuses
            .iter()
            .filter(|(s, _)| **s != 200)
            .map(|(_, n)| n)
            .sum();
        println!(
            "  {name:<26} {:>9.0} req/s  p50 {:>5.2} ms  p99 {:>5.2} ms  ({} requests, {failed} failed)",
            l.requests_per_second, l.latency.p50_ms, l.latency.p99_ms, l.requests
        );
    };
    println!(
        "serving benchmark: single-row OIP requests, {} connections; servers on one thread, the load generator on another",
        r.concurrency
    );
    line("bare hyper, fixed body", &r.bare);
    line("logistic regression (20)", &r.model);
    line("90/10 split + shadow", &r.split_and_shadow);
    let ratio = r.model.requests_per_second / r.bare.requests_per_second.max(1.0);
    println!(
        "  model / bare {ratio:.2}x (budget {RATIO_BUDGET}x); model p99 {:.2} ms (budget {P99_BUDGET_MS} ms); split+shadow / model {:.2}x",
        r.model.latency.p99_ms,
        r.split_and_shadow.requests_per_second / r.model.requests_per_second.max(1.0)
    );
}
