//! How many labelled rows each feedback source (the client's address) has counted in the
//! current period: at most [`COUNTED_PER_SOURCE`] per [`SOURCE_PERIOD`], over at most
//! [`MAX_SOURCES`] addresses (past that, the rest share one count).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Labelled rows one source counts in a period at most.
pub const COUNTED_PER_SOURCE: usize = 200_000;
/// The period a source's count runs over.
pub const SOURCE_PERIOD: Duration = Duration::from_secs(10);
/// Sources tracked at once; past that, the rest share one count.
const MAX_SOURCES: usize = 4_096;

/// Rows each source has counted in the current period.
pub struct Sources {
    period: Mutex<(Instant, HashMap<Option<IpAddr>, usize>)>,
}

impl Default for Sources {
    fn default() -> Self {
        Self {
            period: Mutex::new((Instant::now(), HashMap::new())),
        }
    }
}

impl Sources {
    /// Takes up to `wanted` rows from what `source` may still count this period.
    pub fn take(&self, source: Option<IpAddr>, wanted: usize) -> usize {
        let mut period = self.period.lock().unwrap_or_else(|e| e.into_inner());
        let (started, counts) = &mut *period;
        if started.elapsed() >= SOURCE_PERIOD {
            *started = Instant::now();
            counts.clear();
        }
        let source = if counts.len() < MAX_SOURCES || counts.contains_key(&source) {
            source
        } else {
            None
        };
        let used = counts.entry(source).or_default();
        let granted = wanted.min(COUNTED_PER_SOURCE - *used);
        *used += granted;
        granted
    }

    /// Gives back `rows` taken for `source` but not counted.
    pub fn give_back(&self, source: Option<IpAddr>, rows: usize) {
        let mut period = self.period.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(used) = period.1.get_mut(&source) {
            *used = used.saturating_sub(rows);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::feedback_route::COUNTED_PER_REQUEST;

    #[test]
    fn a_source_counts_at_most_its_share_per_period_and_gets_back_what_it_did_not_use() {
        let sources = Sources::default();
        let one: Option<IpAddr> = Some([10, 0, 0, 1].into());
        let other: Option<IpAddr> = Some([10, 0, 0, 2].into());
        let mut granted = 0;
        for _ in 0..COUNTED_PER_SOURCE {
            granted += sources.take(one, COUNTED_PER_REQUEST);
        }
        assert_eq!(granted, COUNTED_PER_SOURCE);
        assert_eq!(sources.take(one, 1), 0, "spent for this period");
        assert_eq!(sources.take(other, 5), 5, "another source has its own");
        sources.give_back(one, 3);
        assert_eq!(sources.take(one, 10), 3);
    }
}
