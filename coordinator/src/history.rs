//! A model's traffic as a series: the windows its versions served, summed over agents into
//! slices of time, for the console's sparklines.

use std::collections::BTreeMap;

use drover_protocol::msg::ApiError;
use drover_protocol::serve::SeriesPoint;
use drover_protocol::types::unix_ms;

use crate::rollout::analysis::Tally;
use crate::state::Shared;

/// Most windows one history reads (the newest).
const MAX_WINDOWS: u32 = 20_000;
/// Most slices one history has per version.
const MAX_POINTS: u32 = 240;
/// The shortest slice, milliseconds.
const MIN_SLICE_MS: u64 = 1_000;

/// `model`'s traffic per version since `since_ms`, in at most `points` slices of equal length
/// ending now; slices without traffic are left out.
pub fn series(
    shared: &Shared,
    model: &str,
    since_ms: u64,
    points: u32,
) -> Result<Vec<SeriesPoint>, ApiError> {
    let now = unix_ms();
    let points = u64::from(points.clamp(1, MAX_POINTS));
    let slice = (now.saturating_sub(since_ms) / points).max(MIN_SLICE_MS);
    let windows = shared
        .store
        .sync()
        .recent_windows(model, since_ms, MAX_WINDOWS)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let mut slices: BTreeMap<(u32, u64), Tally> = BTreeMap::new();
    for received in &windows {
        let index = now.saturating_sub(received.at_ms) / slice;
        let end = now.saturating_sub(index * slice);
        slices
            .entry((received.window.version, end))
            .or_default()
            .add(&received.window);
    }
    let seconds = slice as f64 / 1000.0;
    Ok(slices
        .into_iter()
        .filter(|(_, t)| t.requests > 0 || t.feedback > 0)
        .map(|((version, at_ms), t)| SeriesPoint {
            version,
            at_ms,
            requests_per_second: t.requests as f64 / seconds,
            error_rate: t.errors as f64 / t.requests.max(1) as f64,
            p99_us: t.quantile_bound(0.99),
            accuracy: (t.feedback > 0).then(|| t.correct as f64 / t.feedback as f64),
        })
        .collect())
}
