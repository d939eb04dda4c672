//! An agent's pane: status, host, labels, capacity, load, and the jobs it runs.

use drover_protocol::run::RunSummary;
use drover_protocol::types::{AgentInfo, format_labels};

use crate::present::age;

pub fn lines(a: &AgentInfo, jobs: Option<&[RunSummary]>, now_ms: u64) -> Vec<String> {
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
    out.push(match jobs {
        None => "jobs       loading...".into(),
        Some([]) => "jobs       none running".into(),
        Some(jobs) => format!("jobs       {} running", jobs.len()),
    });
    for job in jobs.unwrap_or_default() {
        out.push(format!(
            "  {}  {} on {}  trials {}/{}",
            job.id, job.algorithm, job.dataset, job.trials_done, job.trials_total
        ));
    }
    out
}
