//! A run's pane: status and gates with their reasons, lineage, agent, times, params, test
//! metrics and every trial's cross-validated score.

use drover_ml::metric;
use drover_protocol::run::{RunDetail, RunStatus, SAME_MODEL_TAG};

use crate::present::age;

pub fn lines(run: &RunDetail, now_ms: u64) -> Vec<String> {
    let s = &run.summary;
    let gates = match (s.status, s.gates_passed) {
        (RunStatus::Succeeded, Some(false)) => "succeeded, but FAILED its gates".to_string(),
        (status, Some(true)) => format!("{status}, gates passed"),
        (status, _) => status.to_string(),
    };
    let mut out = vec![
        format!("status     {gates}"),
        format!("dataset    {} (blake3 {:.12})", s.dataset, run.dataset_hash),
        format!(
            "agent      {}  seed {}  drover {}",
            s.agent.as_deref().unwrap_or("-"),
            run.seed,
            run.drover_version
        ),
        format!(
            "times      created {}  started {}  {}",
            age(Some(s.created_ms), now_ms),
            age(s.started_ms, now_ms),
            match (s.started_ms, s.finished_ms) {
                (Some(a), Some(b)) => format!("ran {:.1}s", b.saturating_sub(a) as f64 / 1000.0),
                _ => "still going".into(),
            }
        ),
    ];
    if let Some(error) = &s.error {
        out.push(format!("error      {error}"));
    }
    out.extend(run.gate_failures.iter().map(|f| format!("gate       {f}")));
    match (&run.registered, run.tags.get(SAME_MODEL_TAG)) {
        (_, Some(same)) => out.push(format!("registry   same model as {same}: nothing new")),
        (Some(version), None) => out.push(format!("registry   registered as {version}")),
        (None, None) => {}
    }
    if !run.params.is_empty() {
        let params: Vec<String> = run.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        out.push(format!("params     {}", params.join(" ")));
    }
    let shown: Vec<String> = s
        .metrics
        .iter()
        .map(|(k, v)| format!("{k} {}", metric::display(k, *v)))
        .collect();
    if !shown.is_empty() {
        out.push(format!("metrics    {}", shown.join("  ")));
    }
    let task = run.spec.as_ref().map(|s| s.task);
    if let Some(task) = task {
        let name = metric::selection(task);
        for t in &run.trials {
            let params: Vec<String> = t.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let cv = t
                .mean
                .get(name)
                .map_or_else(|| "-".into(), |v| metric::display(name, *v));
            out.push(format!(
                "trial {:<4} cv {name} {cv}  {}",
                t.trial,
                params.join(" ")
            ));
        }
    }
    out
}
