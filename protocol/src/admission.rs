//! Who gets a connection on a listener. One address holds at most a share of the
//! connections, so one client (idle, slow or hostile) cannot take every slot; and when every
//! slot is taken a small reserve still answers the health probes, so an orchestrator never
//! restarts a busy daemon for looking dead. A reserve connection answers the probe paths and
//! refuses anything else with a 503.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use axum::http::{Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use hyper::service::Service;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::either::Either;

/// Connections kept for health probes beyond a listener's limit.
pub const PROBE_RESERVE: usize = 16;
/// Reserve connections one address may hold.
const RESERVE_PER_ADDRESS: u32 = 2;

/// How many connections each address holds.
#[derive(Default)]
struct Counts(Mutex<HashMap<IpAddr, (u32, u32)>>);

/// One admitted connection: its slot, and its place in its address's count (both given back
/// when it is dropped).
pub struct Admitted {
    _slot: OwnedSemaphorePermit,
    counts: Arc<Counts>,
    address: IpAddr,
    /// Whether it came from the reserve (it answers probes only).
    pub reserve: bool,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut counts = self.counts.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((all, reserve)) = counts.get_mut(&self.address) {
            *all -= 1;
            *reserve -= u32::from(self.reserve);
            if *all == 0 {
                counts.remove(&self.address);
            }
        }
    }
}

/// A listener's admission: its slots, its reserve and the counts per address.
pub struct Admission {
    slots: Arc<Semaphore>,
    reserve: Arc<Semaphore>,
    per_address: u32,
    counts: Arc<Counts>,
}

impl Admission {
    /// `max_connections` at once, a quarter of them (at least one) per address, and
    /// [`PROBE_RESERVE`] more for probes.
    pub fn new(max_connections: usize) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(max_connections)),
            reserve: Arc::new(Semaphore::new(PROBE_RESERVE)),
            per_address: u32::try_from(max_connections / 4)
                .unwrap_or(u32::MAX)
                .max(1),
            counts: Arc::default(),
        }
    }

    /// Admits a connection from `address`: a slot, else a reserve slot; `Err` with why not.
    pub fn admit(&self, address: IpAddr) -> Result<Admitted, &'static str> {
        let mut counts = self.counts.0.lock().unwrap_or_else(|e| e.into_inner());
        let (all, reserve) = counts.get(&address).copied().unwrap_or((0, 0));
        if all >= self.per_address {
            return Err("per_address");
        }
        let (slot, from_reserve) = match self.slots.clone().try_acquire_owned() {
            Ok(slot) => (slot, false),
            Err(_) if reserve >= RESERVE_PER_ADDRESS => return Err("full"),
            Err(_) => match self.reserve.clone().try_acquire_owned() {
                Ok(slot) => (slot, true),
                Err(_) => return Err("full"),
            },
        };
        counts.insert(address, (all + 1, reserve + u32::from(from_reserve)));
        Ok(Admitted {
            _slot: slot,
            counts: self.counts.clone(),
            address,
            reserve: from_reserve,
        })
    }
}

/// A connection's service: all of `inner`, or for a connection from the reserve only the
/// probe paths (anything else is a 503).
#[derive(Clone)]
pub struct Gate<S> {
    pub inner: S,
    pub probes_only: Option<&'static [&'static str]>,
}

impl<S> Service<Request<Incoming>> for Gate<S>
where
    S: Service<Request<Incoming>, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<S::Future, std::future::Ready<Result<Response, Infallible>>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let allowed = match self.probes_only {
            None => true,
            Some(probes) => probes.contains(&request.uri().path()),
        };
        if allowed {
            return Either::Left(self.inner.call(request));
        }
        let busy = (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "1"), (header::CONNECTION, "close")],
            "every connection is taken; only health probes are answered now; retry\n",
        );
        Either::Right(std::future::ready(Ok(busy.into_response())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_address_takes_a_share_and_the_reserve_only_what_is_left() {
        let admission = Admission::new(8);
        let (a, b): (IpAddr, IpAddr) = ([10, 0, 0, 1].into(), [10, 0, 0, 2].into());
        let mine: Vec<Admitted> = (0..2)
            .map(|_| admission.admit(a).expect("a slot"))
            .collect();
        assert_eq!(
            admission.admit(a).err(),
            Some("per_address"),
            "a quarter of 8"
        );
        drop(mine);
        let held: Vec<Admitted> = (0..8)
            .map(|i| admission.admit([10, 1, 0, i].into()).expect("a slot"))
            .collect();
        assert!(held.iter().all(|c| !c.reserve));
        let probe = admission.admit(b).expect("the reserve");
        assert!(probe.reserve);
        let second = admission.admit(b).expect("the reserve");
        assert_eq!(
            admission.admit(b).err(),
            Some("per_address"),
            "two is b's share of 8"
        );
        drop((probe, second));
        assert!(admission.admit(b).expect("given back").reserve);
        drop(held);
        assert!(!admission.admit(a).expect("a slot again").reserve);
    }
}
