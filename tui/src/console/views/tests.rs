//! Frames of the console at 80x24 (insta): each view, pane, prompt and connection state.

use super::*;
use crate::console::action::Action;
use drover_protocol::msg::{Event, EventRecord};
use drover_protocol::types::{AgentId, AgentInfo, AgentStatus, HostLoad, parse_labels};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

pub(super) const NOW: u64 = 1_800_000_000_000;

fn agent(id: &str, host: &str, status: AgentStatus, seen_ago_ms: u64) -> AgentInfo {
    AgentInfo {
        id: AgentId(id.into()),
        hostname: host.into(),
        labels: parse_labels("role=train,serve").expect("labels"),
        status,
        last_heartbeat_ms: Some(NOW - seen_ago_ms),
        version: "0.1.0".into(),
        address: "10.0.0.7:52000".into(),
        capacity: None,
        load: Some(HostLoad {
            cpu_percent: 37.0,
            memory_used_bytes: 0,
        }),
        claimed: Default::default(),
    }
}

pub(super) fn app() -> App {
    let mut app = App::new("embedded 127.0.0.1:7400".into(), NOW, false);
    app.connection = Connection::Live;
    let agents = vec![
        agent("ag-0a1b2c3d4e5f", "gpu-node-1", AgentStatus::Ready, 400),
        agent("ag-9f8e7d6c5b4a", "cpu-node-2", AgentStatus::Lost, 12_000),
    ];
    let mut runs = vec![
        crate::console::app::tests::run("run-0000000000a1", 0.81),
        crate::console::app::tests::run("run-0000000000b2", 0.74),
    ];
    runs[1].status = drover_protocol::run::RunStatus::Running;
    runs[1].trials_done = 2;
    runs[1].metrics.clear();
    runs.iter_mut().for_each(|r| r.created_ms = NOW - 5_000);
    app.agents = agents;
    app.runs = crate::console::app::tests::page(runs);
    app.update(Action::RecordEvent(EventRecord {
        seq: 7,
        at_ms: NOW - 12_000,
        event: Event::AgentLost {
            id: AgentId("ag-9f8e7d6c5b4a".into()),
            reason: "no heartbeat for 3.1s".into(),
        },
    }));
    app
}

pub(super) fn draw(app: &App) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).expect("terminal");
    terminal.draw(|f| render(app, f)).expect("draw");
    terminal
}

#[test]
fn agents_view_at_80x24() {
    insta::assert_snapshot!(draw(&app()).backend());
}

#[test]
fn help_overlay() {
    let mut app = app();
    app.update(Action::ShowHelp);
    insta::assert_snapshot!(draw(&app).backend());
}

#[test]
fn runs_view_with_progress_and_marks() {
    let mut app = app();
    app.view = crate::console::commands::View::Runs;
    app.update(Action::ToggleMark);
    insta::assert_snapshot!(draw(&app).backend());
}

#[test]
fn launch_form() {
    let mut app = app();
    app.update(Action::OpenLaunchForm);
    app.update(Action::NextField);
    "churned".chars().for_each(|c| {
        app.update(Action::Type(c));
    });
    insta::assert_snapshot!(draw(&app).backend());
}

#[test]
fn events_view_after_command_line() {
    let mut app = app();
    app.update(Action::OpenCommandLine);
    "events".chars().for_each(|c| {
        app.update(Action::Type(c));
    });
    app.update(Action::Submit);
    insta::assert_snapshot!(draw(&app).backend());
}

#[test]
fn a_long_error_is_shown_whole() {
    let mut app = app();
    app.update(Action::ShowError(
        "spec.toml: TOML parse error at line 7, column 12: invalid type: string \"high\", \
         expected a number for `search.params.alpha` (alpha takes floats from 0 to 1000000)"
            .into(),
    ));
    insta::assert_snapshot!(draw(&app).backend());
}

#[test]
fn a_lost_coordinator_is_shown_and_rows_are_marked_not_live() {
    let mut app = app();
    app.update(Action::SetDisconnected {
        reason: "the coordinator went away".into(),
        retry_at_ms: NOW + 2_500,
    });
    let screen = draw(&app);
    insta::assert_snapshot!(screen.backend());
}

fn detail() -> drover_protocol::run::RunDetail {
    let mut summary = crate::console::app::tests::run("run-0000000000a1", 0.81);
    summary.gates_passed = Some(false);
    summary.created_ms = NOW - 60_000;
    summary.started_ms = Some(NOW - 58_000);
    summary.finished_ms = Some(NOW - 46_500);
    let trial = |n: u32, alpha: f64, accuracy: f64| drover_protocol::run::Trial {
        trial: n,
        params: [(
            "alpha".to_string(),
            drover_protocol::spec::ParamValue::Float(alpha),
        )]
        .into(),
        folds: Vec::new(),
        mean: [("accuracy".to_string(), accuracy)].into(),
    };
    drover_protocol::run::RunDetail {
        summary,
        spec: drover_protocol::spec::TrainSpec::from_toml(
            "experiment = \"churn\"\nmodel = \"churn\"\ndataset = \"churn\"\ntarget = \"churned\"\ntask = \"classification\"\nalgorithm = \"logistic_regression\"\n",
        )
        .ok(),
        spec_hash: "5pec".into(),
        dataset_hash: "d4ta0123456789abcdef".into(),
        seed: 7,
        drover_version: "0.1.0".into(),
        params: [("alpha".to_string(), drover_protocol::spec::ParamValue::Float(0.1))].into(),
        trials: vec![trial(1, 0.0, 0.79), trial(2, 0.1, 0.8123)],
        gate_failures: vec!["accuracy 0.8100 is below the minimum 0.9".into()],
        artifact_hash: None,
        rows_train: Some(320),
        rows_test: Some(80),
        registered: None,
        tags: Default::default(),
    }
}

#[test]
fn a_run_that_failed_its_gates_is_marked_and_described_whole() {
    let mut app = app();
    app.view = crate::console::commands::View::Runs;
    app.runs.runs[0].gates_passed = Some(false);
    assert_eq!(
        app.update(Action::Describe),
        [crate::console::action::Command::FetchDetail(
            crate::console::describe::DetailAsk::Run("run-0000000000a1".into())
        )]
    );
    app.update(Action::ShowDetail(crate::console::describe::Detail::Run(
        Box::new(detail()),
    )));
    insta::assert_snapshot!(draw(&app).backend());
    app.update(Action::Back);
    insta::assert_snapshot!("runs_list_marks_failed_gates", draw(&app).backend());
}

fn dataset_version() -> drover_protocol::data::DatasetVersion {
    let mut csv = String::from("tenure,plan,monthly,churned\n");
    for i in 0..200u32 {
        let plan = ["basic", "pro", "team"][(i % 7 % 3) as usize];
        let monthly = 20.0 + f64::from(i % 37) * 1.5 + f64::from((i * i) % 11);
        csv.push_str(&format!(
            "{},{plan},{monthly:.2},{}\n",
            i % 60,
            u32::from(i % 5 == 0)
        ));
    }
    let scanned =
        drover_ml::scan::scan(|| Ok(std::io::Cursor::new(csv.as_bytes()))).expect("scans");
    drover_protocol::data::DatasetVersion {
        name: "churn".into(),
        version: 2,
        hash: "9f2c4e81d0b7a6c5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1".into(),
        size_bytes: csv.len() as u64,
        rows: scanned.rows,
        schema: scanned.schema,
        profile: scanned.profile,
        changes: vec![drover_protocol::data::schema::SchemaChange::Added {
            column: "monthly".into(),
            kind: drover_protocol::data::schema::ColumnKind::Float,
        }],
        source: "churn-2026-11.csv".into(),
        created_ms: NOW - 90_000,
    }
}

#[test]
fn datasets_view_and_a_dataset_described_with_histograms_and_schema_changes() {
    let mut app = app();
    let version = dataset_version();
    app.datasets = vec![drover_protocol::data::DatasetSummary {
        name: "churn".into(),
        latest: 2,
        versions: 2,
        rows: version.rows,
        columns: 4,
        size_bytes: version.size_bytes,
        hash: version.hash.clone(),
        created_ms: version.created_ms,
    }];
    app.update(Action::GoToView(4));
    insta::assert_snapshot!("datasets_view", draw(&app).backend());
    app.update(Action::Describe);
    app.update(Action::ShowDetail(
        crate::console::describe::Detail::Dataset(Box::new(version)),
    ));
    insta::assert_snapshot!(draw(&app).backend());
}

/// churn@2 served at 90% and churn@3 as a shadow on the first agent, with its last window.
pub(super) fn deployments() -> Vec<drover_protocol::serve::DeploymentStatus> {
    use drover_protocol::serve::{Deployment, DeploymentStatus, LoadState, Rate, Serving, Variant};
    let variant = |version, weight, shadow| Variant {
        version,
        artifact_hash: drover_protocol::hash::ContentHash::of(b"m"),
        weight,
        shadow,
    };
    let serving = |version| Serving {
        model: "churn".into(),
        version,
        state: LoadState::Ready,
    };
    let agent = AgentId("ag-0a1b2c3d4e5f".into());
    vec![DeploymentStatus {
        deployment: Deployment {
            model: "churn".into(),
            variants: vec![variant(2, 90, false), variant(3, 0, true)],
            selector: parse_labels("role=serve").expect("labels"),
            updated_ms: NOW - 60_000,
        },
        agents: vec![(agent.clone(), vec![serving(2), serving(3)])],
        rates: vec![Rate {
            agent,
            version: 2,
            requests_per_second: 412.5,
            error_rate: 0.002,
            p99_us: Some(2_000),
        }],
    }]
}

#[test]
fn a_version_described_with_its_stage_history() {
    use drover_protocol::registry::{ModelSummary, ModelVersion, Stage};
    let mut app = app();
    app.view = View::Models;
    app.deployments = deployments();
    app.models = vec![ModelSummary {
        name: "churn".into(),
        latest: 2,
        latest_semver: "1.1.0".into(),
        versions: 2,
        production: Some(2),
        staging: None,
        created_ms: NOW - 86_400_000,
    }];
    app.versions = vec![ModelVersion {
        model: "churn".into(),
        version: 2,
        semver: "1.1.0".into(),
        stage: Stage::Production,
        aliases: vec!["champion".into()],
        run_id: "run-0000000000b2".into(),
        dataset: "churn@2".into(),
        dataset_hash: "9f2c4e81".into(),
        artifact_hash: "a1b2c3d4e5f60718293a4b5c6d7e8f90".into(),
        algorithm: "random_forest".into(),
        metrics: [("accuracy".to_string(), 0.874)].into(),
        created_ms: NOW - 3_600_000,
        rollout: None,
    }];
    insta::assert_snapshot!(
        "models_view_shows_where_versions_are_served",
        draw(&app).backend()
    );
    app.update(Action::Describe);
    let record = |seq, ago: u64, event| EventRecord {
        seq,
        at_ms: NOW - ago,
        event,
    };
    let history = vec![
        record(
            3,
            3_600_000,
            Event::ModelRegistered {
                model: "churn".into(),
                version: 2,
                semver: "1.1.0".into(),
                run_id: "run-0000000000b2".into(),
            },
        ),
        record(
            4,
            1_800_000,
            Event::ModelPromoted {
                model: "churn".into(),
                version: 2,
                stage: Stage::Staging,
                archived: None,
            },
        ),
        record(
            5,
            600_000,
            Event::ModelPromoted {
                model: "churn".into(),
                version: 2,
                stage: Stage::Production,
                archived: Some(1),
            },
        ),
        record(
            6,
            300_000,
            Event::AliasSet {
                model: "churn".into(),
                version: 2,
                alias: "champion".into(),
            },
        ),
    ];
    app.update(Action::ShowDetail(
        crate::console::describe::Detail::ModelHistory("churn".into(), history),
    ));
    insta::assert_snapshot!(draw(&app).backend());
}

#[test]
fn an_agent_described_with_its_jobs_and_a_removal_asked_first() {
    let mut app = app();
    app.deployments = deployments();
    app.update(Action::Describe);
    let mut job = crate::console::app::tests::run("run-0000000000b2", 0.0);
    job.status = drover_protocol::run::RunStatus::Running;
    job.trials_done = 2;
    job.trials_total = 4;
    app.update(Action::ShowDetail(
        crate::console::describe::Detail::AgentJobs("ag-0a1b2c3d4e5f".into(), vec![job]),
    ));
    insta::assert_snapshot!(draw(&app).backend());
    app.update(Action::Back);
    app.update(Action::RequestRemove);
    insta::assert_snapshot!("agent_removal_asked", draw(&app).backend());
}

#[test]
fn a_console_that_has_not_connected_yet_says_so() {
    let app = App::new("attached 10.0.0.2:7400".into(), NOW, false);
    let screen = draw(&app);
    let header: String = (0..80)
        .map(|x| screen.backend().buffer()[(x, 0)].symbol().to_string())
        .collect();
    assert!(header.contains("connecting..."), "{header}");
}

#[test]
fn a_queued_run_says_why_it_waits() {
    let mut app = app();
    app.view = View::Runs;
    app.runs.runs[0].status = drover_protocol::run::RunStatus::Queued;
    app.agents.iter_mut().for_each(|a| {
        a.labels = parse_labels("role=serve").expect("labels");
    });
    insta::assert_snapshot!(draw(&app).backend());
}
