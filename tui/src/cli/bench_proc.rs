//! Processes for the benchmarks: starting a coordinator or agent process, killing it when
//! done, and reading its CPU time and memory from /proc (Linux).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use drover_coordinator::runfile;

/// A child process killed when dropped.
pub(super) struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The path of `name` next to this executable.
pub(super) fn sibling(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let path = exe
        .parent()
        .context("executable has no directory")?
        .join(name);
    anyhow::ensure!(
        path.exists(),
        "{} not found next to drover (build the workspace)",
        path.display()
    );
    Ok(path)
}

/// Clock ticks per second, for /proc CPU times.
pub(super) fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// CPU seconds (user + system) a process has used.
fn cpu_seconds(pid: u32, ticks: f64) -> anyhow::Result<f64> {
    stat_cpu_seconds(&format!("/proc/{pid}/stat"), ticks)
}

/// CPU seconds the threads of this process named `name` have used.
pub(super) fn thread_cpu_seconds(name: &str, ticks: f64) -> anyhow::Result<f64> {
    let mut total = 0.0;
    for task in std::fs::read_dir("/proc/self/task")? {
        let task = task?.path();
        let comm = std::fs::read_to_string(task.join("comm")).unwrap_or_default();
        if comm.trim_end() == name {
            total += stat_cpu_seconds(&task.join("stat").to_string_lossy(), ticks)?;
        }
    }
    Ok(total)
}

/// User + system CPU seconds in a `/proc/.../stat` file.
fn stat_cpu_seconds(path: &str, ticks: f64) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(path)?;
    let after_name = stat.rsplit_once(')').context("malformed /proc stat")?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let utime: f64 = fields.get(11).context("no utime")?.parse()?;
    let stime: f64 = fields.get(12).context("no stime")?.parse()?;
    Ok((utime + stime) / ticks)
}

/// A `/proc/PID/status` size field (`VmRSS`, `VmHWM`) in MiB.
pub(super) fn status_mib(pid: u32, field: &str) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .with_context(|| format!("no {field}"))?;
    let kib: f64 = line
        .split_whitespace()
        .nth(1)
        .context("no value")?
        .parse()?;
    Ok(kib / 1024.0)
}

/// Average CPU use of `pid` over `window`, in percent of one core.
pub(super) async fn cpu_percent(pid: u32, window: Duration, ticks: f64) -> anyhow::Result<f64> {
    let (start, t0) = (cpu_seconds(pid, ticks)?, Instant::now());
    tokio::time::sleep(window).await;
    Ok((cpu_seconds(pid, ticks)? - start) / t0.elapsed().as_secs_f64() * 100.0)
}

/// Starts `program` with its stderr in `log`.
pub(super) fn spawn(program: &Path, args: &[&str], log: &Path) -> anyhow::Result<Killed> {
    let file = std::fs::File::create(log)?;
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(file)
        .spawn()?;
    Ok(Killed(child))
}

/// Starts a coordinator process on `data` (logging into `tmp`) and waits until it serves.
pub(super) async fn start_coordinator(tmp: &Path, data: &Path) -> anyhow::Result<Killed> {
    let data_s = data.to_str().context("temp dir is not UTF-8")?;
    let coordinator = spawn(
        &std::env::current_exe()?,
        &[
            "coordinator",
            "--data-dir",
            data_s,
            "--listen",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--heartbeat-interval",
            "1s",
        ],
        &tmp.join("coordinator.log"),
    )?;
    let pid = coordinator.0.id();
    let started = Instant::now();
    while runfile::read(data).map(|i| i.pid).ok() != Some(pid) {
        if started.elapsed() > Duration::from_secs(20) {
            bail!(
                "the coordinator did not start; see {}",
                tmp.join("coordinator.log").display()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(coordinator)
}

/// Joins a `drover-agent` with `token` into `state` and starts `drover-agent run` there with
/// its HTTP listener on `http`, logging to `log`.
pub(super) fn joined_agent(
    token: &str,
    state: &Path,
    http: &str,
    log: &Path,
) -> anyhow::Result<Killed> {
    let state = state.to_str().context("the state dir is not UTF-8")?;
    let joined = Command::new(sibling("drover-agent")?)
        .args(["join", token, "--state-dir", state])
        .output()?;
    anyhow::ensure!(
        joined.status.success(),
        "agent join failed: {}",
        String::from_utf8_lossy(&joined.stderr)
    );
    spawn(
        &sibling("drover-agent")?,
        &["run", "--state-dir", state, "--http", http],
        log,
    )
}

/// Resets the peak so that the next reading is the next step's own.
pub(super) fn reset_peak() -> anyhow::Result<()> {
    std::fs::write("/proc/self/clear_refs", "5").context("resetting the peak memory")
}

/// The median of `values` (the upper one of an even count); 0 for none.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
}
