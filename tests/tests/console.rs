//! The console's Agents view, rendered with ratatui's `TestBackend` from what a real
//! coordinator reports about three real (in-process) agents, read through the operator API.

use drover::client::OperatorLink;
use drover::console::action::Action;
use drover::console::app::App;
use drover::console::commands::View;
use drover::console::event::fetch;
use drover::console::fetch::{Answer, Ask};
use drover::console::views;
use drover_protocol::msg::{OperatorRequest, OperatorResponse};
use drover_protocol::types::unix_ms;
use drover_tests::{InProcessAgent, ready_count, start_coordinator, wait_for};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn screen(app: &App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("terminal");
    terminal.draw(|f| views::render(app, f)).expect("draw");
    let buffer = terminal.backend().buffer().clone();
    (0..height)
        .map(|y| {
            (0..width)
                .map(|x| buffer[(x, y)].symbol().to_string())
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_view_shows_live_agents() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let coordinator = start_coordinator(&tmp.path().join("coord")).await;
    let handle = coordinator.handle();
    let mut agents = Vec::new();
    for name in ["gpu-a", "gpu-b", "cpu-c"] {
        agents.push(InProcessAgent::join_and_run(&handle, tmp.path().join(name), name).await);
    }
    wait_for("three ready agents", || async {
        (ready_count(&handle).await == 3).then_some(())
    })
    .await;

    let link = OperatorLink::Local(handle.clone());
    let OperatorResponse::Agents(list) = link
        .request(OperatorRequest::ListAgents)
        .await
        .expect("list")
    else {
        panic!("not an agent list");
    };
    let mut app = App::new("embedded test".into(), unix_ms(), false);
    app.connection = drover::console::app::Connection::Live;
    app.agents = list;
    let text = screen(&app, 100, 30);
    assert!(text.contains("agents 3/3 ready"), "{text}");
    for agent in &agents {
        assert!(text.contains(&agent.id.0), "{} missing:\n{text}", agent.id);
    }
    for host in ["gpu-a", "gpu-b", "cpu-c"] {
        assert!(text.contains(host), "{host} missing:\n{text}");
    }
    assert_eq!(
        text.lines()
            .filter(|l| l.contains("ag-") && l.contains(" ready "))
            .count(),
        3,
        "{text}"
    );

    // Works at 80x24 too, and the filter narrows to one row.
    app.update(Action::OpenFilter);
    "gpu-b".chars().for_each(|c| {
        app.update(Action::Type(c));
    });
    let narrow = screen(&app, 80, 24);
    assert!(
        narrow.contains("gpu-b") && !narrow.contains("gpu-a") && !narrow.contains("cpu-c"),
        "{narrow}"
    );

    // Stopping one agent shows up as lost through the same API.
    let gone = agents.remove(0);
    let gone_id = gone.id.clone();
    gone.stop().await.expect("clean stop");
    let list = wait_for("the stopped agent to be lost", || async {
        let OperatorResponse::Agents(list) =
            link.request(OperatorRequest::ListAgents).await.ok()?
        else {
            return None;
        };
        list.iter()
            .any(|a| a.id == gone_id && a.status.to_string() == "lost")
            .then_some(list)
    })
    .await;
    let mut app = App::new("embedded test".into(), unix_ms(), false);
    app.connection = drover::console::app::Connection::Live;
    app.agents = list;
    assert!(screen(&app, 100, 30).contains("agents 2/3 ready"));
    for agent in agents {
        agent.stop().await.expect("clean stop");
    }
    coordinator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_compare_and_models_views_show_real_training() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("coord");
    let coordinator = start_coordinator(&data).await;
    let handle = coordinator.handle();
    let agent = InProcessAgent::join_and_run(&handle, tmp.path().join("agent"), "trainer").await;
    drover_tests::add_dataset(&data, "churn", &drover_tests::churn_csv(400, 1)).await;

    let link = OperatorLink::Local(handle.clone());
    let spec = |algorithm: &str| {
        drover_protocol::spec::TrainSpec::from_toml(&format!(
            "experiment = \"churn\"\nmodel = \"churn\"\ndataset = \"churn\"\ntarget = \"churned\"\ntask = \"classification\"\nalgorithm = \"{algorithm}\"\ncv_folds = 3\n[search]\nparams = {{}}\n"
        ))
        .expect("spec")
    };
    let mut ids = Vec::new();
    for algorithm in ["gaussian_nb", "decision_tree"] {
        let OperatorResponse::RunQueued(run) = link
            .request(OperatorRequest::SubmitRun(Box::new(spec(algorithm))))
            .await
            .expect("queued")
        else {
            panic!("not queued")
        };
        ids.push(run.id);
    }
    let query = Ask::Runs(drover_protocol::run::RunQuery {
        limit: 50,
        ..Default::default()
    });
    let page = wait_for("both runs to finish", || async {
        let Ok(Answer::Runs(page)) = fetch(&link, query.clone()).await else {
            return None;
        };
        page.runs
            .iter()
            .all(|r| r.status.is_final())
            .then_some(page)
    })
    .await;

    let mut app = App::new("embedded test".into(), unix_ms(), false);
    app.runs = page;
    let Ok(Answer::Compare(compared)) = fetch(&link, Ask::Compare(ids.clone())).await else {
        panic!("no compared runs");
    };
    app.compared = compared;
    let Ok(Answer::Models(models, versions, deployments)) =
        fetch(&link, Ask::Models(Some("churn".into()))).await
    else {
        panic!("no models");
    };
    assert!(deployments.is_empty(), "nothing is deployed yet");
    (app.models, app.versions) = (models, versions);
    app.view = View::Runs;
    let runs = screen(&app, 100, 30);
    assert!(
        ids.iter().all(|id| runs.contains(id.as_str())) && runs.contains("succeeded"),
        "{runs}"
    );
    app.view = View::Compare;
    let compare = screen(&app, 100, 30);
    assert!(
        compare.contains("accuracy")
            && compare.contains("algorithm")
            && compare.contains("cv accuracy by trial"),
        "{compare}"
    );
    app.view = View::Models;
    let models = screen(&app, 100, 30);
    assert!(
        models.contains("churn") && models.contains("@1 1.0.0") && models.contains("churn@1"),
        "{models}"
    );

    agent.stop().await.expect("clean stop");
    coordinator.stop().await;
}

/// A key press as the terminal reader sends it.
fn key(c: char) -> drover::console::event::ConsoleEvent {
    drover::console::event::ConsoleEvent::Key(ratatui::crossterm::event::KeyEvent::from(
        ratatui::crossterm::event::KeyCode::Char(c),
    ))
}

/// Feeds the driver events until `done` holds, for at most `PATIENCE`.
async fn pump(
    driver: &mut drover::console::Driver,
    rx: &mut tokio::sync::mpsc::Receiver<drover::console::event::ConsoleEvent>,
    what: &str,
    done: impl Fn(&App) -> bool,
) {
    let deadline = tokio::time::Instant::now() + drover_tests::PATIENCE;
    while !done(&driver.app) {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(event)) => driver.handle(event),
            Ok(None) => panic!("the console's channel closed while waiting for {what}"),
            Err(_) => panic!("timed out waiting for {what}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attached_console_shows_a_lost_coordinator_and_reconnects_by_itself() {
    use drover::console::app::Connection;
    use drover::console::{Driver, session};

    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("coord");
    let (coordinator, addr) =
        drover_tests::spawn_coordinator(&data, "127.0.0.1:0", tmp.path().join("c1.log")).await;
    let connect = session::attached(data.clone(), None);
    let (tx, mut rx) = tokio::sync::mpsc::channel(256);
    session::spawn(tx.clone(), connect, None);
    drover::console::event::spawn_ticker(tx.clone());
    let mut driver = Driver::new(App::new("attached".into(), unix_ms(), false), tx);
    let token_created = |app: &App| app.events.iter().any(|e| e.event.kind() == "token.created");

    let data_s = data.to_str().expect("utf-8");
    assert!(
        drover_tests::drover(&["token", "create", "--data-dir", data_s])
            .status
            .success()
    );
    pump(&mut driver, &mut rx, "the live event stream", token_created).await;
    assert_eq!(driver.app.connection, Connection::Live);

    // Killed and back at once, as after a crash under systemd: the console notices (the new
    // process resets the old connection), says so, and reconnects.
    coordinator.signal("KILL");
    let (_again, _) =
        drover_tests::spawn_coordinator(&data, &addr.to_string(), tmp.path().join("c2.log")).await;
    pump(&mut driver, &mut rx, "the console to see the loss", |app| {
        matches!(app.connection, Connection::Lost { .. })
    })
    .await;
    let text = screen(&driver.app, 80, 24);
    assert!(text.contains("disconnected, retrying in"), "{text}");
    assert!(
        !text.contains("agents 0/0 ready"),
        "no stale count as if live:\n{text}"
    );
    pump(&mut driver, &mut rx, "the console to reconnect", |app| {
        app.connection == Connection::Live
    })
    .await;
    driver.app.events.clear();
    assert!(
        drover_tests::drover(&["token", "create", "--data-dir", data_s])
            .status
            .success()
    );
    pump(
        &mut driver,
        &mut rx,
        "events from the restarted coordinator",
        token_created,
    )
    .await;
    let text = screen(&driver.app, 80, 24);
    assert!(text.contains("agents 0/0 ready"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_cancelled_from_the_console_is_cancelled_with_its_event_and_refused_read_only() {
    use drover::console::app::Connection;
    use drover::console::{Driver, session};

    let tmp = tempfile::tempdir().expect("tempdir");
    let (coordinator, _) = drover_tests::coordinator_with_churn(tmp.path()).await;
    let handle = coordinator.handle();
    let run = drover_tests::submit(&handle, &drover_tests::quick_spec("console"))
        .await
        .expect("queued");
    let link = OperatorLink::Local(handle.clone());
    let connect = session::same(link.clone());
    let (tx, mut rx) = tokio::sync::mpsc::channel(256);
    session::spawn(tx.clone(), connect, Some(link));
    let mut driver = Driver::new(App::new("embedded".into(), unix_ms(), false), tx);
    pump(&mut driver, &mut rx, "the connection", |app| {
        app.connection == Connection::Live
    })
    .await;
    driver.handle(key('2'));
    pump(&mut driver, &mut rx, "the queued run in the view", |app| {
        app.runs.runs.iter().any(|r| r.id == run)
    })
    .await;

    driver.app.read_only = true;
    driver.app.update(Action::RequestRemove);
    assert!(driver.app.pending.is_none(), "read-only asks nothing");
    driver.app.read_only = false;
    driver.app.update(Action::RequestRemove);
    let command = driver.app.update(Action::Confirm);
    assert_eq!(
        command,
        [drover::console::action::Command::CancelRun(run.clone())]
    );
    // Through the same path a key press takes: the action as a console event.
    driver.app.update(Action::RequestRemove);
    driver.handle(key('y'));
    pump(
        &mut driver,
        &mut rx,
        "the cancellation and its event",
        |app| {
            app.events.iter().any(|e| {
                matches!(&e.event, drover_protocol::msg::Event::RunFinished { id, status, .. }
                if *id == run && *status == drover_protocol::run::RunStatus::Cancelled)
            })
        },
    )
    .await;
    assert_eq!(
        drover_tests::run_detail(&handle, &run).await.summary.status,
        drover_protocol::run::RunStatus::Cancelled
    );
    coordinator.stop().await;
}
