//! `drover bench ingest`: metric points per second from an agent connection into the store,
//! acknowledged only after commit (QUIC, frame decoding, the batching writer, SQLite), against
//! a baseline measured in the same run: the same points written straight into a store.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use drover_protocol::conn::open_bi;
use drover_protocol::msg::{
    AgentCommand, AgentHello, AgentReport, Hello, HelloOutcome, HelloReply, Intent,
    OperatorRequest, OperatorResponse,
};
use drover_protocol::run::MetricPoint;
use drover_protocol::types::{Capacity, Labels};
use drover_protocol::{DROVER_VERSION, PROTOCOL_VERSION, dial, tls};
use serde::Serialize;

use drover_coordinator::store::Store;
use drover_coordinator::{Coordinator, CoordinatorOptions};

/// What the ingest benchmark measured.
#[derive(Debug, Serialize)]
pub struct IngestReport {
    pub points: usize,
    pub batch: usize,
    pub end_to_end_points_per_sec: f64,
    pub direct_points_per_sec: f64,
}

fn points(count: usize, offset: usize) -> Vec<MetricPoint> {
    (0..count)
        .map(|i| MetricPoint {
            key: format!("loss_{}", i % 4),
            step: (offset + i) as u64,
            value: i as f64 * 0.001,
            at_ms: 1,
        })
        .collect()
}

/// Runs both measurements with `total` points in batches of `batch`.
pub async fn ingest(total: usize, batch: usize) -> anyhow::Result<IngestReport> {
    anyhow::ensure!(
        batch >= 1 && total >= batch,
        "--points must be at least --batch, and --batch at least 1"
    );
    let tmp = std::env::temp_dir().join(format!("drover-bench-ingest-{}", std::process::id()));
    let batches = total / batch;
    std::fs::create_dir_all(&tmp)?;

    let direct_path = tmp.join("direct.db");
    let direct = drover_coordinator::store::handle::blocking(move || {
        let store = Store::open(&direct_path).context("opening the baseline store")?;
        let started = Instant::now();
        for b in 0..batches {
            store.insert_points(&[("bench", &points(batch, b * batch))])?;
        }
        anyhow::Ok((batches * batch) as f64 / started.elapsed().as_secs_f64())
    })
    .await?;

    let options = CoordinatorOptions {
        data_dir: tmp.join("coordinator"),
        listen: "127.0.0.1:0".parse()?,
        http: "127.0.0.1:0".parse()?,
        advertise: None,
        heartbeat_interval: Duration::from_secs(1),
        max_connections: 16,
        http_tls: None,
        monitoring: Default::default(),
        reports: Default::default(),
    };
    let coordinator = Coordinator::start(options).await?;
    let handle = coordinator.handle();
    let OperatorResponse::Token(token) = handle
        .request(OperatorRequest::CreateToken {
            ttl_secs: 60,
            uses: 1,
        })
        .await
    else {
        bail!("could not create a token");
    };
    let addr = coordinator.quic_addr();
    let state = drover_agent::enroll::join(
        &token.token,
        &tmp.join("agent"),
        Some(&addr.to_string()),
        "bench",
    )
    .await?;
    let endpoint = dial::endpoint_for(addr)?;
    let conn = dial::connect(
        &endpoint,
        tls::client_config(&state.ca_pem, Some(&state.identity))?,
        addr,
    )
    .await?;
    let (mut send, mut recv) = open_bi(&conn).await?;
    let hello = AgentHello {
        hostname: "bench".into(),
        labels: Labels::new(),
        capacity: Capacity {
            cpus: 1,
            memory_bytes: 0,
            job_slots: 0,
        },
    };
    send.send(&Hello {
        proto_version: PROTOCOL_VERSION,
        drover_version: DROVER_VERSION.into(),
        intent: Intent::Agent(hello),
    })
    .await?;
    let reply: HelloReply = recv.expect_versioned().await?;
    anyhow::ensure!(
        matches!(reply.outcome, HelloOutcome::Welcome(_)),
        "the coordinator refused the bench agent"
    );

    let frames: Vec<AgentReport> = (0..batches)
        .map(|b| AgentReport::MetricBatch {
            run_id: "bench".into(),
            seq: b as u64,
            points: points(batch, b * batch),
        })
        .collect();
    let acks = tokio::spawn(async move {
        let mut acked = 0;
        while acked < batches {
            match recv.recv::<AgentCommand>().await {
                Ok(Some(AgentCommand::MetricsAck { .. })) => acked += 1,
                Ok(Some(_)) => {}
                _ => break,
            }
        }
        acked
    });
    let started = Instant::now();
    for frame in &frames {
        send.send(frame).await?;
    }
    let acked = tokio::time::timeout(Duration::from_secs(300), acks)
        .await
        .context("acks did not arrive in time")??;
    let elapsed = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        acked == batches,
        "only {acked} of {batches} batches were acknowledged"
    );
    let end_to_end = (batches * batch) as f64 / elapsed;
    conn.close(0u32.into(), b"done");
    coordinator.stop().await;
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(IngestReport {
        points: batches * batch,
        batch,
        end_to_end_points_per_sec: end_to_end,
        direct_points_per_sec: direct,
    })
}

/// Prints the report with the ratio against the direct baseline and the 200,000 points/s goal.
pub fn print(r: &IngestReport) {
    println!(
        "metric ingest: {} points in batches of {}, each acknowledged after commit",
        r.points, r.batch
    );
    println!(
        "  agent -> QUIC -> store   {:>12.0} points/s  ({:.2}x the 200,000 points/s goal)",
        r.end_to_end_points_per_sec,
        r.end_to_end_points_per_sec / 200_000.0
    );
    println!(
        "  straight into SQLite     {:>12.0} points/s  (end to end is {:.2}x of this baseline)",
        r.direct_points_per_sec,
        r.end_to_end_points_per_sec / r.direct_points_per_sec
    );
}
