//! The coordinator's Prometheus endpoint, fetched over real HTTP.

use drover_tests::{InProcessAgent, http_get as get, ready_count, start_coordinator, wait_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_report_the_fleet_and_the_store() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let coordinator = start_coordinator(&tmp.path().join("coord")).await;
    let handle = coordinator.handle();
    let agent =
        InProcessAgent::join_and_run(&handle, tmp.path().join("agent"), "metrics-host").await;
    wait_for("ready agent", || async {
        (ready_count(&handle).await == 1).then_some(())
    })
    .await;
    let body = wait_for("heartbeats in the metrics", || async {
        let body = get(coordinator.http_addr(), "/metrics").await;
        body.contains("drover_heartbeat_lag_seconds")
            .then_some(body)
    })
    .await;
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    for name in [
        "drover_agents_connected",
        "drover_frames_received_total",
        "drover_heartbeat_lag_seconds",
        "drover_store_write_seconds_bucket",
    ] {
        assert!(body.contains(name), "{name} missing:\n{body}");
    }
    assert!(
        get(coordinator.http_addr(), "/healthz")
            .await
            .ends_with("ok\n")
    );

    // Training series: runs by status, trials, durations; the in-process agent's job
    // series share the process's recorder.
    drover_tests::add_dataset(
        &tmp.path().join("coord"),
        "churn",
        &drover_tests::churn_csv(200, 5),
    )
    .await;
    let run = drover_tests::submit(&handle, &drover_tests::quick_spec("metrics"))
        .await
        .expect("queued");
    drover_tests::finished(&handle, &run).await;
    let body = wait_for("the finished run in the metrics", || async {
        let body = get(coordinator.http_addr(), "/metrics").await;
        body.contains("drover_runs{status=\"succeeded\"} 1")
            .then_some(body)
    })
    .await;
    for name in [
        "drover_trials_total",
        "drover_runs_finished_total{status=\"succeeded\"} 1",
        "drover_run_duration_seconds_bucket",
        "drover_run_queue_wait_seconds_bucket",
        "drover_model_versions{stage=\"none\"}",
        "drover_agent_jobs_finished_total{outcome=\"succeeded\"} 1",
        "drover_agent_trials_total",
        "drover_agent_connected 1",
    ] {
        assert!(body.contains(name), "{name} missing:\n{body}");
    }
    agent.stop().await.expect("clean stop");
    coordinator.stop().await;
}
