//! Running an assigned training job: fetch the dataset by hash over QUIC (verified, cached in
//! the state dir), train off the async threads while reporting each trial, upload the model
//! artifact (verified by the coordinator), then report the outcome. A failure, or a panic in
//! the learner, becomes a failed outcome with its reason; the agent keeps running. A cancelled
//! job stops its learners and reports that it ended only once its thread has returned, so its
//! slot is free only when its work has really stopped.

use std::path::{Path, PathBuf};
use std::time::Instant;

use drover_ml::table;
use drover_protocol::bulk;
use drover_protocol::conn::open_bi;
use drover_protocol::hash::ContentHash;
use drover_protocol::msg::AgentReport;
use drover_protocol::run::{
    AgentRequest, AgentResponse, JobAssignment, JobOutcome, JobSuccess, MetricPoint,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::train;
use crate::train::stop::Stop;

/// Starts jobs for one agent; datasets are cached under `cache_dir` by hash.
#[derive(Clone)]
pub struct Runner {
    cache_dir: PathBuf,
}

impl Runner {
    pub fn new(state_dir: &Path) -> Self {
        Self {
            cache_dir: state_dir.join("cache"),
        }
    }

    /// Runs `job` in the background; its progress and outcome go to `reports`. When `cancel`
    /// fires the training is stopped, and once it has returned the job reports that it ended
    /// as cancelled.
    pub fn start(
        &self,
        conn: quinn::Connection,
        job: JobAssignment,
        reports: mpsc::Sender<AgentReport>,
        cancel: CancellationToken,
    ) {
        let runner = self.clone();
        tokio::spawn(async move {
            let run_id = job.run_id.clone();
            tracing::info!(run = %run_id, dataset = %job.dataset.name, "job started");
            let began = Instant::now();
            let _running = Running::start();
            let stop = Stop::default();
            // Whatever ends this task (a cancel, the session, the runtime), the training
            // thread stops with it.
            let _stop_on_exit = stop.on_drop();
            let work = runner.run(&conn, job, reports.clone(), stop.clone());
            tokio::pin!(work);
            let outcome = tokio::select! {
                outcome = &mut work => outcome,
                _ = cancel.cancelled() => {
                    stop.stop();
                    let started = Instant::now();
                    let _ = (&mut work).await;
                    tracing::info!(run = %run_id, stopped_in_ms = started.elapsed().as_millis() as u64, "cancelled job stopped");
                    finished("cancelled", began);
                    let _ = reports.send(AgentReport::JobFinished {
                        run_id,
                        outcome: JobOutcome::Failed { reason: CANCELLED.into() },
                    }).await;
                    return;
                }
            };
            finished(
                match &outcome {
                    JobOutcome::Succeeded(_) => "succeeded",
                    JobOutcome::Failed { .. } => "failed",
                    JobOutcome::Searched { .. } => "searched",
                },
                began,
            );
            match &outcome {
                JobOutcome::Succeeded(s) => {
                    tracing::info!(run = %run_id, artifact = %s.artifact_hash, "job succeeded")
                }
                JobOutcome::Failed { reason } => {
                    tracing::warn!(run = %run_id, %reason, "job failed")
                }
                JobOutcome::Searched { trials } => {
                    tracing::info!(run = %run_id, trials, "search share done")
                }
            }
            let _ = reports
                .send(AgentReport::JobFinished { run_id, outcome })
                .await;
        });
    }

    async fn run(
        &self,
        conn: &quinn::Connection,
        job: JobAssignment,
        reports: mpsc::Sender<AgentReport>,
        stop: Stop,
    ) -> JobOutcome {
        self.try_run(conn, job, reports, stop)
            .await
            .unwrap_or_else(|reason| JobOutcome::Failed { reason })
    }

    async fn try_run(
        &self,
        conn: &quinn::Connection,
        job: JobAssignment,
        reports: mpsc::Sender<AgentReport>,
        stop: Stop,
    ) -> Result<JobOutcome, String> {
        let started = Instant::now();
        let path = self
            .fetch(conn, &job.dataset.hash, job.dataset.size_bytes, "dataset")
            .await?;
        let baseline = match &job.baseline {
            Some(b) if !job.search_only => {
                let path = self
                    .fetch(conn, &b.artifact_hash, b.size_bytes, "production model")
                    .await?;
                let bytes =
                    std::fs::read(&path).map_err(|e| format!("reading {}: {e}", b.version))?;
                let artifact: train::ModelArtifact =
                    serde_json::from_slice(&bytes).map_err(|e| {
                        format!("the production model {} cannot be read: {e}", b.version)
                    })?;
                Some(artifact)
            }
            _ => None,
        };
        #[cfg(all(feature = "fault-injection", debug_assertions))]
        if let Some(ms) = job
            .spec
            .tags
            .get("drover.fault")
            .and_then(|f| f.strip_prefix("slow:"))
            .and_then(|ms| ms.parse().ok())
        {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
        let run_id = job.run_id.clone();
        let (spec, only, search_only) = (job.spec, job.trials, job.search_only);
        let done = tokio::task::spawn_blocking(move || {
            let bytes =
                std::fs::read(&path).map_err(|e| format!("reading the cached dataset: {e}"))?;
            let table = table::parse(&bytes).map_err(|e| format!("dataset: {e}"))?;
            #[cfg(all(feature = "fault-injection", debug_assertions))]
            if spec.tags.get("drover.fault").is_some_and(|f| f == "panic") {
                panic!("injected fault: the learner panicked");
            }
            let mut report = |trial: &drover_protocol::run::Trial| {
                let at_ms = drover_protocol::types::unix_ms();
                let points = trial
                    .mean
                    .iter()
                    .map(|(key, value)| MetricPoint {
                        key: format!("cv_{key}"),
                        step: trial.trial.into(),
                        value: *value,
                        at_ms,
                    })
                    .collect();
                let batch = AgentReport::MetricBatch {
                    run_id: run_id.clone(),
                    seq: trial.trial.into(),
                    points,
                };
                let _ = reports.blocking_send(batch);
                metrics::counter!("drover_agent_trials_total").increment(1);
                let _ = reports.blocking_send(AgentReport::JobProgress {
                    run_id: run_id.clone(),
                    trial: trial.clone(),
                });
            };
            let only = only.as_deref();
            if search_only {
                train::search(&spec, &table, only, &mut report, &stop)
                    .map(|trials| Done::Searched(trials.len() as u32))
            } else {
                train::train(&spec, &table, baseline.as_ref(), only, &mut report, &stop)
                    .map(|trained| Done::Trained(Box::new(trained)))
            }
            .map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| match e.try_into_panic() {
            Ok(panic) => format!("training panicked: {}", panic_message(&panic)),
            Err(e) => format!("training was interrupted: {e}"),
        })??;
        let trained = match done {
            Done::Searched(trials) => return Ok(JobOutcome::Searched { trials }),
            Done::Trained(trained) => trained,
        };
        put_artifact(conn, &trained.artifact_hash, &trained.artifact).await?;
        let best = &trained.trials[trained.best];
        Ok(JobOutcome::Succeeded(JobSuccess {
            best_trial: best.trial,
            params: best.params.clone(),
            test_metrics: trained.test_metrics,
            artifact_hash: trained.artifact_hash,
            artifact_bytes: trained.artifact.len() as u64,
            rows_train: trained.rows_train as u64,
            rows_test: trained.rows_test as u64,
            duration_ms: started.elapsed().as_millis() as u64,
        }))
    }

    /// The artifact (`what`: the dataset, a model) with `hash`, from the cache or fetched and
    /// verified.
    async fn fetch(
        &self,
        conn: &quinn::Connection,
        hash: &ContentHash,
        size: u64,
        what: &str,
    ) -> Result<PathBuf, String> {
        fetch_artifact(conn, &self.cache_dir, hash, Some(size), what).await
    }
}

/// Most bytes an artifact of unannounced size may have.
const MAX_UNSIZED: u64 = 1 << 30;

/// The artifact (`what`) with `hash` from `cache_dir`, or fetched from the coordinator,
/// verified against its hash (and `size` when known) and cached there.
pub async fn fetch_artifact(
    conn: &quinn::Connection,
    cache_dir: &Path,
    hash: &ContentHash,
    size: Option<u64>,
    what: &str,
) -> Result<PathBuf, String> {
    let path = cache_dir.join(hash.as_str());
    if let Ok(bytes) = std::fs::read(&path)
        && ContentHash::of(&bytes) == *hash
    {
        return Ok(path);
    }
    std::fs::create_dir_all(cache_dir).map_err(|e| format!("creating the cache: {e}"))?;
    let (mut send, mut recv) = open_bi(conn).await.map_err(|e| e.to_string())?;
    send.send(&AgentRequest::FetchArtifact { hash: hash.clone() })
        .await
        .map_err(|e| e.to_string())?;
    send.finish();
    let len = match recv
        .expect::<AgentResponse>()
        .await
        .map_err(|e| e.to_string())?
    {
        AgentResponse::Artifact { len } if size.map_or(len <= MAX_UNSIZED, |s| s == len) => len,
        AgentResponse::Artifact { len } => {
            return Err(match size {
                Some(size) => format!("the {what} is {len} bytes, expected {size}"),
                None => format!("the {what} is {len} bytes, more than {MAX_UNSIZED}"),
            });
        }
        AgentResponse::Error(e) => return Err(format!("fetching the {what}: {e}")),
        AgentResponse::Stored => return Err("unexpected answer to a fetch".into()),
    };
    let temp = cache_dir.join(format!("{hash}.part"));
    let mut file =
        std::io::BufWriter::new(std::fs::File::create(&temp).map_err(|e| e.to_string())?);
    let got = bulk::receive(recv, len, &mut |chunk| {
        std::io::Write::write_all(&mut file, chunk)
    })
    .await
    .map_err(|e| format!("fetching the {what}: {e}"))?;
    drop(file);
    if got != *hash {
        let _ = std::fs::remove_file(&temp);
        return Err(format!(
            "the {what} does not verify: expected BLAKE3 {hash}, got {got}"
        ));
    }
    std::fs::rename(&temp, &path).map_err(|e| e.to_string())?;
    Ok(path)
}

/// Uploads an artifact; the coordinator stores it only if the bytes hash to `hash`.
pub async fn put_artifact(
    conn: &quinn::Connection,
    hash: &ContentHash,
    bytes: &[u8],
) -> Result<(), String> {
    let (mut send, mut recv) = open_bi(conn).await.map_err(|e| e.to_string())?;
    send.send(&AgentRequest::PutArtifact {
        hash: hash.clone(),
        len: bytes.len() as u64,
    })
    .await
    .map_err(|e| e.to_string())?;
    for chunk in bytes.chunks(256 * 1024) {
        if send.send_raw(chunk).await.is_err() {
            break;
        }
    }
    send.finish();
    match recv
        .expect::<AgentResponse>()
        .await
        .map_err(|e| format!("uploading the model: {e}"))?
    {
        AgentResponse::Stored => Ok(()),
        AgentResponse::Error(e) => Err(format!("uploading the model: {e}")),
        AgentResponse::Artifact { .. } => Err("unexpected answer to an upload".into()),
    }
}

/// The reason a cancelled job reports when its work has stopped.
pub const CANCELLED: &str = "cancelled";

/// What the training thread produced.
enum Done {
    Searched(u32),
    Trained(Box<train::Trained>),
}

/// Counts a job as running while it lives (the `drover_agent_jobs_running` gauge).
struct Running;

impl Running {
    fn start() -> Self {
        metrics::counter!("drover_agent_jobs_started_total").increment(1);
        metrics::gauge!("drover_agent_jobs_running").increment(1.0);
        Running
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        metrics::gauge!("drover_agent_jobs_running").decrement(1.0);
    }
}

/// Records how a job ended and how long it took.
fn finished(outcome: &'static str, began: Instant) {
    metrics::counter!("drover_agent_jobs_finished_total", "outcome" => outcome).increment(1);
    metrics::histogram!("drover_agent_job_seconds").record(began.elapsed().as_secs_f64());
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}
