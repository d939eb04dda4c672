//! The pure core under simulated traffic, with an injected clock: better and worse
//! candidates, A/A runs and their false positive rate, too few samples, operator commands.

use std::time::Duration;

use drover_protocol::rollout::{Action, Command, Phase, Rollout, RolloutSpec, Strategy};
use drover_protocol::serve::LATENCY_BUCKETS_US;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::analysis::Tally;
use super::machine::{self, Observation, Readiness};

/// How a simulated version behaves per request.
#[derive(Clone, Copy)]
struct Model {
    error: f64,
    accuracy: f64,
    /// Chance a prediction is class 1.
    class_one: f64,
    /// Chance a request takes 1-2 ms rather than 100-200 us.
    slow: f64,
}

const GOOD: Model = Model {
    error: 0.002,
    accuracy: 0.85,
    class_one: 0.3,
    slow: 0.01,
};

/// `requests` requests of `model` answered in one window, all with feedback.
fn serve(rng: &mut StdRng, model: Model, requests: u64, tally: &mut Tally) {
    if tally.latency.is_empty() {
        tally.latency = vec![0; LATENCY_BUCKETS_US.len() + 1];
        tally.classes = vec![0; 2];
    }
    for _ in 0..requests {
        tally.requests += 1;
        tally.errors += u64::from(rng.gen_bool(model.error));
        tally.latency[if rng.gen_bool(model.slow) { 4 } else { 1 }] += 1;
        tally.classes[usize::from(rng.gen_bool(model.class_one))] += 1;
        tally.feedback += 1;
        tally.correct += u64::from(rng.gen_bool(model.accuracy));
    }
}

fn spec(strategy: Strategy) -> RolloutSpec {
    RolloutSpec {
        strategy,
        step_duration: Duration::from_secs(30),
        step_samples: 200,
        step_deadline: Duration::from_secs(300),
        min_feedback: 200,
        guard: Duration::from_secs(60),
        max_duration: Duration::from_secs(600),
        ..RolloutSpec::default()
    }
}

/// Runs a rollout of `candidate` against `baseline` at `rps` requests per second in 10 s
/// windows until it ends or `limit` passes; the rollout then, and every decision.
fn simulate(
    seed: u64,
    spec: RolloutSpec,
    baseline: Model,
    candidate: Model,
    rps: u64,
    limit: Duration,
) -> (Rollout, Vec<Action>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut r, started) = machine::start(1, "m", 1, 2, spec, 0);
    let mut actions = vec![started.action];
    let (mut c, mut b) = (Tally::default(), Tally::default());
    let mut whole_baseline = Tally::default();
    let mut now = 0;
    let settled = |r: &Rollout| {
        r.phase.is_final() || matches!(r.phase, Phase::Paused { .. } | Phase::Held { .. })
    };
    while now < limit.as_millis() as u64 && !settled(&r) {
        now += 10_000;
        let w = machine::weights(&r);
        let to_candidate = rps * 10 * u64::from(w.candidate) / 100;
        serve(&mut rng, candidate, to_candidate, &mut c);
        let mut window = Tally::default();
        serve(&mut rng, baseline, rps * 10 - to_candidate, &mut window);
        for t in [&mut b, &mut whole_baseline] {
            window_into(t, &window);
        }
        let seen = Observation {
            candidate: c.clone(),
            baseline: if r.phase == Phase::Guard {
                whole_baseline.clone()
            } else {
                b.clone()
            },
            readiness: Readiness::Ready,
        };
        let machine::Stepped {
            rollout: next,
            decisions,
            ..
        } = machine::step(&r, &seen, now);
        if next.since_ms != r.since_ms {
            (c, b) = (Tally::default(), Tally::default());
        }
        actions.extend(decisions.into_iter().map(|d| d.action));
        r = next;
    }
    (r, actions)
}

fn window_into(sum: &mut Tally, w: &Tally) {
    if sum.latency.is_empty() {
        sum.latency = vec![0; w.latency.len()];
        sum.classes = vec![0; w.classes.len()];
    }
    sum.requests += w.requests;
    sum.errors += w.errors;
    sum.feedback += w.feedback;
    sum.correct += w.correct;
    sum.latency
        .iter_mut()
        .zip(&w.latency)
        .for_each(|(s, x)| *s += x);
    sum.classes
        .iter_mut()
        .zip(&w.classes)
        .for_each(|(s, x)| *s += x);
}

#[test]
fn a_better_canary_goes_through_every_step_and_succeeds() {
    let better = Model {
        accuracy: 0.9,
        ..GOOD
    };
    let (r, actions) = simulate(
        1,
        spec(Strategy::Canary),
        GOOD,
        better,
        200,
        Duration::from_secs(3600),
    );
    assert_eq!(r.phase, Phase::Succeeded, "{actions:?}");
    assert_eq!(
        actions,
        [
            Action::Started,
            Action::Advanced {
                step: 1,
                weight: 25
            },
            Action::Advanced {
                step: 2,
                weight: 50
            },
            Action::Promoted,
            Action::Succeeded
        ]
    );
}

#[test]
fn a_worse_canary_is_rolled_back_at_its_first_step() {
    let shuffled = Model {
        accuracy: 0.5,
        ..GOOD
    };
    let (r, actions) = simulate(
        2,
        spec(Strategy::Canary),
        GOOD,
        shuffled,
        200,
        Duration::from_secs(3600),
    );
    assert!(
        matches!(&r.phase, Phase::RolledBack { reason } if reason.contains("accuracy fail")),
        "{:?}",
        r.phase
    );
    assert_eq!(r.step, 0, "rolled back at the first step");
    assert_eq!(actions, [Action::Started, Action::RolledBack]);
    let erring = Model {
        error: 0.05,
        ..GOOD
    };
    let (r, _) = simulate(
        3,
        spec(Strategy::Canary),
        GOOD,
        erring,
        200,
        Duration::from_secs(3600),
    );
    assert!(
        matches!(&r.phase, Phase::RolledBack { reason } if reason.contains("error rate fail")),
        "{:?}",
        r.phase
    );
}

#[test]
fn a_failure_pauses_when_the_spec_says_so() {
    let mut spec = spec(Strategy::Canary);
    spec.on_failure = drover_protocol::rollout::OnFailure::Pause;
    let erring = Model {
        error: 0.05,
        ..GOOD
    };
    let (r, actions) = simulate(4, spec, GOOD, erring, 200, Duration::from_secs(600));
    assert!(matches!(r.phase, Phase::Paused { .. }), "{:?}", r.phase);
    assert_eq!(actions, [Action::Started, Action::Paused]);
}

#[test]
fn too_few_samples_stay_inconclusive_then_pause() {
    let (r, actions) = simulate(
        5,
        spec(Strategy::Canary),
        GOOD,
        GOOD,
        2,
        Duration::from_secs(3600),
    );
    assert!(
        matches!(&r.phase, Phase::Paused { reason } if reason.contains("still inconclusive")),
        "{:?}",
        r.phase
    );
    assert_eq!(actions, [Action::Started, Action::Paused], "never a pass");
    assert_eq!(r.since_ms, 300_000, "paused at the deadline");
}

#[test]
fn a_degrading_promotion_rolls_back_in_the_guard_window() {
    let (r, _) = simulate(
        6,
        spec(Strategy::Canary),
        GOOD,
        GOOD,
        1000,
        Duration::from_secs(3600),
    );
    assert_eq!(
        r.phase,
        Phase::Succeeded,
        "an A/A canary with enough traffic passes"
    );
    let mut guarded = r.clone();
    guarded.phase = Phase::Guard;
    let mut bad = Tally::default();
    let mut rng = StdRng::seed_from_u64(9);
    serve(&mut rng, Model { error: 0.1, ..GOOD }, 2_000, &mut bad);
    let mut baseline = Tally::default();
    serve(&mut rng, GOOD, 20_000, &mut baseline);
    let seen = Observation {
        candidate: bad,
        baseline,
        readiness: Readiness::Ready,
    };
    let stepped = machine::step(&guarded, &seen, guarded.since_ms + 1_000);
    let (next, decisions) = (stepped.rollout, stepped.decisions);
    assert!(matches!(next.phase, Phase::RolledBack { .. }));
    assert!(decisions[0].reason.starts_with("degraded after promotion"));
    assert_eq!(machine::weights(&next).candidate, 0);
}

/// A/A: the same model on both sides. Over many runs an A/B rollout names a winner, and a
/// canary fails, in no more than the spec's error rate of them.
#[test]
fn a_a_rollouts_keep_the_stated_error_rate() {
    let runs = 200;
    let mut ab_winners = 0;
    let mut canary_failures = 0;
    for seed in 0..runs {
        let (r, _) = simulate(
            seed,
            spec(Strategy::Ab),
            GOOD,
            GOOD,
            100,
            Duration::from_secs(600),
        );
        if !matches!(&r.phase, Phase::RolledBack { reason } if reason.starts_with("no winner")) {
            ab_winners += 1;
        }
        let (r, _) = simulate(
            1000 + seed,
            spec(Strategy::Canary),
            GOOD,
            GOOD,
            100,
            Duration::from_secs(3600),
        );
        if matches!(r.phase, Phase::RolledBack { .. }) {
            canary_failures += 1;
        }
    }
    let alpha = RolloutSpec::default().error_rate;
    eprintln!(
        "A/A: {ab_winners} A/B winners, {canary_failures} canary failures in {runs} runs each"
    );
    assert!(
        ab_winners as f64 / runs as f64 <= alpha,
        "{ab_winners} of {runs} A/A runs named a winner"
    );
    assert!(
        canary_failures as f64 / runs as f64 <= alpha,
        "{canary_failures} of {runs} A/A canaries failed"
    );
}

#[test]
fn an_ab_test_promotes_a_winner_or_holds_it_for_the_operator() {
    let better = Model {
        accuracy: 0.92,
        ..GOOD
    };
    let (r, actions) = simulate(
        7,
        spec(Strategy::Ab),
        GOOD,
        better,
        100,
        Duration::from_secs(3600),
    );
    assert_eq!(r.phase, Phase::Succeeded, "{actions:?}");
    let mut gated = spec(Strategy::Ab);
    gated.manual_gate = true;
    let (r, _) = simulate(7, gated, GOOD, better, 100, Duration::from_secs(3600));
    assert!(matches!(r.phase, Phase::Held { .. }), "{:?}", r.phase);
    let (promoted, d) = machine::command(&r, Command::Promote, r.since_ms + 1).expect("promote");
    assert_eq!((promoted.phase, d.action), (Phase::Guard, Action::Promoted));
    let worse = Model {
        accuracy: 0.78,
        ..GOOD
    };
    let (r, _) = simulate(
        8,
        spec(Strategy::Ab),
        GOOD,
        worse,
        100,
        Duration::from_secs(3600),
    );
    assert!(
        matches!(&r.phase, Phase::RolledBack { .. }),
        "{:?}",
        r.phase
    );
}

#[test]
fn blue_green_waits_for_the_candidate_then_switches_at_once() {
    let (r, _) = machine::start(1, "m", 1, 2, spec(Strategy::Bluegreen), 0);
    assert_eq!(machine::weights(&r).candidate, 0);
    let mut seen = Observation {
        candidate: Tally::default(),
        baseline: Tally::default(),
        readiness: Readiness::Loading,
    };
    assert!(machine::step(&r, &seen, 1_000).decisions.is_empty());
    seen.readiness = Readiness::Ready;
    let next = machine::step(&r, &seen, 2_000).rollout;
    assert_eq!(
        (next.phase.clone(), machine::weights(&next).candidate),
        (Phase::Guard, 100)
    );
    seen.readiness = Readiness::Failed("bad artifact".into());
    let failed = machine::step(&r, &seen, 2_000).rollout;
    assert!(matches!(failed.phase, Phase::RolledBack { .. }));
}

#[test]
fn operators_pause_resume_promote_and_abort() {
    let (r, _) = machine::start(1, "m", 1, 2, spec(Strategy::Canary), 0);
    let (paused, _) = machine::command(&r, Command::Pause, 5).expect("pause");
    assert_eq!(
        machine::weights(&paused),
        machine::weights(&r),
        "a pause keeps its weights"
    );
    assert!(machine::command(&paused, Command::Pause, 6).is_err());
    let (resumed, _) = machine::command(&paused, Command::Resume, 7).expect("resume");
    assert_eq!(
        (resumed.phase.clone(), resumed.step, resumed.since_ms),
        (Phase::Running, 0, 7)
    );
    let (aborted, d) = machine::command(&resumed, Command::Abort, 8).expect("abort");
    assert_eq!(d.action, Action::RolledBack);
    assert_eq!(machine::weights(&aborted).baseline, 100);
    let e = machine::command(&aborted, Command::Resume, 9).expect_err("over");
    assert!(e.contains("is over"), "{e}");
}
