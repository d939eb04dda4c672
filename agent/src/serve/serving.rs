//! What every prediction route shares: the models loaded here, the in-flight limit, the
//! predictions kept for feedback and the feedback token, the shadow queue, the blocking
//! pool's turns for large requests and the body budget.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::Semaphore;

use super::catalog::Catalog;
use super::feedback::{Kept, Pending};
use super::heavy::{Heavy, LARGE_BODY};
use super::model::{Predictions, Served};
use super::request::Rows;
use super::shadow::Shadows;
use super::sources::Sources;

/// Requests answered at once; more are refused with 503 rather than queued without bound.
pub const MAX_IN_FLIGHT: usize = 256;

/// What every prediction route shares (one `Arc`, so a request clones one pointer).
pub struct Serving {
    pub(super) catalog: Arc<Catalog>,
    pub(super) in_flight: Arc<Semaphore>,
    pub(super) pending: Arc<Pending>,
    pub(super) shadows: Shadows,
    /// What feedback requires; without it, feedback is refused.
    pub(super) feedback_token: Option<Arc<str>>,
    pub(super) heavy: Heavy,
    pub(super) sources: Sources,
}

impl Serving {
    /// Serving the models of `catalog` (on a runtime: shadow copies get a worker task),
    /// taking feedback with `feedback_token`.
    pub fn start(catalog: Arc<Catalog>, feedback_token: Option<Arc<str>>) -> Arc<Self> {
        let pending = Arc::new(Pending::default());
        Arc::new(Serving {
            catalog,
            in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
            shadows: Shadows::start(pending.clone()),
            pending,
            feedback_token,
            sources: Default::default(),
            heavy: Heavy::default(),
        })
    }

    /// Answers a request whose body is `size` bytes with `work`: right here when the body is
    /// small, else on the heavy pool (which takes a pointer to this of its own).
    pub(super) async fn answer<R: Send + 'static>(
        self: Arc<Self>,
        size: usize,
        work: impl FnOnce(&Serving) -> R + Send + 'static,
    ) -> R {
        if size < LARGE_BODY {
            return work(&self);
        }
        let pooled = self.clone();
        self.heavy.run(move || work(&pooled)).await
    }

    /// Keeps what `served` predicted for a request that arrived at `at`, for its feedback
    /// (`counted` unless the request pinned the version), and the request's one row, when it
    /// is sampled and counted, for live importance; returns the prediction's id and key when
    /// it is kept (a classifier's).
    pub(super) fn remember(
        &self,
        served: &Served,
        rows: &Rows,
        predictions: &Predictions,
        at: Instant,
        counted: bool,
    ) -> Option<Kept> {
        let Predictions::Classes { chosen, .. } = predictions else {
            return None;
        };
        let kept = self
            .pending
            .keep(&served.name, served.version, chosen, at, counted)?;
        if rows.rows() == 1 && counted {
            served.labelled.offer(kept.key, rows.cells());
        }
        Some(kept)
    }
}
