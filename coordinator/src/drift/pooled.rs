//! One version's evidence pooled over the agents that agree, so an alert never rests on one
//! agent's evidence: where three or more agents report on a version, one whose serving
//! counts or sketches disagree with the rest beyond chance
//! ([`crate::rollout::agreement::disagreeing`], on every proportion it reports: error rate,
//! live accuracy, share of the first class, and each sketch bin's share of its column) is
//! left out, and live importance is the per-column median over agents rather than a mean one
//! agent could drag.

use drover_protocol::drift::{ColumnCounts, ColumnReference, Reference};
use drover_protocol::types::AgentId;

use super::aggregates::{Evidence, Sketch};
use crate::rollout::agreement::{self, Proportions};

/// What the agents that agree say about one version.
#[derive(Debug, Default)]
pub struct Pooled {
    /// Their evidence summed (importance included, row-weighted).
    pub evidence: Evidence,
    /// Live importance per column and the rows behind it: the median over agents where
    /// three or more measured it, else the row-weighted mean.
    pub importance: Option<(Vec<f64>, u64)>,
    /// The agents left out, each with what it disagrees on.
    pub apart: Vec<(AgentId, String)>,
}

/// Pools `agents`' evidence about one version, whose training profile is `reference` (its
/// sketches are compared only where one is known).
pub fn pool(agents: Vec<(AgentId, Evidence)>, reference: Option<&Reference>) -> Pooled {
    let listed: Vec<(AgentId, Proportions)> = agents
        .iter()
        .map(|(agent, e)| (agent.clone(), proportions(e, reference)))
        .collect();
    let width = listed.first().map_or(0, |(_, p)| p.len());
    let apart = agreement::disagreeing(width, &|i| name(reference, i), &listed);
    // Sketches of another shape than the reference's are no evidence: merged first, one
    // would keep every other agent's from merging.
    let kept: Vec<Evidence> = agents
        .into_iter()
        .filter(|(agent, _)| !apart.iter().any(|(a, _)| a == agent))
        .map(|(_, mut e)| {
            if let Some(r) = reference
                && !e.sketch.as_ref().is_some_and(|s| fits(s, r))
            {
                e.sketch = None;
            }
            e
        })
        .collect();
    let mut evidence = Evidence::default();
    for e in &kept {
        evidence.merge(e);
    }
    Pooled {
        importance: importance(&kept, &evidence),
        evidence,
        apart,
    }
}

/// What proportion `i` of [`proportions`] is: the tally's, then each column's bins, its
/// missing and its invalid values.
fn name(reference: Option<&Reference>, i: usize) -> String {
    let Some(mut at) = i.checked_sub(agreement::TALLY.len()) else {
        return agreement::tally_name(i);
    };
    let columns = reference
        .into_iter()
        .flat_map(|r| r.columns.iter().chain([&r.predictions]));
    for column in columns {
        let bins = column.counts.len();
        let column_name = &column.name;
        match at {
            at if at < bins => return format!("{column_name} bin {at} share"),
            at if at == bins => return format!("{column_name} missing share"),
            at if at == bins + 1 => return format!("{column_name} invalid share"),
            _ => at -= bins + 2,
        }
    }
    "proportion".into()
}

/// One agent's proportions: its tally's, then each reference column's bins (none where its
/// sketches do not have the reference's shape).
fn proportions(e: &Evidence, reference: Option<&Reference>) -> Proportions {
    let mut out = agreement::of_tally(&e.tally);
    let Some(r) = reference else {
        return out;
    };
    let shaped = e.sketch.as_ref().filter(|s| fits(s, r));
    let live = r
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| (c, shaped.map(|s| &s.columns[i])))
        .chain([(&r.predictions, shaped.map(|s| &s.predictions))]);
    for (column, counts) in live {
        out.extend(column_proportions(column, counts));
    }
    out
}

/// Whether `sketch` has `reference`'s columns and bins.
pub fn fits(sketch: &Sketch, reference: &Reference) -> bool {
    sketch.columns.len() == reference.columns.len()
        && sketch.predictions.counts.len() == reference.predictions.counts.len()
        && sketch
            .columns
            .iter()
            .zip(&reference.columns)
            .all(|(s, r)| s.counts.len() == r.counts.len())
}

fn column_proportions(column: &ColumnReference, counts: Option<&ColumnCounts>) -> Proportions {
    let counts = counts.filter(|c| c.counts.len() == column.counts.len());
    let seen = counts.map_or(0, ColumnCounts::seen);
    let binned = (0..column.counts.len())
        .map(|i| counts.and_then(|c| c.counts.get(i)).copied().unwrap_or(0));
    let extra = counts.map_or([0, 0], |c| [c.nulls, c.invalid]);
    binned.chain(extra).map(|n| (n.min(seen), seen)).collect()
}

/// Live importance of the agents kept: the per-column median of each agent's mean where
/// three or more measured it (one agent cannot move it beyond the honest ones' range),
/// else the row-weighted mean of all.
fn importance(kept: &[Evidence], pooled: &Evidence) -> Option<(Vec<f64>, u64)> {
    let means: Vec<Vec<f64>> = kept
        .iter()
        .filter_map(|e| e.mean_importance())
        .filter(|m| m.len() == pooled.importance.len())
        .collect();
    let rows = pooled.importance_rows;
    if means.len() < 3 {
        return pooled.mean_importance().map(|m| (m, rows));
    }
    let median = (0..pooled.importance.len())
        .map(|i| {
            let mut column: Vec<f64> = means.iter().map(|m| m[i]).collect();
            column.sort_by(f64::total_cmp);
            let mid = column.len() / 2;
            match column.len() % 2 {
                0 => (column[mid - 1] + column[mid]) / 2.0,
                _ => column[mid],
            }
        })
        .collect();
    Some((median, rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(importance: f64, rows: u64) -> Evidence {
        Evidence {
            importance: vec![importance * rows as f64, 0.1 * rows as f64],
            importance_rows: rows,
            ..Evidence::default()
        }
    }

    #[test]
    fn a_sketch_of_another_shape_keeps_no_other_agents_from_counting() {
        use drover_ml::drift::reference;
        use drover_protocol::drift::Reference;
        let profile = Reference {
            rows: 4,
            columns: vec![reference::numeric(
                "x",
                [1.0, 2.0, 3.0, 4.0].map(Some).into_iter(),
            )],
            predictions: reference::classes(&["0".into(), "1".into()], &[0, 1, 0, 1]),
            importance: Vec::new(),
        };
        let sketched = |bins: usize| Evidence {
            sketch: Some(Sketch {
                columns: vec![ColumnCounts {
                    counts: vec![1; bins],
                    ..ColumnCounts::default()
                }],
                predictions: ColumnCounts::empty(2),
            }),
            ..Evidence::default()
        };
        let bins = profile.columns[0].counts.len();
        let agents = vec![
            (AgentId("a-odd".into()), sketched(bins + 3)),
            (AgentId("b".into()), sketched(bins)),
            (AgentId("c".into()), sketched(bins)),
        ];
        let pooled = pool(agents, Some(&profile));
        let sketch = pooled.evidence.sketch.expect("the honest sketches");
        assert_eq!(sketch.columns[0].counts, vec![2; bins]);
    }

    #[test]
    fn live_importance_is_the_median_over_three_agents_or_more_else_the_mean() {
        let agent = |name: &str| AgentId(name.into());
        let three = vec![
            (agent("a"), measured(0.2, 100)),
            (agent("b"), measured(0.3, 100)),
            (agent("liar"), measured(50.0, 10_000)),
        ];
        let (live, rows) = pool(three, None).importance.expect("measured");
        assert_eq!(live, vec![0.3, 0.1], "one agent cannot drag the median");
        assert_eq!(rows, 10_200);
        let two = vec![
            (agent("a"), measured(0.2, 100)),
            (agent("b"), measured(0.4, 300)),
        ];
        let (live, _) = pool(two, None).importance.expect("measured");
        assert!(
            (live[0] - 0.35).abs() < 1e-12,
            "row-weighted mean: {live:?}"
        );
    }
}
