//! Stopping a training that runs on a blocking thread: the job sets the flag (or drops its
//! guard) and the learners look at it between trials, folds, trees and splits, so a
//! cancelled job gives back its core and its memory within moments.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A flag shared by a job and its training thread.
#[derive(Debug, Clone, Default)]
pub struct Stop(Arc<AtomicBool>);

/// Training ended because it was asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("training was cancelled")]
pub struct Stopped;

impl Stop {
    /// Asks the training to stop.
    pub fn stop(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether a stop was asked for.
    pub fn is_stopped(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// `Err(Stopped)` once a stop was asked for.
    pub fn check(&self) -> Result<(), Stopped> {
        if self.is_stopped() {
            Err(Stopped)
        } else {
            Ok(())
        }
    }

    /// A guard that stops the training when dropped: whatever ends the job's task (a cancel,
    /// a lost session, the runtime shutting down), its thread does not outlive it.
    pub fn on_drop(&self) -> StopOnDrop {
        StopOnDrop(self.clone())
    }
}

/// Stops the training when dropped.
pub struct StopOnDrop(Stop);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop();
    }
}
