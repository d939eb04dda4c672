//! Describe panes (Enter or `d`): everything about the selected row, as lines. A run's detail
//! is fetched; agents, model versions and events are described from what the view holds
//! (`App::describe_selected` picks which).

use drover_ml::metric;
use drover_protocol::msg::EventRecord;
use drover_protocol::registry::ModelVersion;
use drover_protocol::run::{RunDetail, RunStatus, SAME_MODEL_TAG};
use drover_protocol::types::{AgentInfo, format_labels};

use crate::present::age;

/// What the open describe pane shows.
#[derive(Debug, Clone, PartialEq)]
pub enum Described {
    /// A run, by id; its detail once fetched.
    Run(String, Option<Box<RunDetail>>),
    Agent(AgentInfo),
    Version(ModelVersion),
    Event(EventRecord),
}

/// The pane's title and lines.
pub fn lines(described: &Described, now_ms: u64) -> (String, Vec<String>) {
    match described {
        Described::Run(id, None) => (format!(" Run {id} "), vec!["loading...".into()]),
        Described::Run(id, Some(run)) => (format!(" Run {id} "), run_lines(run, now_ms)),
        Described::Agent(a) => (format!(" Agent {} ", a.id), agent_lines(a, now_ms)),
        Described::Version(v) => (
            format!(" Model {}@{} ", v.model, v.version),
            version_lines(v, now_ms),
        ),
        Described::Event(e) => (format!(" Event {} ", e.seq), event_lines(e, now_ms)),
    }
}

fn run_lines(run: &RunDetail, now_ms: u64) -> Vec<String> {
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

fn agent_lines(a: &AgentInfo, now_ms: u64) -> Vec<String> {
    let mut out = vec![
        format!(
            "status     {}  heartbeat {}",
            a.status,
            age(a.last_heartbeat_ms, now_ms)
        ),
        format!("host       {}  {}", a.hostname, a.address),
        format!("labels     {}", format_labels(&a.labels)),
        format!("version    drover {}", a.version),
    ];
    if let Some(c) = &a.capacity {
        out.push(format!(
            "capacity   {} cpus  {:.1} GiB  {} job slot(s)",
            c.cpus,
            c.memory_bytes as f64 / (1u64 << 30) as f64,
            c.job_slots
        ));
    }
    if let Some(load) = &a.load {
        out.push(format!(
            "load       cpu {:.0}%  memory {:.1} GiB used",
            load.cpu_percent,
            load.memory_used_bytes as f64 / (1u64 << 30) as f64
        ));
    }
    out
}

fn version_lines(v: &ModelVersion, now_ms: u64) -> Vec<String> {
    let metrics: Vec<String> = v
        .metrics
        .iter()
        .map(|(k, m)| format!("{k} {}", metric::display(k, *m)))
        .collect();
    vec![
        format!("version    {} ({})  stage {}", v.version, v.semver, v.stage),
        format!(
            "aliases    {}",
            if v.aliases.is_empty() {
                "-".into()
            } else {
                v.aliases.join(", ")
            }
        ),
        format!("lineage    run {} <- dataset {}", v.run_id, v.dataset),
        format!(
            "algorithm  {}  registered {}",
            v.algorithm,
            age(Some(v.created_ms), now_ms)
        ),
        format!("artifact   blake3 {}", v.artifact_hash),
        format!("metrics    {}", metrics.join("  ")),
    ]
}

fn event_lines(e: &EventRecord, now_ms: u64) -> Vec<String> {
    let mut out = vec![
        format!("kind       {}", e.event.kind()),
        format!("when       {}", age(Some(e.at_ms), now_ms)),
        format!("what       {}", e.event.describe()),
    ];
    if let Ok(fields) = serde_json::to_string_pretty(&e.event) {
        out.extend(fields.lines().map(str::to_string));
    }
    out
}
