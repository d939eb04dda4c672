//! The analysis of a rollout: the candidate against the baseline on the windows of the same
//! period, one check per signal (errors, latency p50 and p99, live accuracy, the distribution
//! of predictions, and a shadow's disagreement), each an always-valid interval from
//! [`drover_ml::sequential`] with its share of the spec's error rate. Too few samples is
//! inconclusive, never a pass.

use drover_ml::sequential::{self, Proportion};
use drover_protocol::rollout::{Check, RolloutSpec, Verdict};
use drover_protocol::serve::{LATENCY_BUCKETS_US, ServingWindow, latency_quantile_us};

/// Checks one analysis runs, among which the spec's error rate is shared.
const CHECKS: f64 = 6.0;
/// The name of the test, as decisions report it.
const TEST: &str = "mSPRT confidence sequence";

/// What one version served over a period, summed over agents and windows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    pub requests: u64,
    pub errors: u64,
    /// Requests per latency bucket.
    pub latency: Vec<u64>,
    /// Predicted rows per class.
    pub classes: Vec<u64>,
    pub feedback: u64,
    pub correct: u64,
    /// Shadow: rows copied to it, those it answered otherwise than the caller was answered,
    /// and those it failed to predict.
    pub compared: u64,
    pub differing: u64,
    pub failed: u64,
}

impl Tally {
    /// Adds one window's counts.
    pub fn add(&mut self, w: &ServingWindow) {
        self.requests += w.requests;
        self.errors += w.errors.min(w.requests);
        add_into(&mut self.latency, &w.latency);
        add_into(&mut self.classes, &w.classes);
        self.feedback += w.feedback;
        self.correct += w.correct.min(w.feedback);
    }

    /// Adds another tally's counts.
    pub fn merge(&mut self, other: &Tally) {
        self.requests += other.requests;
        self.errors += other.errors;
        add_into(&mut self.latency, &other.latency);
        add_into(&mut self.classes, &other.classes);
        self.feedback += other.feedback;
        self.correct += other.correct;
        self.compared += other.compared;
        self.differing += other.differing;
        self.failed += other.failed;
    }

    /// The share of requests slower than `bound_us`.
    fn slower_than(&self, bound_us: u64) -> Proportion {
        let fast = LATENCY_BUCKETS_US.partition_point(|&b| b <= bound_us);
        let slow = self.latency.iter().skip(fast).sum();
        Proportion::new(slow, self.requests.max(self.latency.iter().sum()))
    }

    /// The upper bound of the bucket holding quantile `q` of latency.
    pub fn quantile_bound(&self, q: f64) -> Option<u64> {
        latency_quantile_us(&self.latency, q)
    }
}

fn add_into(sum: &mut Vec<u64>, more: &[u64]) {
    if sum.len() < more.len() {
        sum.resize(more.len(), 0);
    }
    sum.iter_mut().zip(more).for_each(|(s, m)| *s += m);
}

/// Whether a larger rate is worse (errors), better (accuracy), or neither: a shift either
/// way is the harm (a class's share of predictions).
#[derive(Clone, Copy)]
enum Better {
    Lower,
    Higher,
    Neither,
}

/// Compares two rates: within `tolerance` of the baseline (in the bad direction) passes once
/// the interval shows it, beyond it fails once the interval shows that.
fn compare(
    metric: &str,
    candidate: Proportion,
    baseline: Proportion,
    better: Better,
    tolerance: f64,
    min_n: u64,
    alpha: f64,
) -> Check {
    let interval = if candidate.n >= min_n && baseline.n >= min_n {
        sequential::difference(candidate, baseline, alpha, tolerance.max(0.01))
    } else {
        None
    };
    let verdict = match (interval, better) {
        (None, _) => Verdict::Inconclusive,
        (Some(i), Better::Lower) if i.low > tolerance => Verdict::Fail,
        (Some(i), Better::Lower) if i.high <= tolerance => Verdict::Pass,
        (Some(i), Better::Higher) if i.high < -tolerance => Verdict::Fail,
        (Some(i), Better::Higher) if i.low >= -tolerance => Verdict::Pass,
        (Some(i), Better::Neither) if i.low > tolerance || i.high < -tolerance => Verdict::Fail,
        (Some(i), Better::Neither) if i.low >= -tolerance && i.high <= tolerance => Verdict::Pass,
        _ => Verdict::Inconclusive,
    };
    Check {
        metric: metric.into(),
        test: format!("{TEST}, alpha {alpha:.4}"),
        candidate_n: candidate.n,
        candidate_value: candidate.rate(),
        baseline_n: baseline.n,
        baseline_value: baseline.rate(),
        low: interval.map(|i| i.low),
        high: interval.map(|i| i.high),
        tolerance,
        verdict,
    }
}

fn skipped(metric: &str, why: &str) -> Check {
    Check {
        metric: metric.into(),
        test: why.into(),
        candidate_n: 0,
        candidate_value: 0.0,
        baseline_n: 0,
        baseline_value: 0.0,
        low: None,
        high: None,
        tolerance: 0.0,
        verdict: Verdict::Skipped,
    }
}

/// Each check's share of the spec's error rate.
fn alpha(spec: &RolloutSpec) -> f64 {
    spec.error_rate / CHECKS
}

/// The safety checks of a candidate serving traffic beside the baseline over the same
/// period: errors, latency, accuracy and predictions.
pub fn served(candidate: &Tally, baseline: &Tally, spec: &RolloutSpec) -> Vec<Check> {
    let t = &spec.tolerances;
    let (a, n) = (alpha(spec), spec.step_samples);
    let mut checks = vec![errors(candidate, baseline, spec)];
    for (name, q, tolerance) in [
        ("latency p50", 0.5, t.latency_p50),
        ("latency p99", 0.99, t.latency_p99),
    ] {
        let (metric, c, b) = match baseline.quantile_bound(q) {
            Some(bound) => (
                format!("{name} (share slower than {bound} us)"),
                candidate.slower_than(bound),
                baseline.slower_than(bound),
            ),
            None => (
                name.to_string(),
                Proportion::default(),
                Proportion::default(),
            ),
        };
        checks.push(compare(&metric, c, b, Better::Lower, tolerance, n, a));
    }
    checks.push(accuracy(candidate, baseline, spec));
    checks.push(predictions(candidate, baseline, spec));
    checks
}

/// The checks of a promoted candidate against what the baseline served before it: errors,
/// accuracy and predictions. Latency is left out: it depends on the load of the moment, so
/// it is only compared while both serve at once.
pub fn guarded(candidate: &Tally, baseline: &Tally, spec: &RolloutSpec) -> Vec<Check> {
    vec![
        errors(candidate, baseline, spec),
        accuracy(candidate, baseline, spec),
        predictions(candidate, baseline, spec),
    ]
}

fn errors(candidate: &Tally, baseline: &Tally, spec: &RolloutSpec) -> Check {
    compare(
        "error rate",
        Proportion::new(candidate.errors, candidate.requests),
        Proportion::new(baseline.errors, baseline.requests),
        Better::Lower,
        spec.tolerances.errors,
        spec.step_samples,
        alpha(spec),
    )
}

/// Live accuracy from feedback; skipped without any feedback unless the spec requires it.
fn accuracy(candidate: &Tally, baseline: &Tally, spec: &RolloutSpec) -> Check {
    if candidate.feedback == 0 && !spec.require_feedback {
        return skipped("accuracy", "no feedback");
    }
    compare(
        "accuracy",
        Proportion::new(candidate.correct, candidate.feedback),
        Proportion::new(baseline.correct, baseline.feedback),
        Better::Higher,
        spec.tolerances.accuracy,
        spec.min_feedback,
        alpha(spec),
    )
}

/// Every class's share of predicted rows, its check's error rate split among the classes;
/// the check is as bad as its worst class.
fn predictions(candidate: &Tally, baseline: &Tally, spec: &RolloutSpec) -> Check {
    let classes = candidate.classes.len().max(baseline.classes.len());
    if classes == 0 {
        return skipped("predictions", "no classes (a regressor)");
    }
    let rows = |t: &Tally| t.classes.iter().sum::<u64>();
    let a = alpha(spec) / classes as f64;
    let per_class: Vec<Check> = (0..classes)
        .map(|c| {
            let share =
                |t: &Tally| Proportion::new(t.classes.get(c).copied().unwrap_or(0), rows(t));
            compare(
                &format!("share of class {c}"),
                share(candidate),
                share(baseline),
                Better::Neither,
                spec.tolerances.predictions,
                spec.step_samples,
                a,
            )
        })
        .collect();
    let worst = per_class
        .iter()
        .find(|c| c.verdict == Verdict::Fail)
        .or_else(|| {
            per_class
                .iter()
                .find(|c| c.verdict == Verdict::Inconclusive)
        })
        .unwrap_or(&per_class[0]);
    let mut check = worst.clone();
    check.metric = format!("predictions ({})", worst.metric);
    check
}

/// A shadow candidate's failures against the baseline's error rate, its disagreement with
/// the answers given against its tolerance, and its live accuracy (feedback scores its
/// predictions too) against the baseline's.
pub fn shadowed(candidate: &Tally, baseline: &Tally, spec: &RolloutSpec) -> Vec<Check> {
    vec![
        compare(
            "error rate",
            Proportion::new(candidate.failed, candidate.compared),
            Proportion::new(baseline.errors, baseline.requests),
            Better::Lower,
            spec.tolerances.errors,
            spec.step_samples,
            alpha(spec),
        ),
        compare(
            "disagreement",
            Proportion::new(candidate.differing, candidate.compared),
            Proportion::new(0, candidate.compared),
            Better::Lower,
            spec.tolerances.disagreement,
            spec.step_samples,
            alpha(spec),
        ),
        accuracy(candidate, baseline, spec),
    ]
}

/// Which version an A/B comparison favours: on accuracy when both sides have enough
/// feedback, else on the error rate. `Pass` is the candidate, `Fail` the baseline.
pub fn winner(candidate: &Tally, baseline: &Tally, spec: &RolloutSpec) -> Check {
    let enough = candidate.feedback >= spec.min_feedback && baseline.feedback >= spec.min_feedback;
    let (metric, c, b, better) = if enough {
        (
            "winner on accuracy",
            Proportion::new(candidate.correct, candidate.feedback),
            Proportion::new(baseline.correct, baseline.feedback),
            Better::Higher,
        )
    } else {
        (
            "winner on error rate",
            Proportion::new(candidate.errors, candidate.requests),
            Proportion::new(baseline.errors, baseline.requests),
            Better::Lower,
        )
    };
    let mut check = compare(metric, c, b, better, 0.0, spec.step_samples, alpha(spec));
    // At zero tolerance "pass" needs the candidate strictly better, "fail" strictly worse.
    if let (Some(low), Some(high)) = (check.low, check.high) {
        check.verdict = match better {
            Better::Higher if low > 0.0 => Verdict::Pass,
            Better::Higher if high < 0.0 => Verdict::Fail,
            Better::Lower if high < 0.0 => Verdict::Pass,
            Better::Lower if low > 0.0 => Verdict::Fail,
            _ => Verdict::Inconclusive,
        };
    }
    check
}

/// The overall verdict of some checks: any failure fails, every check passed or skipped
/// passes, anything else is inconclusive.
pub fn overall(checks: &[Check]) -> Verdict {
    if checks.iter().any(|c| c.verdict == Verdict::Fail) {
        Verdict::Fail
    } else if checks
        .iter()
        .all(|c| matches!(c.verdict, Verdict::Pass | Verdict::Skipped))
    {
        Verdict::Pass
    } else {
        Verdict::Inconclusive
    }
}

/// One line naming what failed or is undecided, for a decision's reason.
pub fn summary(checks: &[Check]) -> String {
    let line = |c: &Check| {
        let interval = match (c.low, c.high) {
            (Some(l), Some(h)) => format!(", difference in [{l:+.4}, {h:+.4}]"),
            _ => String::new(),
        };
        format!(
            "{} {} ({:.4} over {} vs {:.4} over {}{interval}, tolerance {})",
            c.metric,
            c.verdict,
            c.candidate_value,
            c.candidate_n,
            c.baseline_value,
            c.baseline_n,
            c.tolerance
        )
    };
    let notable: Vec<String> = checks
        .iter()
        .filter(|c| c.verdict == Verdict::Fail)
        .map(line)
        .collect();
    if !notable.is_empty() {
        return notable.join("; ");
    }
    let open: Vec<String> = checks
        .iter()
        .filter(|c| c.verdict == Verdict::Inconclusive)
        .map(line)
        .collect();
    if open.is_empty() {
        "every check passed".into()
    } else {
        open.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(requests: u64, errors: u64, feedback: u64, correct: u64) -> Tally {
        let mut latency = vec![0; LATENCY_BUCKETS_US.len() + 1];
        latency[2] = requests;
        Tally {
            requests,
            errors,
            latency,
            classes: vec![requests / 2, requests - requests / 2],
            feedback,
            correct,
            ..Tally::default()
        }
    }

    #[test]
    fn a_worse_candidate_fails_a_same_one_passes_and_few_samples_decide_nothing() {
        let spec = RolloutSpec::default();
        let baseline = tally(40_000, 40, 20_000, 17_000);
        let bad = served(&tally(2_000, 2, 1_000, 500), &baseline, &spec);
        assert_eq!(overall(&bad), Verdict::Fail, "{}", summary(&bad));
        assert!(
            summary(&bad).starts_with("accuracy fail"),
            "{}",
            summary(&bad)
        );
        let same = served(&tally(40_000, 40, 20_000, 17_000), &baseline, &spec);
        assert_eq!(overall(&same), Verdict::Pass, "{}", summary(&same));
        let few = served(&tally(50, 0, 10, 5), &baseline, &spec);
        assert_eq!(overall(&few), Verdict::Inconclusive, "{}", summary(&few));
        let no_feedback = served(&tally(40_000, 40, 0, 0), &baseline, &spec);
        assert_eq!(overall(&no_feedback), Verdict::Pass);
        let strict = RolloutSpec {
            require_feedback: true,
            ..RolloutSpec::default()
        };
        assert_eq!(
            overall(&served(&tally(40_000, 40, 0, 0), &baseline, &strict)),
            Verdict::Inconclusive
        );
    }

    #[test]
    fn slower_and_skewed_candidates_fail() {
        let spec = RolloutSpec::default();
        let baseline = tally(20_000, 0, 0, 0);
        let mut slow = tally(5_000, 0, 0, 0);
        slow.latency[2] = 4_000;
        slow.latency[6] = 1_000;
        assert_eq!(overall(&served(&slow, &baseline, &spec)), Verdict::Fail);
        let mut skewed = tally(5_000, 0, 0, 0);
        skewed.classes = vec![4_500, 500];
        let checks = served(&skewed, &baseline, &spec);
        assert_eq!(overall(&checks), Verdict::Fail, "{}", summary(&checks));
    }

    #[test]
    fn a_shadow_is_judged_on_failures_disagreement_and_accuracy() {
        let spec = RolloutSpec::default();
        let baseline = tally(40_000, 40, 20_000, 17_000);
        let shadow = |compared, differing, failed| Tally {
            compared,
            differing,
            failed,
            ..Tally::default()
        };
        let agreeing = shadowed(&shadow(5_000, 50, 0), &baseline, &spec);
        assert_eq!(overall(&agreeing), Verdict::Pass, "{}", summary(&agreeing));
        let failing = shadowed(&shadow(5_000, 0, 500), &baseline, &spec);
        assert!(
            summary(&failing).starts_with("error rate fail"),
            "{}",
            summary(&failing)
        );
        let disagreeing = shadowed(&shadow(5_000, 1_500, 0), &baseline, &spec);
        assert!(
            summary(&disagreeing).starts_with("disagreement fail"),
            "{}",
            summary(&disagreeing)
        );
        let mut scored = shadow(5_000, 50, 0);
        (scored.feedback, scored.correct) = (2_000, 1_000);
        let worse = shadowed(&scored, &baseline, &spec);
        assert!(
            summary(&worse).starts_with("accuracy fail"),
            "{}",
            summary(&worse)
        );
    }

    #[test]
    fn a_winner_needs_a_clear_difference() {
        let spec = RolloutSpec::default();
        let better = winner(
            &tally(10_000, 0, 5_000, 4_600),
            &tally(10_000, 0, 5_000, 4_250),
            &spec,
        );
        assert_eq!(better.verdict, Verdict::Pass, "{better:?}");
        let worse = winner(
            &tally(10_000, 0, 5_000, 4_000),
            &tally(10_000, 0, 5_000, 4_250),
            &spec,
        );
        assert_eq!(worse.verdict, Verdict::Fail);
        let same = winner(
            &tally(10_000, 0, 5_000, 4_250),
            &tally(10_000, 0, 5_000, 4_250),
            &spec,
        );
        assert_eq!(same.verdict, Verdict::Inconclusive);
    }
}
