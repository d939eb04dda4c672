//! Host facts and load: what the agent reports in its hello and every heartbeat.

use drover_protocol::types::{Capacity, HostLoad};

/// Samples CPU and memory use between heartbeats.
pub struct HostProbe {
    system: Option<sysinfo::System>,
}

impl HostProbe {
    /// A probe; when the platform offers no figures, heartbeats carry zeros instead of failing.
    pub fn new() -> Self {
        let system = sysinfo::System::new()
            .map_err(|e| tracing::warn!(cause = %e, "host metrics unavailable"))
            .ok();
        Self { system }
    }

    /// A probe that reports zeros without reading the host, for simulated agents.
    pub fn disabled() -> Self {
        Self { system: None }
    }

    /// CPU use since the previous sample, and memory in use now.
    pub fn sample(&mut self) -> HostLoad {
        let Some(system) = self.system.as_mut() else {
            return HostLoad::default();
        };
        system.refresh_cpu_usage();
        system.refresh_memory();
        HostLoad {
            cpu_percent: system.global_cpu_usage(),
            memory_used_bytes: system.used_memory(),
        }
    }

    /// What this host can take on, running `job_slots` jobs at once.
    pub fn capacity(&mut self, job_slots: u32) -> Capacity {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
        let memory_bytes = self.system.as_mut().map_or(0, |s| {
            s.refresh_memory();
            s.total_memory()
        });
        Capacity {
            cpus,
            memory_bytes,
            job_slots,
        }
    }
}

impl Default for HostProbe {
    fn default() -> Self {
        Self::new()
    }
}

/// This machine's hostname, or `localhost` when it cannot be read.
pub fn hostname() -> String {
    sysinfo::System::host_name()
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}
