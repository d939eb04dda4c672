//! Helpers of the drift tests: a six-feature table whose drift moves two of them, replayed
//! as traffic with feedback, and the columns alerts name.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use crate::drover_ok;

/// Six features (`a`, `b`, `c`, `noise` numeric; `plan`, `region` categorical) and a 0/1
/// label; `drift` moves `noise` up and makes most regions `west`, leaving the rest as is.
pub fn six(rows: usize, seed: u64, drift: bool) -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(seed);
    let normal = |rng: &mut StdRng| drover::cli::synth::normal(rng, 0.0, 1.0);
    let mut csv = String::from("a,b,c,noise,plan,region,label\n");
    for _ in 0..rows {
        let (a, b, c) = (normal(&mut rng), normal(&mut rng), normal(&mut rng));
        let noise = normal(&mut rng) + if drift { 1.5 } else { 0.0 };
        let plan = match rng.gen_range(0.0..1.0) {
            x if x < 0.5 => "basic",
            x if x < 0.8 => "plus",
            _ => "pro",
        };
        let region = if drift && rng.gen_bool(0.6) {
            "west"
        } else {
            ["north", "south", "east", "west"][rng.gen_range(0..4)]
        };
        let score =
            a + 0.5 * b - 0.5 * c + if plan == "pro" { 0.8 } else { 0.0 } + 0.7 * normal(&mut rng);
        let label = u8::from(score > 0.0);
        csv.push_str(&format!(
            "{a:.4},{b:.4},{c:.4},{noise:.4},{plan},{region},{label}\n"
        ));
    }
    csv.into_bytes()
}

/// Runs `drover ARGS` and parses its JSON.
pub fn drover_json(args: &[&str]) -> Value {
    serde_json::from_str(&drover_ok(args)).expect("json")
}

/// Replays dataset `dataset` to model `six` at `http` for `seconds`, with feedback (which
/// takes the agent's `feedback_token`).
pub async fn replay(
    (http, feedback_token): (SocketAddr, &str),
    data: &str,
    dataset: &str,
    seconds: u32,
) {
    let url = format!("http://{http}");
    let duration = format!("{seconds}s");
    let args: Vec<String> = [
        "load",
        &url,
        "--model",
        "six",
        "--data",
        dataset,
        "--feedback",
        "--feedback-token",
        feedback_token,
        "--rps",
        "250",
        "--duration",
        &duration,
        "--concurrency",
        "4",
        "--json",
        "--data-dir",
        data,
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        drover_ok(&args)
    })
    .await
    .expect("load");
}

/// The columns drift alerts name (the predictions aside), firing or not.
pub fn alerted_columns(data: &str) -> BTreeSet<String> {
    let alerts = drover_json(&["alerts", "--json", "--data-dir", data]);
    alerts
        .as_array()
        .expect("alerts")
        .iter()
        .filter(|a| a["kind"] == "drift")
        .filter_map(|a| a["column"].as_str())
        .filter(|c| *c != "prediction")
        .map(str::to_string)
        .collect()
}
