//! Large requests, decoded and predicted off the async workers: a request whose body is at
//! least [`LARGE_BODY`] is decoded and predicted on tokio's blocking pool, at most
//! [`HEAVY_AT_ONCE`] at a time (the rest wait their turn), so two clients sending 8 MiB
//! batches neither stall the one-row requests the workers answer meanwhile nor hold more
//! than two decoded batches in memory. Large bodies are bounded in all: [`BODY_BUDGET`] bytes
//! of them are held at once (a request declaring at least [`LARGE_BODY`], or no length,
//! reserves it before its body is read; past the budget it is a 503), shown as
//! `drover_agent_body_bytes`. Small bodies reserve nothing (the connection limit bounds
//! them), so clients stalling large uploads can delay other large ones, never a one-row
//! prediction.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bodies at least this large are decoded and predicted on the blocking pool.
pub const LARGE_BODY: usize = 64 << 10;
/// Large requests decoded and predicted at once.
pub const HEAVY_AT_ONCE: usize = 2;
/// Bytes of request bodies held at once, in all.
pub const BODY_BUDGET: usize = 256 << 20;
/// The budget's unit: a reservation is rounded up to whole KiB.
const UNIT: usize = 1 << 10;

/// The blocking pool's turns and the body budget.
pub struct Heavy {
    turns: Arc<Semaphore>,
    budget: Arc<Semaphore>,
    held: metrics::Gauge,
}

impl Default for Heavy {
    fn default() -> Self {
        Self {
            turns: Arc::new(Semaphore::new(HEAVY_AT_ONCE)),
            budget: Arc::new(Semaphore::new(BODY_BUDGET / UNIT)),
            held: metrics::gauge!("drover_agent_body_bytes"),
        }
    }
}

/// A large body's share of the budget (none for a small one), given back when dropped.
pub struct Reserved {
    held: Option<(OwnedSemaphorePermit, metrics::Gauge, f64)>,
}

impl Drop for Reserved {
    fn drop(&mut self) {
        if let Some((permit, gauge, bytes)) = self.held.take() {
            drop(permit);
            gauge.decrement(bytes);
        }
    }
}

impl Heavy {
    /// Reserves `bytes` of the body budget when the body is large (a body that declares no
    /// length reserves the largest one); `None` when the budget is spent.
    pub fn reserve(&self, bytes: usize) -> Option<Reserved> {
        if bytes < LARGE_BODY {
            return Some(Reserved { held: None });
        }
        let units = u32::try_from(bytes.div_ceil(UNIT)).ok()?;
        let permit = self.budget.clone().try_acquire_many_owned(units).ok()?;
        let reserved = (units as usize * UNIT) as f64;
        self.held.increment(reserved);
        Some(Reserved {
            held: Some((permit, self.held.clone(), reserved)),
        })
    }

    /// Runs `work` (decoding and predicting a body of `size` bytes): inline when it is
    /// small, else on the blocking pool once a turn is free.
    pub async fn run<R: Send + 'static>(
        &self,
        size: usize,
        work: impl FnOnce() -> R + Send + 'static,
    ) -> R {
        if size < LARGE_BODY {
            return work();
        }
        let _turn = self.turns.acquire().await;
        match tokio::task::spawn_blocking(work).await {
            Ok(answer) => answer,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("a prediction on the blocking pool was cancelled: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_held_within_the_budget_and_given_back() {
        let heavy = Heavy::default();
        let big: Vec<Reserved> = (0..BODY_BUDGET / (8 << 20))
            .map(|_| heavy.reserve(8 << 20).expect("within the budget"))
            .collect();
        assert!(heavy.reserve(LARGE_BODY).is_none(), "spent");
        assert!(
            heavy.reserve(500).is_some(),
            "a small body reserves nothing"
        );
        drop(big);
        assert!(heavy.reserve(8 << 20).is_some(), "given back");
    }
}
