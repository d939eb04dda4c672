//! Scripted verbs, one per file. Each talks to a running coordinator through the operator
//! API, prints a table (or `--json`), and fails with one line on stderr.

pub mod agents;
pub mod bench;
pub mod bench_data;
pub mod bench_ingest;
pub mod bench_mlflow;
pub mod bench_train;
pub mod compare;
pub mod data;
pub mod events;
pub mod models;
pub mod runs;
pub mod sample;
pub mod schedules;
pub mod status;
pub mod synth;
pub mod token;

use std::path::Path;

use crate::client::OperatorClient;

/// Connects to the coordinator for `data_dir`, runs `verb`, and closes the session.
pub async fn with_client<T>(
    data_dir: &Path,
    address: Option<&str>,
    verb: impl AsyncFnOnce(&OperatorClient) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let client = OperatorClient::for_data_dir(data_dir, address).await?;
    let result = verb(&client).await;
    client.close().await;
    result
}

/// Runs a helper script's `command` and reads the JSON it prints; a failure is the last line
/// of its stderr.
pub fn script_json<T: serde::de::DeserializeOwned>(
    command: &mut std::process::Command,
) -> anyhow::Result<T> {
    let program = command.get_program().to_string_lossy().into_owned();
    let output = command
        .output()
        .map_err(|e| anyhow::anyhow!("running {program}: {e}"))?;
    anyhow::ensure!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
            .lines()
            .last()
            .unwrap_or("the script failed")
    );
    Ok(serde_json::from_slice(&output.stdout)?)
}

/// Formats a Unix-ms time as an age relative to `now_ms`: `3s ago`, `5m ago`, `never`.
pub fn age(at_ms: Option<u64>, now_ms: u64) -> String {
    let Some(at) = at_ms else {
        return "never".into();
    };
    let secs = now_ms.saturating_sub(at) / 1000;
    match secs {
        0..=59 => format!("{secs}s ago"),
        60..=3599 => format!("{}m ago", secs / 60),
        3600..=86_399 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86_400),
    }
}

/// Unwraps an operator response into the expected variant or a one-line error.
#[macro_export]
macro_rules! expect_response {
    ($response:expr, $variant:path) => {
        match $response {
            $variant(value) => Ok(value),
            drover_protocol::msg::OperatorResponse::Error(e) => {
                Err(anyhow::anyhow!("{}", e.message))
            }
            other => Err(anyhow::anyhow!(
                "unexpected answer from the coordinator: {other:?}"
            )),
        }
    };
}

/// Renders rows under headers as aligned columns.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        padded.join("  ").trim_end().to_string()
    };
    let mut out = line(headers.to_vec());
    for row in rows {
        out.push('\n');
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// A CSV writer's error as the I/O error it wraps, when it is one, so that a closed pipe is
/// recognised as such.
pub fn csv_error(error: csv::Error) -> anyhow::Error {
    if !error.is_io_error() {
        return error.into();
    }
    match error.into_kind() {
        csv::ErrorKind::Io(io) => io.into(),
        other => anyhow::anyhow!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::age;

    #[test]
    fn ages_read_naturally() {
        assert_eq!(age(None, 5), "never");
        assert_eq!(age(Some(1_000), 3_500), "2s ago");
        assert_eq!(age(Some(0), 120_000), "2m ago");
        assert_eq!(age(Some(10_000), 5_000), "0s ago");
    }

    #[test]
    fn tables_align() {
        let out = super::table(
            &["ID", "STATUS"],
            &[
                vec!["ag-1".into(), "ready".into()],
                vec!["ag-22".into(), "lost".into()],
            ],
        );
        assert_eq!(out, "ID     STATUS\nag-1   ready\nag-22  lost");
    }
}
