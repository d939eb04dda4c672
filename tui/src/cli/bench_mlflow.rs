//! `drover bench mlflow`: `log-batch` ingest, `runs/search`, `logged-models/search` and
//! `registered-models/search` through drover's MLflow API,
//! next to the reference `mlflow server` with a SQLite backend measured in the same run by the
//! same Python client (when that Python has the `mlflow` package).

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use drover_coordinator::{Coordinator, CoordinatorOptions};

const SCRIPT: &str = include_str!("mlflow_load.py");

/// One server's figures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Load {
    pub points: usize,
    pub points_per_second: f64,
    pub search_filtered_seconds: f64,
    pub search_filtered_runs: usize,
    pub search_all_seconds: f64,
    pub search_all_runs: usize,
    /// A filtered, ordered logged-model search over `entries` models.
    pub logged_search_seconds: f64,
    pub logged_search_models: usize,
    /// A name-pattern registered-model search over `entries` models.
    pub registered_search_seconds: f64,
    pub registered_search_models: usize,
    pub entries: usize,
}

/// drover's figures and, when it ran, the reference server's.
#[derive(Debug, Serialize)]
pub struct MlflowReport {
    pub drover: Load,
    pub mlflow: Option<Load>,
    pub mlflow_error: Option<String>,
}

fn load(
    python: &Path,
    script: &Path,
    uri: &str,
    points: usize,
    runs: usize,
) -> anyhow::Result<Load> {
    super::script_json(
        Command::new(python)
            .arg(script)
            .arg(uri)
            .arg(points.to_string())
            .arg(runs.to_string()),
    )
}

/// The reference server on a free loopback port with a SQLite store in `dir`.
struct Reference(Child);

impl Drop for Reference {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn reference(python: &Path, dir: &Path) -> anyhow::Result<(Reference, String)> {
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let child = Command::new(python)
        .args(["-m", "mlflow", "server", "--host", "127.0.0.1", "--port"])
        .arg(port.to_string())
        .arg("--backend-store-uri")
        .arg(format!("sqlite:///{}", dir.join("mlflow.db").display()))
        .arg("--artifacts-destination")
        .arg(dir.join("artifacts"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting mlflow server")?;
    let mut server = Reference(child);
    let uri = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(180);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok((server, uri));
        }
        if let Some(status) = server.0.try_wait()? {
            bail!(
                "mlflow server exited ({status}); does {} have the full mlflow package?",
                python.display()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    bail!("mlflow server did not listen within 180 s")
}

/// Measures drover, then `mlflow server`, with the same client and the same work.
pub async fn run(python: &Path, points: usize, runs: usize) -> anyhow::Result<MlflowReport> {
    let tmp = std::env::temp_dir().join(format!("drover-bench-mlflow-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let script = tmp.join("mlflow_load.py");
    std::fs::write(&script, SCRIPT)?;
    let coordinator = Coordinator::start(CoordinatorOptions {
        data_dir: tmp.join("coordinator"),
        listen: "127.0.0.1:0".parse()?,
        http: "127.0.0.1:0".parse()?,
        advertise: None,
        heartbeat_interval: Duration::from_secs(1),
        max_connections: 16,
        http_tls: None,
        monitoring: Default::default(),
        reports: Default::default(),
    })
    .await?;
    let uri = format!("http://{}", coordinator.http_addr());
    let (python_path, script_path) = (python.to_path_buf(), script.clone());
    let drover =
        tokio::task::spawn_blocking(move || load(&python_path, &script_path, &uri, points, runs))
            .await??;
    coordinator.stop().await;
    eprintln!("drover: {:.0} points/s", drover.points_per_second);

    let (python_path, dir) = (python.to_path_buf(), tmp.join("mlflow"));
    let mlflow = tokio::task::spawn_blocking(move || -> anyhow::Result<Load> {
        std::fs::create_dir_all(&dir)?;
        let (_server, uri) = reference(&python_path, &dir)?;
        load(&python_path, &script, &uri, points, runs)
    })
    .await?;
    let _ = std::fs::remove_dir_all(&tmp);
    let (mlflow, mlflow_error) = match mlflow {
        Ok(load) => (Some(load), None),
        Err(e) => (None, Some(format!("{e:#}"))),
    };
    Ok(MlflowReport {
        drover,
        mlflow,
        mlflow_error,
    })
}

/// Prints both servers' figures and the ratios.
pub fn print(report: &MlflowReport) {
    let d = &report.drover;
    println!("MLflow API, one Python client, same run");
    println!(
        "log-batch ingest ({} points in batches of 1,000): drover {:.0} points/s",
        d.points, d.points_per_second
    );
    println!(
        "runs/search over {} runs: drover filtered {:.2} ms ({} runs), all {:.2} ms",
        d.search_all_runs,
        d.search_filtered_seconds * 1e3,
        d.search_filtered_runs,
        d.search_all_seconds * 1e3
    );
    println!(
        "over {} logged and {} registered models: drover logged-models/search {:.2} ms ({} found), registered-models/search {:.2} ms ({} found)",
        d.entries,
        d.entries,
        d.logged_search_seconds * 1e3,
        d.logged_search_models,
        d.registered_search_seconds * 1e3,
        d.registered_search_models
    );
    match (&report.mlflow, &report.mlflow_error) {
        (Some(m), _) => {
            println!(
                "mlflow server (SQLite): {:.0} points/s, filtered {:.2} ms, all {:.2} ms",
                m.points_per_second,
                m.search_filtered_seconds * 1e3,
                m.search_all_seconds * 1e3
            );
            println!(
                "mlflow server: logged-models/search {:.2} ms ({} found), registered-models/search {:.2} ms ({} found)",
                m.logged_search_seconds * 1e3,
                m.logged_search_models,
                m.registered_search_seconds * 1e3,
                m.registered_search_models
            );
            println!(
                "drover vs mlflow server: ingest {:.1}x, filtered search {:.1}x, full search {:.1}x, logged-model search {:.1}x, registered-model search {:.1}x faster",
                d.points_per_second / m.points_per_second.max(1e-9),
                m.search_filtered_seconds / d.search_filtered_seconds.max(1e-9),
                m.search_all_seconds / d.search_all_seconds.max(1e-9),
                m.logged_search_seconds / d.logged_search_seconds.max(1e-9),
                m.registered_search_seconds / d.registered_search_seconds.max(1e-9)
            );
        }
        (None, Some(e)) => println!("mlflow server did not run: {e}"),
        (None, None) => {}
    }
}
