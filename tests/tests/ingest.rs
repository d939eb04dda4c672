//! Metric ingest over a real agent connection: every batch is acknowledged, and only after
//! the points are committed (the benchmark's own path, at a small size).

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_batch_is_acknowledged_after_commit() {
    let report = drover::cli::bench_ingest::ingest(4_000, 500)
        .await
        .expect("ingest runs");
    assert_eq!((report.points, report.batch), (4_000, 500));
    assert!(report.end_to_end_points_per_sec > 0.0 && report.direct_points_per_sec > 0.0);
}
