//! One agent flooding the coordinator with large metric batches: the ingest queue is bounded,
//! so the session waits for the store and the coordinator's memory stays bounded; every
//! batch is still stored and acknowledged. Alone in its test binary, so that the peak memory
//! it reads is this flood's.

use drover_protocol::msg::AgentReport;
use drover_protocol::run::MetricPoint;
use drover_tests::raw_agent::RawAgent;
use drover_tests::{coordinator_with_churn, quick_spec, submit};

/// Peak resident memory of this process, in MiB.
fn peak_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .expect("VmHWM")
        / 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metric_flood_is_paced_by_the_store_in_bounded_memory() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (coordinator, data) = coordinator_with_churn(tmp.path()).await;
    let mut agent = RawAgent::join(&coordinator, &data, tmp.path(), "flood").await;
    let run = submit(&coordinator.handle(), &quick_spec("flood"))
        .await
        .expect("queued");
    agent.next_job().await;
    let before = peak_mib();
    const BATCHES: u64 = 100;
    const POINTS: u64 = 30_000;
    let key = "k".repeat(24);
    let sender = {
        let mut send = agent.send;
        let run = run.clone();
        tokio::spawn(async move {
            for seq in 1..=BATCHES {
                let points = (0..POINTS)
                    .map(|step| MetricPoint {
                        key: key.clone(),
                        step: seq * POINTS + step,
                        value: 0.5,
                        at_ms: 1,
                    })
                    .collect();
                let batch = AgentReport::MetricBatch {
                    run_id: run.clone(),
                    seq,
                    points,
                };
                send.send(&batch).await.expect("batch");
            }
            send
        })
    };
    let mut acked = 0;
    while acked < BATCHES {
        match agent
            .recv
            .recv::<drover_protocol::msg::AgentCommand>()
            .await
        {
            Ok(Some(drover_protocol::msg::AgentCommand::MetricsAck { .. })) => acked += 1,
            other => panic!("{other:?}"),
        }
    }
    let _send = sender.await.expect("sender");
    let grown = peak_mib().saturating_sub(before);
    let stored = drover_tests::metric_history(&data, &run, &"k".repeat(24))
        .await
        .len() as u64;
    assert_eq!(stored, BATCHES * POINTS);
    eprintln!("peak memory grew by {grown} MiB during the flood");
    // Unbounded, this flood grew the process by about 200 MiB; bounded, by about 120.
    assert!(grown < 160, "the flood grew the process by {grown} MiB");
    coordinator.stop().await;
}
