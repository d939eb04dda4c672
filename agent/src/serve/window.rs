//! What one served version did since its window opened: counters the hot path bumps with
//! atomics (a fixed size per version, whatever the traffic), taken and reset when the window
//! closes. The agent's `/metrics` has the same series live: requests, errors, rows per
//! predicted class and feedback as counters, and each closed window's latency p50 and p99 as
//! gauges. A request that pinned the version is counted apart, in
//! `drover_agent_pinned_predictions_total` only: the window is what rollouts and monitoring
//! judge, and it holds the traffic the split sent. Latency is no Prometheus histogram: the recorder keeps histogram samples until it
//! is scraped, which would make memory grow with traffic.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use drover_protocol::serve::{LATENCY_BUCKETS_US, ServingWindow, ShadowWindow};

/// One version's counts since the window opened.
#[derive(Debug)]
pub struct Window {
    model: String,
    version: u32,
    opened_ms: AtomicU64,
    requests: AtomicU64,
    errors: AtomicU64,
    latency: Vec<AtomicU64>,
    classes: Vec<AtomicU64>,
    feedback: AtomicU64,
    correct: AtomicU64,
    /// As a shadow: rows compared with the answers given, and those that differed.
    shadow_rows: AtomicU64,
    shadow_differing: AtomicU64,
    shadow_failed: AtomicU64,
    requests_total: metrics::Counter,
    errors_total: metrics::Counter,
    /// Rows predicted, per class index.
    predicted_total: Vec<metrics::Counter>,
    feedback_total: metrics::Counter,
    correct_total: metrics::Counter,
    pinned_total: metrics::Counter,
}

fn zeros(n: usize) -> Vec<AtomicU64> {
    (0..n).map(|_| AtomicU64::new(0)).collect()
}

impl Window {
    /// An empty window for `model@version` with `classes` classes (0 for a regressor).
    pub fn new(model: &str, version: u32, classes: usize, now_ms: u64) -> Self {
        let labels = [
            ("model", model.to_string()),
            ("version", version.to_string()),
        ];
        Self {
            model: model.into(),
            version,
            opened_ms: AtomicU64::new(now_ms),
            requests: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            latency: zeros(LATENCY_BUCKETS_US.len() + 1),
            classes: zeros(classes),
            feedback: AtomicU64::new(0),
            correct: AtomicU64::new(0),
            shadow_rows: AtomicU64::new(0),
            shadow_differing: AtomicU64::new(0),
            shadow_failed: AtomicU64::new(0),
            requests_total: metrics::counter!("drover_agent_predictions_total", &labels),
            errors_total: metrics::counter!("drover_agent_prediction_errors_total", &labels),
            predicted_total: (0..classes)
                .map(|class| {
                    let labels = [
                        ("model", model.to_string()),
                        ("version", version.to_string()),
                        ("class", class.to_string()),
                    ];
                    metrics::counter!("drover_agent_predicted_rows_total", &labels)
                })
                .collect(),
            feedback_total: metrics::counter!("drover_agent_feedback_total", &labels),
            correct_total: metrics::counter!("drover_agent_feedback_correct_total", &labels),
            pinned_total: metrics::counter!("drover_agent_pinned_predictions_total", &labels),
        }
    }

    fn took(&self, latency: Duration) {
        let us = latency.as_micros() as u64;
        let bucket = LATENCY_BUCKETS_US.partition_point(|&bound| bound < us);
        self.latency[bucket].fetch_add(1, Ordering::Relaxed);
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.requests_total.increment(1);
    }

    /// A request answered in `latency`, predicting the classes `chosen` (indices; empty
    /// for a regressor); `counted` unless it pinned the version.
    pub fn answered(&self, latency: Duration, chosen: &[usize], counted: bool) {
        if !counted {
            self.pinned_total.increment(1);
            return;
        }
        self.took(latency);
        for &class in chosen {
            if let Some(count) = self.classes.get(class) {
                count.fetch_add(1, Ordering::Relaxed);
            }
            if let Some(total) = self.predicted_total.get(class) {
                total.increment(1);
            }
        }
    }

    /// A request refused or failed after `latency`; `counted` unless it pinned the version.
    pub fn failed(&self, latency: Duration, counted: bool) {
        if !counted {
            self.pinned_total.increment(1);
            return;
        }
        self.took(latency);
        self.errors.fetch_add(1, Ordering::Relaxed);
        self.errors_total.increment(1);
    }

    /// Feedback on one of this version's predictions.
    pub fn feedback(&self, correct: bool) {
        self.feedback.fetch_add(1, Ordering::Relaxed);
        self.feedback_total.increment(1);
        if correct {
            self.correct.fetch_add(1, Ordering::Relaxed);
            self.correct_total.increment(1);
        }
    }

    /// As a shadow, got `rows` rows copied from requests: it answered `differing` of them
    /// otherwise than the caller was answered, and failed to predict `failed`.
    pub fn shadowed(&self, rows: u64, differing: u64, failed: u64) {
        self.shadow_rows.fetch_add(rows, Ordering::Relaxed);
        self.shadow_differing
            .fetch_add(differing, Ordering::Relaxed);
        self.shadow_failed.fetch_add(failed, Ordering::Relaxed);
    }

    /// Closes the window at `now_ms`: what it counted (and, when it shadowed, what it
    /// answered as a shadow), and a fresh one opens. Its latency quantiles become the
    /// agent's latency gauges.
    pub fn take(&self, now_ms: u64) -> (ServingWindow, Option<ShadowWindow>) {
        let take = |a: &AtomicU64| a.swap(0, Ordering::Relaxed);
        let start_ms = self.opened_ms.swap(now_ms, Ordering::Relaxed);
        let rows = take(&self.shadow_rows);
        let shadow = (rows > 0).then(|| ShadowWindow {
            model: self.model.clone(),
            version: self.version,
            start_ms,
            end_ms: now_ms,
            rows,
            differing: take(&self.shadow_differing).min(rows),
            failed: take(&self.shadow_failed).min(rows),
        });
        let window = ServingWindow {
            model: self.model.clone(),
            version: self.version,
            start_ms,
            end_ms: now_ms,
            requests: take(&self.requests),
            errors: take(&self.errors),
            latency: self.latency.iter().map(take).collect(),
            classes: self.classes.iter().map(take).collect(),
            feedback: take(&self.feedback),
            correct: take(&self.correct),
        };
        let labels = [
            ("model", self.model.clone()),
            ("version", self.version.to_string()),
        ];
        drover_protocol::telemetry::window_latency("drover_agent_prediction", &window, &labels);
        (window, shadow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_counts_then_starts_over() {
        let window = Window::new("m", 1, 2, 1_000);
        window.answered(Duration::from_micros(150), &[1, 0, 1], true);
        window.answered(Duration::from_micros(150), &[1], false);
        window.failed(Duration::from_millis(30), true);
        window.failed(Duration::from_millis(30), false);
        window.feedback(true);
        window.feedback(false);
        window.shadowed(10, 3, 1);
        let (closed, shadow) = window.take(2_000);
        let shadow = shadow.expect("it shadowed");
        assert_eq!(
            (
                shadow.rows,
                shadow.differing,
                shadow.failed,
                shadow.start_ms
            ),
            (10, 3, 1, 1_000)
        );
        assert_eq!((closed.start_ms, closed.end_ms), (1_000, 2_000));
        assert_eq!((closed.requests, closed.errors), (2, 1));
        assert_eq!(closed.classes, [1, 2]);
        assert_eq!((closed.feedback, closed.correct), (2, 1));
        assert_eq!(closed.latency[1], 1, "150us is in the 100-200us bucket");
        assert_eq!(closed.latency_quantile_us(0.5), Some(200));
        assert_eq!(closed.latency_quantile_us(1.0), Some(50_000));
        let (next, shadow) = window.take(3_000);
        assert_eq!((next.start_ms, next.requests), (2_000, 0));
        assert_eq!(shadow, None, "no copies, no shadow window");
    }
}
