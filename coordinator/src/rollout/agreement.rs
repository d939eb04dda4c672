//! Whether the agents serving one version agree. A rollout's or an alert's evidence is
//! pooled from every agent that serves the version; an agent whose evidence disagrees with
//! the others' beyond chance (any one proportion it reports, such as its error rate, live
//! accuracy, share of the first class or of a drift sketch's bin, against the rest pooled,
//! by a two-proportion z-test at [`Z_BEYOND_CHANCE`]) is left out of the decision, so a
//! rollback, a promotion or an alert never rests on one agent's evidence. It takes three
//! agents to tell which one disagrees; with two, both count.

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
    pub fn add(&mut self, agent: &AgentId, candidate: bool, tally: &Tally) {
        let side = match candidate {
            true => &mut self.candidate,
            false => &mut self.baseline,
        };
        side.entry(agent.clone()).or_default().merge(tally);
    }

    /// The candidate's and the baseline's counts summed over the agents, those that disagree
    /// left out, and the agents newly found disagreeing.
    pub fn agreed(&mut self) -> ((Tally, Tally), Vec<(AgentId, String)>) {
        let mut newly = Vec::new();
        let mut side = |tallies: &HashMap<AgentId, Tally>| {
            let listed: Vec<(AgentId, Proportions)> = tallies
                .iter()
                .map(|(a, t)| (a.clone(), of_tally(t)))
                .collect();
            let apart = disagreeing(TALLY.len(), &tally_name, &listed);
            let mut kept = Tally::default();
            for (agent, tally) in tallies {
                if !apart.iter().any(|(a, _)| a == agent) {
                    kept.merge(tally);
                }
            }
            newly.extend(apart);
            kept
        };
        let candidate = side(&self.candidate);
        let baseline = side(&self.baseline);
        newly.retain(|(agent, _)| self.flagged.insert(agent.clone()));
        ((candidate, baseline), newly)
    }
}

/// What one agent's evidence says, as (successes, trials) per proportion, in an order every
/// agent's list shares.
pub type Proportions = Vec<(u64, u64)>;

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

/// What [`of_tally`]'s proportions are.
pub const TALLY: [&str; 4] = [
    "error rate",
    "live accuracy",
    "share of the first class",
    "shadow disagreement",
];

/// The name of [`of_tally`]'s proportion `i`.
pub fn tally_name(i: usize) -> String {
    TALLY.get(i).copied().unwrap_or("proportion").to_string()
}

/// What one tally says: errors per request, correct rows per labelled row, first-class rows
/// per predicted row, and a shadow's rows answered otherwise per row compared.
pub fn of_tally(t: &Tally) -> Proportions {
    let predicted = t.classes.iter().sum();
    vec![
        (t.errors.min(t.requests), t.requests),
        (t.correct.min(t.feedback), t.feedback),
        (
            t.classes.first().copied().unwrap_or(0).min(predicted),
            predicted,
        ),
        (
            t.differing.saturating_add(t.failed).min(t.compared),
            t.compared,
        ),
    ]
}

/// One proportion of `p`, none where it is shorter.
fn at(p: &Proportions, i: usize) -> (u64, u64) {
    p.get(i).copied().unwrap_or((0, 0))
}

/// How far `mine` is from the rest (`total` less `mine`) on the proportion it is farthest
/// on: |z|, and what it says.
fn farthest(
    width: usize,
    name: &dyn Fn(usize) -> String,
    mine: &Proportions,
    total: &Proportions,
) -> Option<(f64, String)> {
    let (i, z, (a, n), (b, m)) = (0..width)
        .map(|i| {
            let (a, n) = at(mine, i);
            let (ta, tn) = at(total, i);
            let (b, m) = (ta.saturating_sub(a), tn.saturating_sub(n));
            (i, z(a, n, b, m).abs(), (a, n), (b, m))
        })
        .max_by(|x, y| x.1.total_cmp(&y.1))?;
    let why = format!(
        "its {} is {:.4} over {n} against {:.4} over {m} on the other agents (z {z:.1})",
        name(i),
        a as f64 / n.max(1) as f64,
        b as f64 / m.max(1) as f64
    );
    Some((z, why))
}

/// The agents among `agents` (one version's evidence, per agent, as proportions named by
/// `name`, `width` of them) whose evidence disagrees with the rest pooled beyond chance, each with what it
/// disagrees on. The one farthest from the others is left out first and the rest compared
/// again, so one agent's lies never make the honest ones look apart; it stops while three
/// agents remain.
pub fn disagreeing(
    width: usize,
    name: &dyn Fn(usize) -> String,
    agents: &[(AgentId, Proportions)],
) -> Vec<(AgentId, String)> {
    let mut total: Proportions = vec![(0, 0); width];
    let shift = |total: &mut Proportions, p: &Proportions, add: bool| {
        for (i, t) in total.iter_mut().enumerate() {
            let (a, n) = at(p, i);
            *t = match add {
                true => (t.0.saturating_add(a), t.1.saturating_add(n)),
                false => (t.0.saturating_sub(a), t.1.saturating_sub(n)),
            };
        }
    };
    for (_, p) in agents {
        shift(&mut total, p, true);
    }
    let mut left: Vec<usize> = (0..agents.len()).collect();
    let mut found = Vec::new();
    while left.len() >= MIN_AGENTS {
        let apart = left
            .iter()
            .enumerate()
            .filter_map(|(pos, &i)| {
                farthest(width, name, &agents[i].1, &total).map(|(z, why)| (pos, z, why))
            })
            .max_by(|x, y| x.1.total_cmp(&y.1));
        match apart {
            Some((pos, z, why)) if z > Z_BEYOND_CHANCE => {
                let i = left.remove(pos);
                shift(&mut total, &agents[i].1, false);
                found.push((agents[i].0.clone(), why));
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

    fn disagreeing(tallies: &[(AgentId, Tally)]) -> Vec<(AgentId, String)> {
        let listed: Vec<(AgentId, Proportions)> = tallies
            .iter()
            .map(|(a, t)| (a.clone(), of_tally(t)))
            .collect();
        super::disagreeing(TALLY.len(), &tally_name, &listed)
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
