//! The process-wide Prometheus recorder behind every `/metrics` endpoint. The `metrics` crate
//! has one global recorder per process, so the coordinator and an in-process agent share it.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// Installs the recorder on first use and returns the handle that renders the text format.
pub fn prometheus() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .expect("bucket list is not empty")
                .build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("another metrics recorder is installed; /metrics will be empty");
            }
            handle
        })
        .clone()
}

/// Sets the gauges `{prefix}_latency_p50_seconds` and `{prefix}_latency_p99_seconds` to what
/// `window` saw (the upper bound of the bucket that holds the quantile); a window without
/// requests, or whose quantile fell past the last bound, leaves them as they were.
pub fn window_latency(
    prefix: &str,
    window: &crate::serve::ServingWindow,
    labels: &[(&'static str, String)],
) {
    for (q, name) in [(0.5, "p50"), (0.99, "p99")] {
        if let Some(us) = window.latency_quantile_us(q) {
            metrics::gauge!(format!("{prefix}_latency_{name}_seconds"), labels)
                .set(us as f64 / 1e6);
        }
    }
}
