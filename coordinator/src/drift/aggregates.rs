//! What each agent reported about each version over the monitor's sliding window, kept in
//! memory as running sums and fed, each pass, with only the rows stored since the last one:
//! serving windows as tallies, sketches merged column by column, live importance weighted by
//! its rows. Each agent's sums are kept per bucket of receipt time (a thirtieth of the
//! window, at most [`MAX_BUCKET_MS`]), so the window slides by dropping whole buckets. A pass
//! costs what arrived since the last one, not the whole window, and memory is bounded by
//! versions × agents × buckets; the versions are those agents may report (deployed to them)
//! and the agents those enrolled.

use std::collections::{BTreeMap, HashMap};

use drover_protocol::drift::{ColumnCounts, ImportanceWindow, SketchWindow};
use drover_protocol::types::AgentId;

use crate::rollout::analysis::Tally;
use crate::store::{Store, StoreError};

/// Widest bucket of receipt time, milliseconds (agents report every 10 s).
pub const MAX_BUCKET_MS: u64 = 10_000;

/// One agent's evidence about one version.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// What it served.
    pub tally: Tally,
    /// Its merged sketches, once one has arrived.
    pub sketch: Option<Sketch>,
    /// Live importance per column, summed weighted by rows, and those rows.
    pub importance: Vec<f64>,
    pub importance_rows: u64,
}

/// Sketches merged: counts per input column, and of the predictions.
#[derive(Debug, Clone, PartialEq)]
pub struct Sketch {
    pub columns: Vec<ColumnCounts>,
    pub predictions: ColumnCounts,
}

impl Sketch {
    /// Adds `other`'s counts; false (and nothing added) when their shapes differ.
    pub fn merge(&mut self, other: &Sketch) -> bool {
        let same = other.columns.len() == self.columns.len()
            && other.predictions.counts.len() == self.predictions.counts.len()
            && self
                .columns
                .iter()
                .zip(&other.columns)
                .all(|(a, b)| a.counts.len() == b.counts.len());
        if same {
            for (mine, theirs) in self.columns.iter_mut().zip(&other.columns) {
                mine.merge(theirs);
            }
            self.predictions.merge(&other.predictions);
        }
        same
    }
}

impl Evidence {
    /// Adds another agent's (or bucket's) evidence.
    pub fn merge(&mut self, other: &Evidence) {
        self.tally.merge(&other.tally);
        match (&mut self.sketch, &other.sketch) {
            (None, Some(s)) => self.sketch = Some(s.clone()),
            (Some(mine), Some(s)) => {
                mine.merge(s);
            }
            _ => {}
        }
        self.add_importance(&other.importance, other.importance_rows);
    }

    fn add_sketch(&mut self, s: &SketchWindow) {
        let sketch = Sketch {
            columns: s.columns.clone(),
            predictions: s.predictions.clone(),
        };
        match &mut self.sketch {
            None => self.sketch = Some(sketch),
            Some(mine) => {
                mine.merge(&sketch);
            }
        }
    }

    /// Adds importance `sum` over `rows`, where its width matches what is already summed.
    fn add_importance(&mut self, sum: &[f64], rows: u64) {
        if rows == 0 || sum.is_empty() {
            return;
        }
        if self.importance_rows == 0 {
            self.importance = sum.to_vec();
            self.importance_rows = rows;
        } else if self.importance.len() == sum.len() {
            self.importance
                .iter_mut()
                .zip(sum)
                .for_each(|(s, v)| *s += v);
            self.importance_rows += rows;
        }
    }

    fn add_measured(&mut self, w: &ImportanceWindow) {
        let finite = w.importance.iter().all(|v| v.is_finite());
        if finite {
            let weighted: Vec<f64> = w.importance.iter().map(|v| v * w.rows as f64).collect();
            self.add_importance(&weighted, w.rows);
        }
    }

    /// Live importance per column: the row-weighted mean.
    pub fn mean_importance(&self) -> Option<Vec<f64>> {
        (self.importance_rows > 0).then(|| {
            self.importance
                .iter()
                .map(|s| s / self.importance_rows as f64)
                .collect()
        })
    }
}

type Buckets = BTreeMap<u64, Evidence>;

/// Every agent's evidence about every version reported within the window.
#[derive(Default)]
pub struct Aggregates {
    /// The last row read of serving windows, sketches and live importance.
    rows: [i64; 3],
    versions: HashMap<(String, u32), HashMap<AgentId, Buckets>>,
}

impl Aggregates {
    /// Adds what was stored since the last update and received after `since_ms`, in
    /// buckets of `window_ms / 30`, and forgets the buckets wholly before `since_ms`.
    pub fn update(
        &mut self,
        store: &Store,
        since_ms: u64,
        window_ms: u64,
    ) -> Result<(), StoreError> {
        let width = (window_ms / 30).clamp(1, MAX_BUCKET_MS);
        let windows = store.windows_after(since_ms, self.rows[0])?;
        let sketches = store.sketches_after(since_ms, self.rows[1])?;
        let measured = store.importance_after(since_ms, self.rows[2])?;
        for r in windows {
            self.rows[0] = r.row;
            self.bucket(&r.window.model, r.window.version, &r.agent, r.at_ms, width)
                .tally
                .add(&r.window);
        }
        for (r, s) in sketches {
            self.rows[1] = r.row;
            self.bucket(&s.model, s.version, &r.agent, r.at_ms, width)
                .add_sketch(&s);
        }
        for (r, w) in measured {
            self.rows[2] = r.row;
            self.bucket(&w.model, w.version, &r.agent, r.at_ms, width)
                .add_measured(&w);
        }
        self.versions.retain(|_, agents| {
            agents.retain(|_, buckets| {
                buckets.retain(|start, _| start + width > since_ms);
                !buckets.is_empty()
            });
            !agents.is_empty()
        });
        Ok(())
    }

    fn bucket(
        &mut self,
        model: &str,
        version: u32,
        agent: &AgentId,
        at_ms: u64,
        width: u64,
    ) -> &mut Evidence {
        self.versions
            .entry((model.to_string(), version))
            .or_default()
            .entry(agent.clone())
            .or_default()
            .entry(at_ms - at_ms % width)
            .or_default()
    }

    /// Each agent's evidence about `model@version` over the window.
    pub fn evidence(&self, model: &str, version: u32) -> Vec<(AgentId, Evidence)> {
        let Some(agents) = self.versions.get(&(model.to_string(), version)) else {
            return Vec::new();
        };
        let mut out: Vec<(AgentId, Evidence)> = agents
            .iter()
            .map(|(agent, buckets)| {
                let mut sum = Evidence::default();
                for e in buckets.values() {
                    sum.merge(e);
                }
                (agent.clone(), sum)
            })
            .collect();
        out.sort_by(|a, b| a.0.0.cmp(&b.0.0));
        out
    }

    /// The versions of `model` some agent reported within the window.
    pub fn versions(&self, model: &str) -> Vec<u32> {
        let mut versions: Vec<u32> = self
            .versions
            .keys()
            .filter(|(m, _)| m == model)
            .map(|(_, v)| *v)
            .collect();
        versions.sort_unstable();
        versions
    }
}
