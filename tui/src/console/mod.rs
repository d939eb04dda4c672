//! The console: a ratatui application over the operator API. One [`app::App`] holds the
//! state, every change is an [`action::Action`], all input arrives as one event stream, and
//! rendering is a pure function of the state. Slow work runs in spawned tasks and comes back
//! as events, so the loop never blocks on I/O. The terminal is restored on every exit path,
//! panics included (ratatui's panic hook).

pub mod action;
pub mod app;
pub mod commands;
pub mod describe;
pub mod event;
pub mod fetch;
pub mod form;
pub mod keymap;
pub mod session;
pub mod theme;
pub mod verbs;
pub mod views;
mod work;

use drover_protocol::types::unix_ms;
use tokio::sync::mpsc;

use self::app::App;
use self::event::ConsoleEvent;
use crate::client::OperatorLink;

/// How the console behaves for this operator: its keys and whether it may change anything.
pub struct Look {
    pub keys: keymap::Keymap,
    pub read_only: bool,
}

/// Runs the console until the operator quits. It starts on `link` and, whenever the
/// connection goes, shows so and reconnects through `connect`. `coordinator` labels the
/// header.
pub async fn run(
    link: OperatorLink,
    connect: session::Connect,
    coordinator: String,
    look: Look,
) -> anyhow::Result<()> {
    let mut terminal = ratatui::try_init()?;
    let result = run_loop(&mut terminal, link, connect, coordinator, look).await;
    ratatui::try_restore()?;
    result
}

async fn run_loop(
    terminal: &mut ratatui::DefaultTerminal,
    link: OperatorLink,
    connect: session::Connect,
    coordinator: String,
    look: Look,
) -> anyhow::Result<()> {
    let (tx, mut rx) = mpsc::channel(256);
    event::spawn_terminal_reader(tx.clone());
    session::spawn(tx.clone(), connect, Some(link));
    event::spawn_ticker(tx.clone());
    let mut app = App::with_keys(coordinator, unix_ms(), theme::color_enabled(), look.keys);
    app.read_only = look.read_only;
    let mut driver = Driver::new(app, tx);
    terminal.draw(|f| views::render(&driver.app, f))?;
    while let Some(event) = rx.recv().await {
        driver.handle(event);
        if driver.app.should_quit() {
            break;
        }
        if driver.app.take_dirty() {
            terminal.draw(|f| views::render(&driver.app, f))?;
        }
    }
    Ok(())
}

/// The console's loop without a terminal: it applies events to the [`App`], keeps the link
/// of the current connection, and starts the work the app asks for (none while
/// disconnected). Tests drive it directly.
pub struct Driver {
    pub app: App,
    link: Option<OperatorLink>,
    tx: mpsc::Sender<ConsoleEvent>,
}

impl Driver {
    /// A driver whose work reports back on `tx`.
    pub fn new(app: App, tx: mpsc::Sender<ConsoleEvent>) -> Self {
        Self {
            app,
            link: None,
            tx,
        }
    }

    /// Applies one event.
    pub fn handle(&mut self, event: ConsoleEvent) {
        match &event {
            ConsoleEvent::Connected(link) => self.link = Some(link.clone()),
            ConsoleEvent::Disconnected { .. } => self.link = None,
            _ => {}
        }
        for action in self.app.on_event(event) {
            for command in self.app.update(action) {
                if let Some(link) = &self.link {
                    work::spawn(command, link.clone(), self.tx.clone());
                }
            }
        }
    }
}
