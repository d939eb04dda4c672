//! Dialling the coordinator: name resolution and a client endpoint of the right family.

use std::net::SocketAddr;

/// Why the coordinator could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    #[error("cannot resolve coordinator address {0:?}")]
    Resolve(String),
    #[error("cannot open a UDP socket: {0}")]
    Socket(std::io::Error),
    #[error("cannot connect to the coordinator at {addr}: {reason}")]
    Connect { addr: SocketAddr, reason: String },
}

/// Resolves `host:port` to the first address it names.
pub async fn resolve(address: &str) -> Result<SocketAddr, DialError> {
    tokio::net::lookup_host(address)
        .await
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| DialError::Resolve(address.to_string()))
}

/// A client endpoint on an ephemeral port of `target`'s address family.
pub fn endpoint_for(target: SocketAddr) -> Result<quinn::Endpoint, DialError> {
    let bind: SocketAddr = if target.is_ipv6() {
        "[::]:0"
    } else {
        "0.0.0.0:0"
    }
    .parse()
    .expect("literal socket address");
    quinn::Endpoint::client(bind).map_err(DialError::Socket)
}

/// Longest a handshake may take. QUIC over UDP hears nothing back from a host where nothing
/// listens, so without this a dial to a stopped coordinator would wait out the idle timeout.
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(4);

/// Connects and completes the QUIC handshake within [`CONNECT_TIMEOUT`].
pub async fn connect(
    endpoint: &quinn::Endpoint,
    config: quinn::ClientConfig,
    addr: SocketAddr,
) -> Result<quinn::Connection, DialError> {
    let connecting = endpoint
        .connect_with(config, addr, crate::COORDINATOR_SERVER_NAME)
        .map_err(|e| DialError::Connect {
            addr,
            reason: e.to_string(),
        })?;
    connecting.await.map_err(|e| DialError::Connect {
        addr,
        reason: e.to_string(),
    })
}
