//! What one agent may report about serving. An enrolled agent is untrusted, and a flood of
//! well-formed windows once took the coordinator to 1.66 GiB and 14 GB of disk an hour: each
//! session may send at most [`FRAMES_PER_MINUTE`] serving reports (windows, shadow windows,
//! sketches, importance) of at most [`BYTES_PER_MINUTE`] in all; what is over is dropped,
//! counted and logged. Each window is further bounded by what an agent could have served
//! ([`MAX_AGENT_RPS`], in `deployments::record_windows`).

use std::time::{Duration, Instant};

/// Serving reports one agent session may send per minute: agents send four kinds every 10 s,
/// so this leaves room for reconnects and flushed backlogs.
pub const FRAMES_PER_MINUTE: u32 = 120;
/// Bytes of serving reports one agent session may send per minute.
pub const BYTES_PER_MINUTE: usize = 64 << 20;
/// Requests (and feedback labels) per second one agent is believed to serve at most: a window
/// claiming more is refused. Several times what one agent serves on a 2-core machine.
pub const MAX_AGENT_RPS: u64 = 200_000;
/// Longest window an agent may report, milliseconds (agents close one every 10 s).
pub const MAX_WINDOW_MS: u64 = 120_000;

/// One session's use of its quota, per minute.
pub struct Quota {
    since: Instant,
    frames: u32,
    bytes: usize,
}

impl Default for Quota {
    fn default() -> Self {
        Self {
            since: Instant::now(),
            frames: 0,
            bytes: 0,
        }
    }
}

impl Quota {
    /// Whether a serving report of `bytes` fits in this minute's quota (and counts it).
    pub fn admit(&mut self, bytes: usize) -> bool {
        self.admit_at(bytes, Instant::now())
    }

    fn admit_at(&mut self, bytes: usize, now: Instant) -> bool {
        if now.duration_since(self.since) >= Duration::from_secs(60) {
            *self = Self {
                since: now,
                frames: 0,
                bytes: 0,
            };
        }
        if self.frames >= FRAMES_PER_MINUTE || self.bytes + bytes > BYTES_PER_MINUTE {
            return false;
        }
        self.frames += 1;
        self.bytes += bytes;
        true
    }
}

/// Whether a window of `requests` (or labels) over `start_ms..end_ms` is within what one
/// agent could have served.
pub fn servable(requests: u64, start_ms: u64, end_ms: u64) -> bool {
    let span = end_ms.saturating_sub(start_ms);
    span <= MAX_WINDOW_MS && requests <= MAX_AGENT_RPS * span.max(1_000) / 1_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_and_bytes_are_capped_per_minute_and_the_minute_renews() {
        let start = Instant::now();
        let mut quota = Quota::default();
        for _ in 0..FRAMES_PER_MINUTE {
            assert!(quota.admit_at(10, start));
        }
        assert!(!quota.admit_at(10, start), "one frame over");
        let later = start + Duration::from_secs(61);
        assert!(quota.admit_at(BYTES_PER_MINUTE, later));
        assert!(!quota.admit_at(1, later), "one byte over");
    }

    #[test]
    fn a_window_is_bounded_by_what_an_agent_could_serve() {
        assert!(servable(MAX_AGENT_RPS * 10, 0, 10_000));
        assert!(!servable(MAX_AGENT_RPS * 10 + 1, 0, 10_000));
        assert!(
            servable(MAX_AGENT_RPS, 5, 5),
            "a window of no length counts as a second"
        );
        assert!(!servable(1, 0, MAX_WINDOW_MS + 1));
    }
}
