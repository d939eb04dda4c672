//! The agent's real HTTP listener over a model trained in-process, for tests of the
//! prediction API's guards.

use std::net::SocketAddr;
use std::sync::Arc;

use drover_agent::http::Access;
use drover_agent::serve::catalog::Catalog;
use drover_agent::serve::model::Served;
use tokio_util::sync::CancellationToken;

/// A churn classifier trained in-process, loaded as `churn@1`.
pub fn churn_catalog() -> Arc<Catalog> {
    let table = drover_ml::table::parse(&crate::churn_csv(300, 7)).expect("csv");
    let spec =
        drover_protocol::spec::TrainSpec::from_toml(&crate::quick_spec("access")).expect("spec");
    let trained = drover_agent::train::train(
        &spec,
        &table,
        None,
        None,
        &mut |_| {},
        &drover_agent::train::stop::Stop::default(),
    )
    .expect("trained");
    let catalog = Arc::new(Catalog::default());
    catalog.load(Served::load("churn", 1, &trained.artifact).expect("loads"));
    catalog
}

/// The agent's listener over `catalog` on a loopback port, until `stop` fires.
pub async fn listen(catalog: Arc<Catalog>, access: Access, stop: &CancellationToken) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (_, connected) = tokio::sync::watch::channel(true);
    tokio::spawn(drover_agent::http::serve(
        listener,
        connected,
        catalog,
        access,
        stop.clone(),
    ));
    addr
}

/// A connection to `addr` from loopback address `from` (127.0.0.0/8 is all loopback), for
/// tests that need more connections than one address may hold.
pub async fn connect_from(from: std::net::IpAddr, addr: SocketAddr) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.bind(SocketAddr::new(from, 0)).expect("bind");
    socket.connect(addr).await.expect("connects")
}

/// `rows` rows for the model in `catalog` as an OIP request (one tensor per input), with the
/// body `id` when given.
pub fn infer_body(catalog: &Catalog, rows: usize, id: Option<&str>) -> String {
    let served = catalog.get("churn", None).expect("loaded");
    let tensors: Vec<serde_json::Value> = served
        .inputs()
        .iter()
        .map(|(name, numeric)| {
            let (datatype, value) = if *numeric {
                ("FP64", serde_json::json!(1.0))
            } else {
                ("BYTES", serde_json::json!("other"))
            };
            let data = vec![value; rows];
            serde_json::json!({ "name": name, "shape": [rows], "datatype": datatype, "data": data })
        })
        .collect();
    let mut body = serde_json::json!({ "inputs": tensors });
    if let Some(id) = id {
        body["id"] = id.into();
    }
    body.to_string()
}
