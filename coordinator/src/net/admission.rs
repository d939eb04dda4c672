//! Who may start a QUIC handshake. Handshakes in progress are counted apart from established
//! connections, so a flood of Initial packets that never completes (from spoofed addresses, or
//! a client that never answers) cannot take the slots agents live in. Under load, or from an
//! address that already has several handshakes open, an unvalidated client is sent a QUIC
//! Retry: it costs the coordinator no state, and only a client that really receives packets
//! at its address comes back. Validated handshakes are capped overall and per address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Unvalidated handshakes in progress above which every new client must first pass a Retry.
pub const RETRY_ABOVE: usize = 64;
/// Unvalidated handshakes in progress from one address above which it must pass a Retry.
pub const RETRY_ABOVE_PER_ADDRESS: usize = 8;
/// Handshakes in progress at most.
pub const MAX_HANDSHAKES: usize = 1024;
/// Handshakes in progress from one address at most.
pub const MAX_HANDSHAKES_PER_ADDRESS: usize = 128;

/// What to do with a new incoming connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Start the handshake.
    Handshake,
    /// Answer with a Retry: the client must prove its address first.
    Retry,
    /// Refuse it.
    Refuse,
}

/// Handshakes in progress, overall and by source address.
#[derive(Default)]
pub struct Admission {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

impl Admission {
    /// Decides for a client at `ip` whose address is (or is not yet) `validated`.
    pub fn decide(&self, ip: IpAddr, validated: bool) -> Admit {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let from_here = inner.by_address.get(&ip).copied().unwrap_or(0);
        if inner.total >= MAX_HANDSHAKES || from_here >= MAX_HANDSHAKES_PER_ADDRESS {
            return if validated {
                Admit::Refuse
            } else {
                Admit::Retry
            };
        }
        if !validated && (inner.total >= RETRY_ABOVE || from_here >= RETRY_ABOVE_PER_ADDRESS) {
            return Admit::Retry;
        }
        Admit::Handshake
    }

    /// Counts a handshake from `ip` until the returned guard is dropped.
    pub fn start(self: &Arc<Self>, ip: IpAddr) -> Handshaking {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.total += 1;
        *inner.by_address.entry(ip).or_default() += 1;
        metrics::gauge!("drover_handshakes_in_progress").set(inner.total as f64);
        Handshaking {
            admission: self.clone(),
            ip,
        }
    }
}

/// One handshake in progress; dropping it ends the count.
pub struct Handshaking {
    admission: Arc<Admission>,
    ip: IpAddr,
}

impl Drop for Handshaking {
    fn drop(&mut self) {
        let mut inner = self
            .admission
            .inner
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        inner.total = inner.total.saturating_sub(1);
        metrics::gauge!("drover_handshakes_in_progress").set(inner.total as f64);
        if let Some(n) = inner.by_address.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                inner.by_address.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floods_meet_retries_and_validated_clients_still_get_in() {
        let admission = Arc::new(Admission::default());
        let flood: IpAddr = "10.0.0.1".parse().expect("ip");
        let agent: IpAddr = "10.0.0.2".parse().expect("ip");
        let mut open = Vec::new();
        while admission.decide(flood, false) == Admit::Handshake {
            open.push(admission.start(flood));
        }
        assert_eq!(open.len(), RETRY_ABOVE_PER_ADDRESS);
        assert_eq!(admission.decide(agent, false), Admit::Handshake);
        // Validated clients from the flooding address are capped too, but later.
        while admission.decide(flood, true) == Admit::Handshake {
            open.push(admission.start(flood));
        }
        assert_eq!(open.len(), MAX_HANDSHAKES_PER_ADDRESS);
        assert_eq!(admission.decide(flood, true), Admit::Refuse);
        assert_eq!(admission.decide(flood, false), Admit::Retry);
        assert_eq!(admission.decide(agent, true), Admit::Handshake);
        drop(open);
        assert_eq!(admission.decide(flood, false), Admit::Handshake);
    }
}
