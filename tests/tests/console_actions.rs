//! Actions from the console, typed as an operator types them: refused in read-only mode, and
//! otherwise asked about, applied by a real coordinator, and recorded as events naming the
//! operator who made them (the embedded console's, and a remote CLI's certificate).

use drover::client::OperatorLink;
use drover::console::app::{App, Connection};
use drover::console::describe::Described;
use drover::console::event::ConsoleEvent;
use drover::console::keymap::Mode;
use drover::console::{Driver, session};
use drover_protocol::msg::{Event, OperatorRequest, OperatorResponse};
use drover_protocol::registry::Stage;
use drover_protocol::types::unix_ms;
use drover_tests::{InProcessAgent, PATIENCE};
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use tokio::sync::mpsc;

struct Console {
    driver: Driver,
    rx: mpsc::Receiver<ConsoleEvent>,
}

impl Console {
    fn press(&mut self, code: KeyCode) {
        self.driver.handle(ConsoleEvent::Key(KeyEvent::from(code)));
    }

    /// Types `text` then Enter on the `:` command line.
    fn command(&mut self, text: &str) {
        self.press(KeyCode::Char(':'));
        text.chars().for_each(|c| self.press(KeyCode::Char(c)));
        self.press(KeyCode::Enter);
    }

    async fn until(&mut self, what: &str, done: impl Fn(&App) -> bool) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !done(&self.driver.app) {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(event)) => self.driver.handle(event),
                _ => panic!(
                    "timed out waiting for {what}; status {:?}, mode {:?}, events {:?}",
                    self.driver.app.status,
                    self.driver.app.mode,
                    self.driver
                        .app
                        .events
                        .iter()
                        .rev()
                        .take(5)
                        .collect::<Vec<_>>()
                ),
            }
        }
    }

    /// Waits for the event that records `action` by the local operator.
    async fn recorded(&mut self, action: &str) {
        self.until(&format!("the event for {action:?}"), |app| {
            app.events.iter().any(|e| {
                matches!(&e.event, Event::OperatorAction { operator, action: done }
                    if operator == "operator" && done.starts_with(action))
            })
        })
        .await;
    }

    /// Answers the pending question with y, after checking it.
    fn confirm(&mut self, question: &str) {
        assert_eq!(
            self.driver.app.mode,
            Mode::Confirm,
            "{:?}",
            self.driver.app.status
        );
        let asked = self.driver.app.pending.as_ref().map(|(q, _)| q.clone());
        assert!(
            asked.as_deref().is_some_and(|q| q.contains(question)),
            "{asked:?}"
        );
        self.press(KeyCode::Char('y'));
    }
}

async fn model_stage(link: &OperatorLink) -> (Stage, Vec<String>) {
    match link
        .request(OperatorRequest::ShowModel("churn@1".parse().expect("ref")))
        .await
        .expect("model")
    {
        OperatorResponse::Model(v) => (v.stage, v.aliases),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_actions_ask_apply_and_name_the_operator() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (coordinator, data) = drover_tests::coordinator_with_churn(tmp.path()).await;
    let handle = coordinator.handle();
    let agent = InProcessAgent::join_and_run(&handle, tmp.path().join("agent"), "trainer").await;
    let run = drover_tests::submit(&handle, &drover_tests::quick_spec("actions"))
        .await
        .expect("queued");
    let trained = drover_tests::finished(&handle, &run).await;
    assert!(trained.registered.is_some(), "{trained:?}");

    let link = OperatorLink::Local(handle.clone());
    let connect = session::same(link.clone());
    let (tx, rx) = mpsc::channel(256);
    session::spawn(tx.clone(), connect, Some(link.clone()));
    let mut console = Console {
        driver: Driver::new(App::new("embedded".into(), unix_ms(), false), tx),
        rx,
    };
    console
        .until("the connection", |app| app.connection == Connection::Live)
        .await;

    // Read-only: every verb is refused, saying so, and nothing is asked.
    console.driver.app.read_only = true;
    console.command("promote churn@1 staging");
    assert!(console.driver.app.pending.is_none());
    let status = console.driver.app.status.clone().expect("a refusal");
    assert!(status.1 && status.0.contains("read-only"), "{status:?}");
    console.driver.app.read_only = false;

    // A bad verb says what it takes and asks nothing.
    console.command("promote churn staging");
    let status = console.driver.app.status.clone().expect("an error");
    assert!(status.0.contains("MODEL@N"), "{status:?}");

    console.command("promote churn@1 staging");
    console.confirm("promote churn@1 to staging");
    console.recorded("promote churn@1 to staging").await;
    assert_eq!(model_stage(&link).await.0, Stage::Staging);

    console.command("alias churn@1 champion");
    console.confirm("point alias champion at churn@1");
    console.recorded("point alias champion at churn@1").await;
    assert_eq!(model_stage(&link).await.1, ["champion"]);
    console.command("unalias churn champion");
    console.confirm("take alias champion off churn");
    console.recorded("take alias champion off churn@1").await;
    assert!(model_stage(&link).await.1.is_empty());

    let csv = tmp.path().join("more.csv");
    std::fs::write(&csv, drover_tests::churn_csv(120, 3)).expect("csv");
    console.command(&format!("add-dataset extra {}", csv.display()));
    console.confirm("as the next version of dataset extra");
    console.recorded("add dataset extra@1 from more.csv").await;
    let bad = tmp.path().join("bad.csv");
    std::fs::write(&bad, "a,b\n1\n").expect("csv");
    console.command(&format!("add-dataset broken {}", bad.display()));
    console.press(KeyCode::Char('y'));
    console
        .until("the refusal of a bad CSV", |app| {
            app.status
                .as_ref()
                .is_some_and(|(m, error)| *error && m.contains("bad.csv"))
        })
        .await;

    // Describe panes fetch what the row does not hold: a dataset's profile, a version's history.
    console.press(KeyCode::Char('5'));
    console
        .until("the datasets", |app| app.datasets.len() == 2)
        .await;
    console.press(KeyCode::Enter);
    console
        .until("the dataset's profile", |app| {
            matches!(&app.described, Some(Described::Dataset(_, Some(d))) if !d.profile.columns.is_empty())
        })
        .await;
    console.press(KeyCode::Esc);
    console.press(KeyCode::Char('4'));
    console
        .until("the model's versions", |app| !app.versions.is_empty())
        .await;
    console.press(KeyCode::Enter);
    console
        .until("the version's stage history", |app| {
            let Some(described) = &app.described else {
                return false;
            };
            let (_, lines) = drover::console::describe::lines(described, unix_ms());
            lines.iter().any(|l| l.contains("moved to staging"))
        })
        .await;
    console.press(KeyCode::Esc);

    // Re-run from the Runs view: the same spec on the same dataset version.
    console.press(KeyCode::Char('2'));
    console
        .until("the run in the view", |app| {
            app.selected_run().is_some_and(|r| r.id == run)
        })
        .await;
    console.press(KeyCode::Char('R'));
    console.confirm(&format!("re-run {run}"));
    console.recorded("queue run").await;

    // Remove the agent from the Agents view.
    console.press(KeyCode::Char('1'));
    console
        .until("the agent in the view", |app| !app.agents.is_empty())
        .await;
    console.press(KeyCode::Char('x'));
    console.confirm(&format!("remove agent {}", agent.id));
    console
        .recorded(&format!("remove agent {}", agent.id))
        .await;

    // A remote operator (the CLI over QUIC with the data dir's certificate) is named too.
    let data_s = data.to_str().expect("utf-8");
    drover_tests::drover_ok(&["models", "alias", "churn@1", "best", "--data-dir", data_s]);
    console.recorded("point alias best at churn@1").await;
    let out =
        drover_tests::drover_ok(&["models", "unalias", "churn", "best", "--data-dir", data_s]);
    assert!(
        out.contains("churn@best removed (it pointed at churn@1)"),
        "{out}"
    );
    console.recorded("take alias best off churn@1").await;

    let _ = agent.stop().await;
    coordinator.stop().await;
}
