//! Frames of the Rollouts and Overview views at 80x24 (insta), and the questions their keys
//! ask before a rollout is paused, promoted or aborted.

use drover_protocol::msg::{Event, EventRecord};
use drover_protocol::rollout::{
    Action as Did, Check, Command as Rollout, Decision, Phase, RolloutSpec, RolloutStatus, Verdict,
    Weights,
};
use drover_protocol::serve::SeriesPoint;

use super::tests::{NOW, app, deployments, draw};
use crate::console::action::{Action, Command};
use crate::console::app::App;
use crate::console::commands::View;
use crate::console::fetch::Rollouts;
use crate::console::keymap::Mode;

fn check(metric: &str, candidate: f64, baseline: f64, verdict: Verdict) -> Check {
    Check {
        metric: metric.into(),
        test: "mSPRT confidence sequence, alpha 0.0083".into(),
        candidate_n: 1_250,
        candidate_value: candidate,
        baseline_n: 9_544,
        baseline_value: baseline,
        low: Some(candidate - baseline - 0.02),
        high: Some(candidate - baseline + 0.02),
        tolerance: 0.03,
        verdict,
    }
}

/// A canary of churn@3 against churn@2 at its second step, with its traffic.
fn canary() -> Rollouts {
    let rollout = drover_protocol::rollout::Rollout {
        id: 2,
        model: "churn".into(),
        baseline: 2,
        candidate: 3,
        spec: RolloutSpec::default(),
        phase: Phase::Running,
        step: 1,
        since_ms: NOW - 20_000,
        started_ms: NOW - 90_000,
        updated_ms: NOW - 20_000,
    };
    let decisions = vec![
        Decision {
            at_ms: NOW - 90_000,
            action: Did::Started,
            reason: "canary of churn@3 against churn@2".into(),
            checks: Vec::new(),
        },
        Decision {
            at_ms: NOW - 20_000,
            action: Did::Advanced {
                step: 1,
                weight: 25,
            },
            reason: "step 1 (5%) passed: every check passed".into(),
            checks: vec![check("accuracy", 0.76, 0.72, Verdict::Pass)],
        },
    ];
    let status = RolloutStatus {
        rollout,
        weights: Weights {
            baseline: 75,
            candidate: 25,
            shadow: false,
        },
        analysis: vec![
            check("error rate", 0.0, 0.0, Verdict::Pass),
            check("accuracy", 0.75, 0.72, Verdict::Inconclusive),
        ],
        decisions,
    };
    let history = (0..12u64)
        .flat_map(|i| {
            [2, 3].map(|version| SeriesPoint {
                version,
                at_ms: NOW - 60_000 + i * 5_000,
                requests_per_second: if version == 2 {
                    400.0
                } else {
                    20.0 + 10.0 * i as f64
                },
                error_rate: 0.0,
                p99_us: Some(2_000),
                accuracy: Some(0.72 + 0.002 * i as f64),
            })
        })
        .collect();
    let mut listed = status.clone();
    listed.decisions.drain(..1);
    Rollouts {
        list: vec![listed],
        selected: Some(status),
        history,
    }
}

fn rollouts_app() -> App {
    let mut app = app();
    app.update(Action::GoToView(6));
    app.rollouts = canary();
    app.deployments = deployments();
    app
}

#[test]
fn the_rollouts_view_shows_steps_weights_sparklines_analysis_and_decisions() {
    let app = rollouts_app();
    assert_eq!(app.view, View::Rollouts);
    insta::assert_snapshot!(draw(&app).backend());
}

#[test]
fn rollout_keys_ask_before_pausing_promoting_and_aborting() {
    for (key, question, command) in [
        (
            Action::RequestPause,
            "pause the rollout of churn",
            Rollout::Pause,
        ),
        (
            Action::StartPromote,
            "give churn's candidate all traffic now",
            Rollout::Promote,
        ),
        (
            Action::RequestRemove,
            "abort the rollout of churn",
            Rollout::Abort,
        ),
    ] {
        let mut app = rollouts_app();
        app.update(key);
        assert_eq!(app.mode, Mode::Confirm);
        let asked = app
            .pending
            .as_ref()
            .map(|(q, _)| q.clone())
            .unwrap_or_default();
        assert!(asked.starts_with(question), "{asked}");
        let work = app.update(Action::Confirm);
        assert_eq!(
            work,
            [Command::Rollout {
                model: "churn".into(),
                command
            }]
        );
    }
    let mut paused = rollouts_app();
    paused.rollouts.list[0].rollout.phase = Phase::Paused {
        reason: "paused by the operator".into(),
    };
    paused.update(Action::RequestPause);
    let asked = paused
        .pending
        .as_ref()
        .map(|(q, _)| q.clone())
        .unwrap_or_default();
    assert!(asked.starts_with("resume the rollout of churn"), "{asked}");
}

#[test]
fn the_overview_shows_fleet_deployments_rollouts_and_decisions() {
    let mut app = rollouts_app();
    app.update(Action::GoToView(7));
    app.update(Action::RecordEvent(EventRecord {
        seq: 9,
        at_ms: NOW - 20_000,
        event: Event::RolloutDecided {
            model: "churn".into(),
            rollout: 2,
            candidate: 3,
            decision: Box::new(canary().list[0].decisions[0].clone()),
        },
    }));
    insta::assert_snapshot!(draw(&app).backend());
}

#[test]
fn the_console_opens_on_the_overview_once_anything_is_deployed() {
    use crate::console::fetch::{Answer, Ask};
    let answer = |app: &mut App, deployments| {
        let work = app.update(Action::SetConnected);
        let ticket = work
            .iter()
            .find_map(|c| match c {
                Command::Fetch {
                    ticket,
                    ask: Ask::Agents,
                } => Some(*ticket),
                _ => None,
            })
            .expect("the agents are fetched");
        app.update(Action::Fetched {
            ticket,
            ask: Ask::Agents,
            answer: Ok(Box::new(Answer::Agents(Vec::new(), deployments))),
        })
    };
    let mut empty = App::new("test".into(), NOW, false);
    answer(&mut empty, Vec::new());
    assert_eq!(
        empty.view,
        View::Agents,
        "nothing deployed: the agents first"
    );
    let mut deployed = App::new("test".into(), NOW, false);
    let work = answer(&mut deployed, deployments());
    assert_eq!(deployed.view, View::Overview);
    assert!(
        work.iter().any(|c| matches!(
            c,
            Command::Fetch {
                ask: crate::console::fetch::Ask::Rollouts(None),
                ..
            }
        )),
        "{work:?}"
    );
    let mut chosen = App::new("test".into(), NOW, false);
    chosen.update(Action::GoToView(0));
    answer(&mut chosen, deployments());
    assert_eq!(
        chosen.view,
        View::Agents,
        "a view the operator picked stays"
    );
}
