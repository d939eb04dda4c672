//! The console: a ratatui application over the operator API. One [`app::App`] holds the
//! state, every change is an [`action::Action`], all input arrives as one event stream, and
//! rendering is a pure function of the state. Slow work runs in spawned tasks and comes back
//! as events, so the loop never blocks on I/O. The terminal is restored on every exit path,
//! panics included (ratatui's panic hook).

pub mod action;
pub mod app;
pub mod commands;
pub mod event;
pub mod form;
pub mod keymap;
pub mod theme;
pub mod views;

use drover_protocol::types::unix_ms;
use tokio::sync::mpsc;

use self::action::Command;
use self::app::App;
use self::event::ConsoleEvent;
use crate::client::OperatorLink;

/// How the console behaves for this operator: its keys and whether it may change anything.
pub struct Look {
    pub keys: keymap::Keymap,
    pub read_only: bool,
}

/// Runs the console until the operator quits. `coordinator` labels the header.
pub async fn run(link: OperatorLink, coordinator: String, look: Look) -> anyhow::Result<()> {
    let mut terminal = ratatui::try_init()?;
    let result = run_loop(&mut terminal, link, coordinator, look).await;
    ratatui::try_restore()?;
    result
}

async fn run_loop(
    terminal: &mut ratatui::DefaultTerminal,
    link: OperatorLink,
    coordinator: String,
    look: Look,
) -> anyhow::Result<()> {
    let (tx, mut rx) = mpsc::channel(256);
    event::spawn_terminal_reader(tx.clone());
    event::spawn_event_stream(tx.clone(), link.clone());
    event::spawn_ticker(tx.clone());
    let mut app = App::with_keys(coordinator, unix_ms(), theme::color_enabled(), look.keys);
    app.read_only = look.read_only;
    terminal.draw(|f| views::render(&app, f))?;
    while let Some(event) = rx.recv().await {
        for action in app.on_event(event) {
            if let Some(command) = app.update(action) {
                run_command(command, &link, &tx);
            }
        }
        if app.should_quit() {
            break;
        }
        if app.take_dirty() {
            terminal.draw(|f| views::render(&app, f))?;
        }
    }
    Ok(())
}

fn run_command(command: Command, link: &OperatorLink, tx: &mpsc::Sender<ConsoleEvent>) {
    let (link, tx) = (link.clone(), tx.clone());
    tokio::spawn(async move {
        let event = match command {
            Command::FetchSnapshot { model, compare } => {
                match event::fetch_snapshot(&link, model, compare).await {
                    Ok(snapshot) => ConsoleEvent::Snapshot(Box::new(snapshot)),
                    Err(e) => ConsoleEvent::Failed(format!("{e:#}")),
                }
            }
            Command::SubmitSpecFile(path) => match tokio::fs::read_to_string(&path).await {
                Ok(text) => match drover_ml::gates::parse_spec(&text) {
                    Ok(spec) => event::submit(&link, spec).await,
                    Err(e) => ConsoleEvent::Failed(format!("{path}: {e}")),
                },
                Err(e) => ConsoleEvent::Failed(format!("{path}: {e}")),
            },
            Command::SubmitSpec(spec) => event::submit(&link, *spec).await,
        };
        let _ = tx.send(event).await;
    });
}
