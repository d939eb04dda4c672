//! The demo's customers: every row of the dataset replayed in turn against the serving agent
//! at a steady rate, each answer followed by its true label as feedback, until told to stop; totals kept
//! across the whole run.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::cli::Ctx;
use crate::cli::load::{self, Ask, Format, Load, Target};

/// How long each measured slice of traffic lasts.
const SLICE: Duration = Duration::from_secs(1);

/// What the traffic saw in total.
#[derive(Debug, Default, Clone)]
pub struct Totals {
    pub requests: u64,
    /// Answers by HTTP status (0: the connection failed).
    pub statuses: BTreeMap<u16, u64>,
    pub versions: BTreeMap<String, u64>,
    pub judged: u64,
    pub correct: u64,
}

impl Totals {
    /// Adds another run's totals.
    pub fn add(&mut self, other: &Totals) {
        self.requests += other.requests;
        for (status, n) in &other.statuses {
            *self.statuses.entry(*status).or_default() += n;
        }
        for (version, n) in &other.versions {
            *self.versions.entry(version.clone()).or_default() += n;
        }
        self.judged += other.judged;
        self.correct += other.correct;
    }

    /// Requests not answered 200.
    pub fn failed(&self) -> u64 {
        self.statuses
            .iter()
            .filter(|(status, _)| **status != 200)
            .map(|(_, n)| n)
            .sum()
    }
}

/// Traffic running in the background.
pub struct Traffic {
    stop: CancellationToken,
    task: JoinHandle<anyhow::Result<Totals>>,
}

impl Traffic {
    /// Starts replaying dataset `data` to `model` on the agent at `address`, `rps` requests a
    /// second, with feedback. Requests carry no stickiness key: every version then sees the
    /// same rows, as a rollout's comparison wants (the same few thousand rows replayed, split
    /// by key, would give each version its own subset).
    pub async fn start(
        ctx: &Ctx,
        target: Target,
        model: &str,
        data: &str,
        rps: u32,
    ) -> anyhow::Result<Self> {
        let ask = Ask {
            model,
            data: Some(data),
            format: Format::Oip,
            key_header: false,
            feedback: true,
        };
        let requests = load::requests(ctx, &target, &ask).await?;
        let (stop, model, target) = (
            CancellationToken::new(),
            model.to_string(),
            Arc::new(target),
        );
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let mut totals = Totals::default();
            let mut requests = requests;
            while !stopped.is_cancelled() {
                let report = load::drive(Load {
                    target: target.clone(),
                    model: model.clone(),
                    requests: requests.clone(),
                    concurrency: 8,
                    rps: Some(rps),
                    duration: SLICE,
                    progress: false,
                })
                .await?;
                totals.requests += report.requests;
                // Each slice starts where the last one ended, so every row is sent as often
                // (a slice always starting at the first row would send the same few).
                let sent = report.requests as usize % requests.len().max(1);
                requests.rotate_left(sent);
                for (status, n) in report.statuses {
                    *totals.statuses.entry(status).or_default() += n;
                }
                for (version, n) in report.versions {
                    *totals.versions.entry(version).or_default() += n;
                }
                if let Some(f) = report.feedback {
                    totals.judged += f.judged;
                    totals.correct += f.correct;
                }
            }
            Ok(totals)
        });
        Ok(Self { stop, task })
    }

    /// Stops after the current slice; what was sent in all.
    ///
    /// Dropped without it (the operator quit mid-story), the traffic stops all the same.
    pub async fn stop(mut self) -> anyhow::Result<Totals> {
        self.stop.cancel();
        (&mut self.task).await?
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
