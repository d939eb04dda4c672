//! Large requests, answered off the async workers: a request whose body is at least
//! [`LARGE_BODY`] is decoded, predicted and its answer written on a pool of its own, at most
//! [`HEAVY_AT_ONCE`] threads and never one per core (the rest wait their turn), running
//! at a lower scheduling priority (nice 10), so two clients sending 8 MiB batches neither
//! stall nor crowd out the one-row requests the async workers answer meanwhile, nor hold
//! more than two decoded batches in memory. Large bodies are bounded in all: [`BODY_BUDGET`]
//! bytes of them are held at once (a request declaring at least [`LARGE_BODY`], or no
//! length, reserves it before its body is read; past the budget it is a 503), shown as
//! `drover_agent_body_bytes`. Small bodies reserve nothing (the connection limit bounds
//! them), so clients stalling large uploads can delay other large ones, never a one-row
//! prediction.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

/// Bodies at least this large are answered on the heavy pool.
pub const LARGE_BODY: usize = 64 << 10;
/// Threads of the heavy pool at most; fewer on a machine with fewer cores (one core is left
/// to the async workers).
pub const HEAVY_AT_ONCE: usize = 2;
/// Bytes of request bodies held at once, in all.
pub const BODY_BUDGET: usize = 256 << 20;
/// The budget's unit: a reservation is rounded up to whole KiB.
const UNIT: usize = 1 << 10;
/// How much less the heavy pool's threads are scheduled than the async workers (nice).
const NICER: i32 = 10;

/// Work for the heavy pool.
type Job = Box<dyn FnOnce() + Send>;

/// The heavy pool and the body budget.
pub struct Heavy {
    jobs: Sender<Job>,
    budget: Arc<Semaphore>,
    held: metrics::Gauge,
}

/// The heavy pool's threads: [`HEAVY_AT_ONCE`], less one core left to the async workers
/// when there are few.
fn threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    HEAVY_AT_ONCE.min(cores.saturating_sub(1)).max(1)
}

/// One thread of the heavy pool: runs jobs until the pool is dropped.
fn work(jobs: &Mutex<Receiver<Job>>) {
    // On Linux this lowers the calling thread only; a failure leaves it at its priority.
    let _ = rustix::process::setpriority_process(None, NICER);
    loop {
        let job = jobs.lock().unwrap_or_else(|e| e.into_inner()).recv();
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

impl Default for Heavy {
    fn default() -> Self {
        let (jobs, queue) = channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..threads() {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("drover-heavy-{n}"))
                .spawn(move || work(&queue));
            if let Err(e) = spawned {
                tracing::error!(cause = %e, "could not start a thread for large requests");
            }
        }
        Self {
            jobs,
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

    /// Runs `work` on the heavy pool once a thread is free. A panic in it resumes here.
    pub async fn run<R: Send + 'static>(&self, work: impl FnOnce() -> R + Send + 'static) -> R {
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = answer.send(catch_unwind(AssertUnwindSafe(work)));
        });
        if self.jobs.send(job).is_err() {
            panic!("the pool for large requests has stopped");
        }
        match answered.await {
            Ok(Ok(answer)) => answer,
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(_) => panic!("the pool for large requests dropped a request"),
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
