//! What one agent may report about serving. An enrolled agent is untrusted, and a flood of
//! well-formed windows once took the coordinator to 1.66 GiB and 14 GB of disk an hour: each
//! session may send at most [`ReportLimits::frames_per_minute`] serving reports (windows,
//! shadow windows, sketches, importance) of at most [`ReportLimits::bytes_per_minute`] in
//! all; what is over is dropped, counted and logged. Each window is further bounded by what
//! an agent could have served ([`ReportLimits::max_rps`], in `deployments::record_windows`).
//! `config/coordinator.toml` documents them under `[agent_reports]`.

use std::time::{Duration, Instant};

use serde::Deserialize;

/// Longest window an agent may report, milliseconds (agents close one every 10 s).
pub const MAX_WINDOW_MS: u64 = 120_000;

/// The `[agent_reports]` settings: what one agent may report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportLimits {
    /// Requests (and feedback labels) per second one agent is believed to serve at most: a
    /// window claiming more is refused.
    pub max_rps: u64,
    /// Rows per second one agent is believed to predict at most (a batch request carries
    /// many): a sketch, shadow window or importance measure counting more is refused.
    pub max_rows_per_second: u64,
    /// Serving reports one agent session may send per minute.
    pub frames_per_minute: u32,
    /// Bytes of serving reports one agent session may send per minute.
    pub bytes_per_minute: usize,
}

impl Default for ReportLimits {
    /// Several times what one agent serves on a 2-core machine; agents send four kinds of
    /// report every 10 s, so 120 frames leave room for reconnects and flushed backlogs.
    fn default() -> Self {
        Self {
            max_rps: 200_000,
            max_rows_per_second: 10_000_000,
            frames_per_minute: 120,
            bytes_per_minute: 64 << 20,
        }
    }
}

impl ReportLimits {
    /// Every limit must let something through.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_rows_per_second < self.max_rps {
            return Err("max_rows_per_second must be at least max_rps".into());
        }
        match (self.max_rps, self.frames_per_minute, self.bytes_per_minute) {
            (0, _, _) => Err("max_rps must be at least 1".into()),
            (_, 0, _) => Err("frames_per_minute must be at least 1".into()),
            (_, _, b) if b < 1 << 16 => Err("bytes_per_minute must be at least 65536".into()),
            _ => Ok(()),
        }
    }

    /// Whether a window of `requests` (or labels) over `start_ms..end_ms` is within what one
    /// agent could have served.
    pub fn servable(&self, requests: u64, start_ms: u64, end_ms: u64) -> bool {
        within(requests, self.max_rps, start_ms, end_ms)
    }

    /// Whether `rows` predicted over `start_ms..end_ms` are within what one agent could
    /// have predicted.
    pub fn predictable(&self, rows: u64, start_ms: u64, end_ms: u64) -> bool {
        within(rows, self.max_rows_per_second, start_ms, end_ms)
    }
}

/// The sum of counts an agent sent, `None` where forged counts would overflow it.
pub fn total(counts: impl IntoIterator<Item = u64>) -> Option<u64> {
    counts
        .into_iter()
        .try_fold(0u64, |sum, n| sum.checked_add(n))
}

/// Whether `count` over `start_ms..end_ms` (a window no longer than [`MAX_WINDOW_MS`]) is at
/// most `per_second` a second, a window shorter than a second counting as one.
fn within(count: u64, per_second: u64, start_ms: u64, end_ms: u64) -> bool {
    let span = end_ms.saturating_sub(start_ms);
    span <= MAX_WINDOW_MS
        && u128::from(count) <= u128::from(per_second) * u128::from(span.max(1_000)) / 1_000
}

/// One session's use of its quota, per minute.
pub struct Quota {
    limits: ReportLimits,
    since: Instant,
    frames: u32,
    bytes: usize,
}

impl Quota {
    /// A session's quota under `limits`, its minute starting now.
    pub fn new(limits: ReportLimits) -> Self {
        Self {
            limits,
            since: Instant::now(),
            frames: 0,
            bytes: 0,
        }
    }

    /// Whether a serving report of `bytes` fits in this minute's quota (and counts it).
    pub fn admit(&mut self, bytes: usize) -> bool {
        self.admit_at(bytes, Instant::now())
    }

    fn admit_at(&mut self, bytes: usize, now: Instant) -> bool {
        if now.duration_since(self.since) >= Duration::from_secs(60) {
            self.since = now;
            self.frames = 0;
            self.bytes = 0;
        }
        if self.frames >= self.limits.frames_per_minute
            || self.bytes.saturating_add(bytes) > self.limits.bytes_per_minute
        {
            return false;
        }
        self.frames += 1;
        self.bytes += bytes;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_and_bytes_are_capped_per_minute_and_the_minute_renews() {
        let start = Instant::now();
        let limits = ReportLimits::default();
        let mut quota = Quota::new(limits);
        for _ in 0..limits.frames_per_minute {
            assert!(quota.admit_at(10, start));
        }
        assert!(!quota.admit_at(10, start), "one frame over");
        let later = start + Duration::from_secs(61);
        assert!(quota.admit_at(limits.bytes_per_minute, later));
        assert!(!quota.admit_at(1, later), "one byte over");
    }

    #[test]
    fn a_window_is_bounded_by_what_an_agent_could_serve() {
        let limits = ReportLimits {
            max_rps: 1_000,
            ..ReportLimits::default()
        };
        assert!(limits.servable(10_000, 0, 10_000));
        assert!(!limits.servable(10_001, 0, 10_000));
        assert!(
            limits.servable(1_000, 5, 5),
            "a window of no length counts as a second"
        );
        assert!(!limits.servable(1, 0, MAX_WINDOW_MS + 1));
        assert!(!limits.servable(u64::MAX, 0, 1_000), "no overflow");
        assert!(ReportLimits::default().validate().is_ok());
        let none = ReportLimits {
            frames_per_minute: 0,
            ..limits
        };
        assert!(
            none.validate()
                .expect_err("refused")
                .contains("frames_per_minute")
        );
    }
}
