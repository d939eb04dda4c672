//! Whether the agents serving one version agree. A rollout's evidence is pooled from every
//! agent that serves the version; an agent whose windows disagree with the others' beyond
//! chance (its error rate, live accuracy or share of the first class, against the rest
//! pooled, by a two-proportion z-test at [`Z_BEYOND_CHANCE`]) is left out of the decision, so
//! a rollback or a promotion never rests on one agent's evidence. It takes three agents to
//! tell which one disagrees; with two, both count.

use std::collections::{HashMap, HashSet};

use drover_protocol::types::AgentId;

use super::analysis::Tally;

/// Each side's counts per agent since a rollout's step began, and the agents already found
/// disagreeing in it. Bounded: one tally per agent serving the two versions.
#[derive(Debug, Default, Clone)]
pub struct PerAgent {
    candidate: HashMap<AgentId, Tally>,
    baseline: HashMap<AgentId, Tally>,
    flagged: HashSet<AgentId>,
}

impl PerAgent {
    /// Adds `tally` that `agent` reported for the candidate (`candidate`) or the baseline.
    pub fn add(&mut self, agent: &AgentId, candidate: bool, tally: Tally) {
        let side = match candidate {
            true => &mut self.candidate,
            false => &mut self.baseline,
        };
        side.entry(agent.clone()).or_default().merge(tally);
    }

    /// The candidate's and the baseline's counts with the agents that disagree left out
    /// (`pooled`, unchanged, when none does), and the agents newly found disagreeing.
    pub fn agreed(&mut self, pooled: (&Tally, &Tally)) -> ((Tally, Tally), Vec<(AgentId, String)>) {
        let mut newly = Vec::new();
        let mut side = |tallies: &HashMap<AgentId, Tally>, pooled: &Tally| {
            let listed: Vec<(AgentId, Tally)> = tallies
                .iter()
                .map(|(a, t)| (a.clone(), t.clone()))
                .collect();
            let apart = disagreeing(&listed);
            if apart.is_empty() {
                return pooled.clone();
            }
            let mut kept = Tally::default();
            for (agent, tally) in listed {
                if !apart.iter().any(|(a, _)| *a == agent) {
                    kept.merge(tally);
                }
            }
            newly.extend(apart);
            kept
        };
        let candidate = side(&self.candidate, pooled.0);
        let baseline = side(&self.baseline, pooled.1);
        newly.retain(|(agent, _)| self.flagged.insert(agent.clone()));
        ((candidate, baseline), newly)
    }
}

/// |z| past which an agent disagrees with the others (two-sided p about 2e-9: beyond
/// chance even over many agents, metrics and passes).
pub const Z_BEYOND_CHANCE: f64 = 6.0;
/// Fewest agents among which one can be told to disagree.
const MIN_AGENTS: usize = 3;
/// Fewest observations on each side of a comparison.
const MIN_SAMPLES: u64 = 100;

/// The two-proportion z statistic of `a` successes in `n` against `b` in `m`; 0 when either
/// side is too small or the pooled rate leaves no spread.
fn z(a: u64, n: u64, b: u64, m: u64) -> f64 {
    if n < MIN_SAMPLES || m < MIN_SAMPLES {
        return 0.0;
    }
    let (n, m) = (n as f64, m as f64);
    let pooled = (a as f64 + b as f64) / (n + m);
    let spread = (pooled * (1.0 - pooled) * (1.0 / n + 1.0 / m)).sqrt();
    if spread <= 0.0 || !spread.is_finite() {
        return 0.0;
    }
    (a as f64 / n - b as f64 / m) / spread
}

/// What one tally says, as (successes, trials) per metric: errors per request, correct
/// rows per labelled row, first-class rows per predicted row.
fn proportions(t: &Tally) -> [(&'static str, u64, u64); 3] {
    let predicted = t.classes.iter().sum();
    [
        ("error rate", t.errors.min(t.requests), t.requests),
        ("live accuracy", t.correct.min(t.feedback), t.feedback),
        (
            "share of the first class",
            t.classes.first().copied().unwrap_or(0).min(predicted),
            predicted,
        ),
    ]
}

/// How far `mine` is from `rest` on the metric it is farthest on: |z|, and what it says.
fn farthest(mine: &Tally, rest: &Tally) -> Option<(f64, String)> {
    proportions(mine)
        .iter()
        .zip(&proportions(rest))
        .map(|(&(what, a, n), &(_, b, m))| {
            let z = z(a, n, b, m);
            let why = format!(
                "its {what} is {:.4} over {n} against {:.4} over {m} on the other agents (z {z:.1})",
                a as f64 / n.max(1) as f64,
                b as f64 / m.max(1) as f64
            );
            (z.abs(), why)
        })
        .max_by(|x, y| x.0.total_cmp(&y.0))
}

/// The agents among `tallies` (one version's, per agent) whose windows disagree with the
/// rest pooled beyond chance, each with what it disagrees on. The one farthest from the
/// others is left out first and the rest compared again, so one agent's lies never make the
/// honest ones look apart; it stops while three agents remain.
pub fn disagreeing(tallies: &[(AgentId, Tally)]) -> Vec<(AgentId, String)> {
    let mut left: Vec<&(AgentId, Tally)> = tallies.iter().collect();
    let mut found = Vec::new();
    while left.len() >= MIN_AGENTS {
        let apart = left
            .iter()
            .enumerate()
            .filter_map(|(i, (_, mine))| {
                let mut rest = Tally::default();
                for (_, other) in left
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .map(|(_, t)| t)
                {
                    rest.merge(other.clone());
                }
                farthest(mine, &rest).map(|(z, why)| (i, z, why))
            })
            .max_by(|x, y| x.1.total_cmp(&y.1));
        match apart {
            Some((i, z, why)) if z > Z_BEYOND_CHANCE => {
                found.push((left[i].0.clone(), why));
                left.remove(i);
            }
            _ => break,
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(requests: u64, errors: u64) -> Tally {
        Tally {
            requests,
            errors,
            classes: vec![requests / 2, requests - requests / 2],
            ..Tally::default()
        }
    }

    fn agent(name: &str) -> AgentId {
        AgentId(name.into())
    }

    #[test]
    fn one_agent_reporting_errors_the_others_do_not_see_is_told_apart() {
        let honest = |n: &str| (agent(n), tally(5_000, 50));
        let lying = (agent("liar"), tally(5_000, 2_500));
        let found = disagreeing(&[honest("a"), honest("b"), lying.clone()]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, agent("liar"));
        assert!(found[0].1.contains("error rate"), "{}", found[0].1);
        // Chance differences are not disagreement.
        let close = [
            (agent("a"), tally(5_000, 50)),
            (agent("b"), tally(5_000, 62)),
            (agent("c"), tally(5_000, 41)),
        ];
        assert!(disagreeing(&close).is_empty());
        // Two agents cannot tell which of them is wrong.
        assert!(disagreeing(&[honest("a"), lying]).is_empty());
        // Too few requests to tell anything.
        let small = [
            (agent("a"), tally(50, 0)),
            (agent("b"), tally(50, 0)),
            (agent("c"), tally(50, 50)),
        ];
        assert!(disagreeing(&small).is_empty());
    }
}
