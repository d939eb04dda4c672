//! The deadline on a request's head, kept by each connection's own task rather than by a
//! timer per request. hyper asks its timer for a sleep whenever it starts reading a request's
//! head, which on a busy keep-alive connection is once per request; a tokio sleep there costs
//! an allocation, a runtime handle and a timer-wheel insertion and removal every time. Here
//! hyper's sleep only notes the deadline, and the connection's [`HeadDeadline::passed`] looks
//! at it a few times per timeout and ends the connection once a head is still being read past
//! it: a half-sent or silent connection is closed as hyper's own timer would close it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::rt::{Sleep, Timer};

/// No head is being read.
const NONE: u64 = u64::MAX;

/// How often a connection looks at its deadline, as a share of the timeout: a head read past
/// its deadline ends the connection at most this much later.
const LOOKS_PER_TIMEOUT: u32 = 4;

/// What a connection and its timer share.
#[derive(Debug)]
struct Noted {
    /// When the connection began.
    epoch: Instant,
    /// The deadline of the head being read, nanoseconds after `epoch` ([`NONE`]: none).
    deadline_ns: AtomicU64,
}

/// One connection's head deadline: hyper's timer, and what the connection awaits.
#[derive(Debug, Clone)]
pub struct HeadDeadline {
    noted: Arc<Noted>,
    timeout: Duration,
}

impl HeadDeadline {
    /// A deadline of `timeout` on each head a new connection reads.
    pub fn new(timeout: Duration) -> Self {
        Self {
            noted: Arc::new(Noted {
                epoch: tokio::time::Instant::now().into_std(),
                deadline_ns: AtomicU64::new(NONE),
            }),
            timeout,
        }
    }

    /// Resolves once a head has been read past its deadline.
    pub async fn passed(&self) {
        let mut look = tokio::time::interval(self.timeout / LOOKS_PER_TIMEOUT);
        look.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            look.tick().await;
            let deadline = self.noted.deadline_ns.load(Ordering::Relaxed);
            if deadline != NONE && self.noted.since_epoch(self.now()) > deadline {
                return;
            }
        }
    }
}

impl Noted {
    fn since_epoch(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(NONE - 1)
    }
}

/// A noted deadline: never resolves by itself (the connection's [`HeadDeadline::passed`]
/// acts on it), and unnotes itself when hyper drops it, having read the head.
struct Note {
    noted: Arc<Noted>,
    deadline_ns: u64,
}

impl Future for Note {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        Poll::Pending
    }
}

impl Sleep for Note {}

impl Drop for Note {
    fn drop(&mut self) {
        // Only its own: a newer deadline noted since stays.
        let _ = self.noted.deadline_ns.compare_exchange(
            self.deadline_ns,
            NONE,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }
}

/// hyper's HTTP/1 server asks its timer for nothing but the head deadline, so every sleep
/// is taken for one.
impl Timer for HeadDeadline {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        self.sleep_until(self.now() + duration)
    }

    /// The runtime's clock, which is the system's unless a test paused it.
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        let deadline_ns = self.noted.since_epoch(deadline);
        self.noted.deadline_ns.store(deadline_ns, Ordering::Relaxed);
        Box::pin(Note {
            noted: self.noted.clone(),
            deadline_ns,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_head_read_past_its_deadline_is_noticed_and_one_read_in_time_is_not() {
        let timeout = Duration::from_secs(8);
        let deadline = HeadDeadline::new(timeout);
        let read_in_time = deadline.sleep_until(deadline.now() + timeout);
        drop(read_in_time);
        let passed = tokio::time::timeout(3 * timeout, deadline.passed()).await;
        assert!(passed.is_err(), "no head is being read");

        let _reading = deadline.sleep_until(deadline.now() + timeout);
        let waited = tokio::time::Instant::now();
        tokio::time::timeout(3 * timeout, deadline.passed())
            .await
            .expect("noticed");
        let noticed_after = waited.elapsed();
        assert!(
            noticed_after >= timeout && noticed_after <= timeout + timeout / LOOKS_PER_TIMEOUT,
            "{noticed_after:?}"
        );
    }
}
