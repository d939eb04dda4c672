//! The operator API from the outside: [`OperatorClient`] over QUIC with the operator
//! certificate, and [`OperatorLink`], which the console and verbs use whether the coordinator
//! runs in this process or another.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use drover_protocol::conn::{FramedRecv, FramedSend, open_bi};
use drover_protocol::data::DatasetUpload;
use drover_protocol::dial;
use drover_protocol::msg::{
    EventRecord, Hello, HelloOutcome, HelloReply, Intent, OperatorRequest, OperatorResponse,
};
use drover_protocol::pki::CertifiedKeyPem;
use drover_protocol::{DROVER_VERSION, PROTOCOL_VERSION, tls};
use tokio::io::AsyncReadExt;
use tokio::sync::{broadcast, mpsc};

use drover_coordinator::pki::PkiPaths;
use drover_coordinator::{CoordinatorHandle, runfile};

/// An operator session with a coordinator over QUIC.
pub struct OperatorClient {
    endpoint: quinn::Endpoint,
    conn: quinn::Connection,
    _control: (FramedSend, FramedRecv),
}

impl OperatorClient {
    /// Connects and completes the operator hello.
    pub async fn connect(
        addr: SocketAddr,
        ca_pem: &str,
        identity: &CertifiedKeyPem,
    ) -> anyhow::Result<Self> {
        let endpoint = dial::endpoint_for(addr)?;
        let config = tls::client_config(ca_pem, Some(identity))?;
        let conn = dial::connect(&endpoint, config, addr).await?;
        let (mut send, mut recv) = open_bi(&conn).await?;
        let hello = Hello {
            proto_version: PROTOCOL_VERSION,
            drover_version: DROVER_VERSION.into(),
            intent: Intent::Operator,
        };
        send.send(&hello).await?;
        let reply: HelloReply = recv
            .expect_versioned()
            .await
            .context("the coordinator did not accept this operator")?;
        match reply.outcome {
            HelloOutcome::Welcome(_) => Ok(Self {
                endpoint,
                conn,
                _control: (send, recv),
            }),
            HelloOutcome::Refused(reason) => {
                bail!("the coordinator refused this operator: {reason}")
            }
            HelloOutcome::Enrolled(_) => bail!("the coordinator answered with an enrollment"),
        }
    }

    /// Connects to the coordinator running on `data_dir` (or at `address`), with the operator
    /// certificate from that data dir.
    pub async fn for_data_dir(data_dir: &Path, address: Option<&str>) -> anyhow::Result<Self> {
        let addr = match address {
            Some(address) => dial::resolve(address).await?,
            None => {
                if !runfile::is_running(data_dir) {
                    bail!(
                        "no coordinator is running on {0} (start one with `drover coordinator --data-dir {0}`, or pass --coordinator ADDR)",
                        data_dir.display()
                    );
                }
                let info = runfile::read(data_dir).context("reading coordinator.json")?;
                loopback_if_unspecified(
                    info.quic_addr
                        .parse()
                        .context("coordinator.json has a bad address")?,
                )
            }
        };
        let (ca, operator) = PkiPaths::new(data_dir)
            .load_operator()
            .with_context(|| format!("no operator certificate in {}/pki", data_dir.display()))?;
        Self::connect(addr, &ca, &operator).await
    }

    /// The coordinator's address.
    pub fn remote_address(&self) -> SocketAddr {
        self.conn.remote_address()
    }

    /// Sends one request and waits for its answer.
    pub async fn request(&self, request: &OperatorRequest) -> anyhow::Result<OperatorResponse> {
        let (mut send, mut recv) = open_bi(&self.conn).await?;
        send.send(request).await?;
        send.finish();
        Ok(recv.expect().await?)
    }

    /// Uploads the CSV at `path` as a new version of dataset `name`. `progress` hears
    /// `(sent, total)` bytes as they go out.
    pub async fn upload_dataset(
        &self,
        name: &str,
        path: &Path,
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> anyhow::Result<OperatorResponse> {
        let (len, blake3) = hash_file(path).await?;
        let file_name = path.file_name().map_or_else(
            || "dataset.csv".into(),
            |n| n.to_string_lossy().into_owned(),
        );
        let upload = DatasetUpload {
            name: name.to_string(),
            file_name,
            len,
            blake3,
        };
        let (mut send, mut recv) = open_bi(&self.conn).await?;
        send.send(&OperatorRequest::AddDataset(upload)).await?;
        let mut file = tokio::fs::File::open(path)
            .await
            .with_context(|| format!("opening {}", path.display()))?;
        let mut buf = vec![0u8; UPLOAD_CHUNK];
        let mut sent = 0u64;
        loop {
            let n = file
                .read(&mut buf)
                .await
                .with_context(|| format!("reading {}", path.display()))?;
            if n == 0 {
                break;
            }
            if send.send_raw(&buf[..n]).await.is_err() {
                // The coordinator stopped reading (it refused the upload): its answer says why.
                break;
            }
            sent += n as u64;
            progress(sent, len);
        }
        send.finish();
        Ok(recv.expect().await?)
    }

    /// Opens the event stream: each frame is an [`OperatorResponse::Event`].
    pub async fn subscribe(&self) -> anyhow::Result<FramedRecv> {
        let (mut send, recv) = open_bi(&self.conn).await?;
        send.send(&OperatorRequest::Subscribe).await?;
        send.finish();
        Ok(recv)
    }

    /// The underlying QUIC connection.
    pub fn connection(&self) -> &quinn::Connection {
        &self.conn
    }

    /// Closes the connection and waits briefly for the close to reach the coordinator.
    pub async fn close(self) {
        self.conn.close(0u32.into(), b"bye");
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), self.endpoint.wait_idle())
            .await;
    }
}

const UPLOAD_CHUNK: usize = 256 * 1024;

/// Length and BLAKE3 hex of a file, read in chunks off the async threads.
async fn hash_file(path: &Path) -> anyhow::Result<(u64, String)> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let file =
            std::fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?;
        let mut hasher = blake3::Hasher::new();
        hasher
            .update_reader(file)
            .with_context(|| format!("reading {}", path.display()))?;
        Ok((hasher.count(), hasher.finalize().to_hex().to_string()))
    })
    .await?
}

/// The loopback address of the same family and port when `addr` is a wildcard.
pub fn loopback_if_unspecified(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V4(a) if a.ip().is_unspecified() => {
            SocketAddr::from(([127, 0, 0, 1], a.port()))
        }
        SocketAddr::V6(a) if a.ip().is_unspecified() => {
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, a.port()))
        }
        other => other,
    }
}

/// The operator API, in process or over QUIC.
#[derive(Clone)]
pub enum OperatorLink {
    Local(CoordinatorHandle),
    Remote(Arc<OperatorClient>),
}

impl std::fmt::Debug for OperatorLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OperatorLink::Local(handle) => write!(f, "Local({})", handle.quic_addr()),
            OperatorLink::Remote(client) => write!(f, "Remote({})", client.remote_address()),
        }
    }
}

impl OperatorLink {
    /// Sends a request; an API error becomes an `Err` with the coordinator's message.
    pub async fn request(&self, request: OperatorRequest) -> anyhow::Result<OperatorResponse> {
        let response = match self {
            OperatorLink::Local(handle) => handle.request(request).await,
            OperatorLink::Remote(client) => client.request(&request).await?,
        };
        match response {
            OperatorResponse::Error(e) => Err(e.into()),
            other => Ok(other),
        }
    }

    /// Adds the CSV at `path` as the next version of dataset `name`.
    pub async fn add_dataset(&self, name: &str, path: &Path) -> anyhow::Result<OperatorResponse> {
        let response = match self {
            OperatorLink::Local(handle) => handle.add_dataset(name, path).await,
            OperatorLink::Remote(client) => {
                client.upload_dataset(name, path, &mut |_, _| {}).await?
            }
        };
        match response {
            OperatorResponse::Error(e) => Err(e.into()),
            other => Ok(other),
        }
    }

    /// Events from now on, delivered on a channel until the link or the receiver goes.
    pub async fn subscribe(&self) -> anyhow::Result<mpsc::Receiver<EventRecord>> {
        let (tx, rx) = mpsc::channel(256);
        match self {
            OperatorLink::Local(handle) => {
                let mut events = handle.subscribe();
                tokio::spawn(async move {
                    loop {
                        match events.recv().await {
                            Ok(record) => {
                                if tx.send(record).await.is_err() {
                                    return;
                                }
                            }
                            Err(broadcast::error::RecvError::Lagged(_)) => {}
                            Err(broadcast::error::RecvError::Closed) => return,
                        }
                    }
                });
            }
            OperatorLink::Remote(client) => {
                let mut stream = client.subscribe().await?;
                tokio::spawn(async move {
                    while let Ok(Some(OperatorResponse::Event(record))) =
                        stream.recv::<OperatorResponse>().await
                    {
                        if tx.send(record).await.is_err() {
                            return;
                        }
                    }
                });
            }
        }
        Ok(rx)
    }
}
