//! An enrolled agent is still untrusted. These tests speak the wire protocol by hand with a
//! real agent certificate and perform the attacks of the security review: reading files
//! through the bulk stream, fetching what was never handed to it, finishing a run with a blob
//! it did not upload, and writing into runs that are not its own. Each is refused and logged.

use drover_protocol::conn::{FramedRecv, open_bi};
use drover_protocol::msg::{AgentReport, OperatorRequest, OperatorResponse};
use drover_protocol::run::{AgentResponse, JobOutcome, JobSuccess, MetricPoint, RunStatus, Trial};
use drover_tests::raw_agent::RawAgent;
use drover_tests::{
    coordinator_with_churn, finished, logs, metric_history, quick_spec, run_detail, submit,
};
use serde::Serialize;

/// The bulk request as an attacker writes it: any string where a hash belongs. bincode is
/// positional, so this encodes exactly like `AgentRequest`.
#[derive(Serialize)]
enum EvilRequest {
    FetchArtifact { hash: String },
}

/// Sends a fetch for `hash` (any string) and returns what came back, if anything decoded.
async fn fetch(conn: &quinn::Connection, hash: &str) -> Option<AgentResponse> {
    let (mut send, recv) = open_bi(conn).await.expect("stream");
    send.send(&EvilRequest::FetchArtifact { hash: hash.into() })
        .await
        .expect("frame");
    send.finish();
    answer(recv).await
}

async fn answer(mut recv: FramedRecv) -> Option<AgentResponse> {
    recv.expect::<AgentResponse>().await.ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_reads_no_file_and_no_blob_beyond_its_jobs() {
    let logs = logs::capture();
    let tmp = tempfile::tempdir().expect("tempdir");
    let (coordinator, data) = coordinator_with_churn(tmp.path()).await;
    let handle = coordinator.handle();
    let mut agent = RawAgent::join(&coordinator, &data, tmp.path(), "mallory").await;
    let id = agent.id.to_string();

    let ca_key = data.join("pki/ca.key");
    let targets = [
        ca_key.to_string_lossy().to_string(),
        "../pki/ca.key".to_string(),
        "../http.token".to_string(),
        "/etc/passwd".to_string(),
    ];
    for target in &targets {
        let got = fetch(&agent.conn, target).await;
        assert!(
            !matches!(got, Some(AgentResponse::Artifact { .. })),
            "{target}: {got:?}"
        );
    }
    assert!(
        logs.lines_with(&["bad bulk request", &id]).len() >= targets.len(),
        "every attempt is logged with the agent"
    );

    // A real blob, but not one handed to this agent.
    let dataset = match handle
        .request(OperatorRequest::ShowDataset(
            "churn".parse().expect("reference"),
        ))
        .await
    {
        OperatorResponse::Dataset(d) => d.hash,
        other => panic!("{other:?}"),
    };
    let refused = fetch(&agent.conn, &dataset).await;
    assert!(
        matches!(&refused, Some(AgentResponse::Error(e)) if e.contains("not part of a job")),
        "{refused:?}"
    );
    assert!(!logs.lines_with(&["refused a fetch", &id]).is_empty());

    // Once a job hands it the dataset, the agent may fetch it (and the transfer is logged).
    let run = submit(&handle, &quick_spec("attacks"))
        .await
        .expect("queued");
    let job = agent.next_job().await;
    assert_eq!(job.run_id, run);
    let got = fetch(&agent.conn, job.dataset.hash.as_str()).await;
    assert!(
        matches!(got, Some(AgentResponse::Artifact { len }) if len == job.dataset.size_bytes),
        "{got:?}"
    );
    assert!(
        !logs
            .lines_with(&["agent fetches an artifact", &id, "dataset"])
            .is_empty()
    );

    // Claiming an existing blob it did not upload as its model fails the run.
    agent
        .report(&AgentReport::JobFinished {
            run_id: run.clone(),
            outcome: JobOutcome::Succeeded(JobSuccess {
                best_trial: 1,
                params: Default::default(),
                test_metrics: [("accuracy".to_string(), 0.99)].into(),
                artifact_hash: job.dataset.hash.clone(),
                artifact_bytes: job.dataset.size_bytes,
                rows_train: 1,
                rows_test: 1,
                duration_ms: 1,
            }),
        })
        .await;
    let done = finished(&handle, &run).await;
    assert_eq!(done.summary.status, RunStatus::Failed);
    assert!(
        done.summary
            .error
            .as_deref()
            .is_some_and(|e| e.contains("not uploaded by this agent")),
        "{:?}",
        done.summary.error
    );
    assert_eq!(done.registered, None);
    coordinator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_about_runs_of_other_agents_are_refused() {
    let logs = logs::capture();
    let tmp = tempfile::tempdir().expect("tempdir");
    let (coordinator, data) = coordinator_with_churn(tmp.path()).await;
    let handle = coordinator.handle();
    let mut owner = RawAgent::join(&coordinator, &data, tmp.path(), "owner").await;
    let run = submit(&handle, &quick_spec("attacks"))
        .await
        .expect("queued");
    let job = owner.next_job().await;
    assert_eq!(job.run_id, run);
    let mut intruder = RawAgent::join(&coordinator, &data, tmp.path(), "intruder").await;

    let point = |value| MetricPoint {
        key: "cv_accuracy".into(),
        step: 1,
        value,
        at_ms: 1,
    };
    let fake = Trial {
        trial: 1,
        params: Default::default(),
        folds: vec![],
        mean: [("accuracy".to_string(), 0.999)].into(),
    };
    for target in [run.as_str(), "run-that-does-not-exist"] {
        intruder
            .report(&AgentReport::MetricBatch {
                run_id: target.into(),
                seq: 7,
                points: vec![point(0.999); 1000],
            })
            .await;
        intruder.acked(7).await;
        intruder
            .report(&AgentReport::JobProgress {
                run_id: target.into(),
                trial: fake.clone(),
            })
            .await;
    }
    intruder
        .report(&AgentReport::JobFinished {
            run_id: run.clone(),
            outcome: JobOutcome::Failed {
                reason: "forged".into(),
            },
        })
        .await;

    // The owner's own report still lands, and it is all the run holds.
    owner
        .report(&AgentReport::MetricBatch {
            run_id: run.clone(),
            seq: 1,
            points: vec![point(0.5)],
        })
        .await;
    owner.acked(1).await;
    let detail = run_detail(&handle, &run).await;
    assert_eq!(detail.summary.status, RunStatus::Running);
    assert!(detail.trials.is_empty(), "{:?}", detail.trials);
    let history = metric_history(&data, &run, "cv_accuracy").await;
    assert_eq!(history, vec![(1, 0.5)]);
    let stranger = metric_history(&data, "run-that-does-not-exist", "cv_accuracy").await;
    assert!(stranger.is_empty());
    assert!(
        !logs
            .lines_with(&[
                "refused a report about a run not assigned",
                &intruder.id.to_string()
            ])
            .is_empty()
    );
    owner.conn.close(0u32.into(), b"done");
    intruder.conn.close(0u32.into(), b"done");
    coordinator.stop().await;
}
