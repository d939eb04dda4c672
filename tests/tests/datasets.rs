//! Versioned datasets through the operator API over real QUIC: uploads are verified by length
//! and BLAKE3, validated and profiled, stored once by content, and numbered per name. Bad CSVs
//! and broken uploads are refused with a clear reason and leave nothing behind.

use std::path::Path;

use drover::cli::synth::{ChurnOptions, churn};
use drover::client::OperatorClient;
use drover_protocol::conn::open_bi;
use drover_protocol::data::{DatasetRef, DatasetUpload, SchemaChange, content_hash};
use drover_protocol::msg::{OperatorRequest, OperatorResponse};
use drover_tests::{add_dataset, blobs, start_coordinator};

fn synth(dir: &Path, name: &str, rows: usize, seed: u64) -> std::path::PathBuf {
    let path = dir.join(name);
    let mut file = std::fs::File::create(&path).expect("file");
    churn(
        ChurnOptions {
            rows,
            seed,
            drift: 0.0,
        },
        &mut file,
    )
    .expect("synth");
    path
}

async fn upload(client: &OperatorClient, name: &str, path: &Path) -> OperatorResponse {
    client
        .upload_dataset(name, path, &mut |_, _| {})
        .await
        .expect("upload answered")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_are_content_addressed_numbered_and_profiled() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("coord");
    let coordinator = start_coordinator(&data).await;
    let client = OperatorClient::for_data_dir(&data, None)
        .await
        .expect("operator");

    let first = synth(tmp.path(), "churn.csv", 3000, 7);
    let OperatorResponse::DatasetAdded(added) = upload(&client, "churn", &first).await else {
        panic!("not added")
    };
    assert_eq!(
        (added.version.version, added.unchanged, added.version.rows),
        (1, false, 3000)
    );
    assert_eq!(
        added.version.hash,
        content_hash(&std::fs::read(&first).expect("read"))
    );
    let stored = data
        .join("artifacts")
        .join(&added.version.hash[..2])
        .join(&added.version.hash);
    assert_eq!(
        std::fs::read(&stored).expect("blob"),
        std::fs::read(&first).expect("read")
    );
    let churned = added
        .version
        .profile
        .columns
        .iter()
        .find(|c| c.name == "churned")
        .expect("target profiled");
    assert_eq!(churned.count, 3000);

    let OperatorResponse::DatasetAdded(again) = upload(&client, "churn", &first).await else {
        panic!("not added")
    };
    assert!(again.unchanged && again.version.version == 1);
    assert_eq!(blobs(&data), 1, "the same content is stored once");

    let text = std::fs::read_to_string(synth(tmp.path(), "churn2.csv", 1000, 8)).expect("read");
    let dropped: String = text
        .lines()
        .map(|l| l.rsplit_once(',').map_or(l, |(head, _)| head))
        .collect::<Vec<_>>()
        .join("\n");
    let second = tmp.path().join("churn-no-target.csv");
    std::fs::write(&second, dropped).expect("write");
    let OperatorResponse::DatasetAdded(v2) = upload(&client, "churn", &second).await else {
        panic!("not added")
    };
    assert_eq!(v2.version.version, 2);
    assert_eq!(
        v2.version.changes,
        vec![SchemaChange::Removed {
            column: "churned".into()
        }]
    );

    let show = |version| {
        OperatorRequest::ShowDataset(DatasetRef {
            name: "churn".into(),
            version,
        })
    };
    let OperatorResponse::Dataset(latest) = client.request(&show(None)).await.expect("show") else {
        panic!("no dataset")
    };
    assert_eq!(latest.version, 2);
    let OperatorResponse::Dataset(v1) = client.request(&show(Some(1))).await.expect("show") else {
        panic!("no dataset")
    };
    assert_eq!(v1.rows, 3000);
    let missing = client.request(&show(Some(9))).await.expect("answered");
    assert!(
        matches!(missing, OperatorResponse::Error(ref e) if e.message.contains("versions 1 to 2")),
        "{missing:?}"
    );
    let OperatorResponse::Datasets(list) = client
        .request(&OperatorRequest::ListDatasets)
        .await
        .expect("list")
    else {
        panic!("no list")
    };
    assert_eq!((list.len(), list[0].latest, list[0].versions), (1, 2, 2));
    client.close().await;
    coordinator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_csvs_and_broken_uploads_store_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("coord");
    let coordinator = start_coordinator(&data).await;
    let client = OperatorClient::for_data_dir(&data, None)
        .await
        .expect("operator");

    let mut csv = String::from("id,tenure,plan\n");
    for i in 0..30 {
        csv.push_str(&format!(
            "{i},{},basic\n",
            if i == 20 {
                "lots".to_string()
            } else {
                i.to_string()
            }
        ));
    }
    let bad = tmp.path().join("bad.csv");
    std::fs::write(&bad, &csv).expect("write");
    let refused = upload(&client, "bad", &bad).await;
    let OperatorResponse::Error(e) = refused else {
        panic!("bad CSV accepted: {refused:?}")
    };
    assert!(
        e.message.contains("line 22, column \"tenure\"") && e.message.contains("lots"),
        "{}",
        e.message
    );

    let short = tmp.path().join("short.csv");
    std::fs::write(&short, "a,b\n1,2\n3\n").expect("write");
    let OperatorResponse::Error(e) = upload(&client, "short", &short).await else {
        panic!("short row accepted")
    };
    assert!(
        e.message.contains("line 3: expected 2 fields"),
        "{}",
        e.message
    );

    let good = b"a,b\n1,2\n".to_vec();
    // Bytes that do not match the announced hash.
    let wrong_hash = raw_upload(
        &client,
        announce("x", good.len() as u64, content_hash(b"other")),
        &good,
    )
    .await;
    assert!(
        matches!(wrong_hash, OperatorResponse::Error(ref e) if e.message.contains("does not verify")),
        "{wrong_hash:?}"
    );
    // An upload cut off halfway.
    let cut = raw_upload(&client, announce("x", 1000, content_hash(&good)), &good).await;
    assert!(
        matches!(cut, OperatorResponse::Error(ref e) if e.message.contains("cut off")),
        "{cut:?}"
    );
    // More than the limit, refused before any byte is read.
    let huge = raw_upload(&client, announce("x", u64::MAX, content_hash(b"")), b"").await;
    assert!(
        matches!(huge, OperatorResponse::Error(ref e) if e.message.contains("limit")),
        "{huge:?}"
    );
    let bad_name = raw_upload(&client, announce("Bad Name", 2, String::new()), b"ab").await;
    assert!(
        matches!(bad_name, OperatorResponse::Error(ref e) if e.message.contains("not a valid name")),
        "{bad_name:?}"
    );

    let OperatorResponse::Datasets(list) = client
        .request(&OperatorRequest::ListDatasets)
        .await
        .expect("list")
    else {
        panic!("no list")
    };
    assert!(list.is_empty(), "nothing was recorded: {list:?}");
    assert_eq!(blobs(&data), 0, "nothing was stored");
    assert_eq!(
        std::fs::read_dir(data.join("artifacts/tmp"))
            .expect("tmp")
            .count(),
        0,
        "no temporary file lingers"
    );
    client.close().await;
    coordinator.stop().await;
}

/// An upload of `name`, `len` bytes hashing to `blake3`, from `x.csv`.
fn announce(name: &str, len: u64, blake3: String) -> DatasetUpload {
    DatasetUpload {
        name: name.into(),
        file_name: "x.csv".into(),
        len,
        blake3,
    }
}

/// Announces `upload` and sends `bytes` as they are, then reads the answer.
async fn raw_upload(
    client: &OperatorClient,
    upload: DatasetUpload,
    bytes: &[u8],
) -> OperatorResponse {
    let (mut send, mut recv) = open_bi(client.connection()).await.expect("stream");
    send.send(&OperatorRequest::AddDataset(upload))
        .await
        .expect("frame");
    // The coordinator may refuse before reading the bytes; then this write fails, which is fine.
    let _ = send.send_raw(bytes).await;
    send.finish();
    recv.expect().await.expect("answer")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_cell_is_stored_and_its_version_can_still_be_shown() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("coord");
    let coordinator = start_coordinator(&data).await;
    let cell = "x".repeat(6 << 20);
    let csv = format!("id,note\n1,{cell}\n2,short\n");
    add_dataset(&data, "notes", csv.as_bytes()).await;
    let client = OperatorClient::for_data_dir(&data, None)
        .await
        .expect("operator");
    let shown = client
        .request(&OperatorRequest::ShowDataset(
            "notes".parse().expect("reference"),
        ))
        .await
        .expect("an answer over QUIC");
    let OperatorResponse::Dataset(version) = shown else {
        panic!("{shown:?}")
    };
    let note = version.profile.columns[1]
        .categorical
        .as_ref()
        .expect("categorical");
    assert!(note.top.iter().all(|(value, _)| value.len() < 1000));
    client.close().await;
    coordinator.stop().await;
}
