//! Turning signals into cancellation tokens and reload requests, for every long-running
//! command.

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A token cancelled on the first SIGTERM or Ctrl-C. Call inside a tokio runtime.
pub fn shutdown_on_signal() -> CancellationToken {
    graceful_then_forced().0
}

/// Two tokens: the first SIGTERM or Ctrl-C cancels the first (shut down gracefully), the next
/// one cancels the second (stop now). Call inside a tokio runtime.
pub fn graceful_then_forced() -> (CancellationToken, CancellationToken) {
    let graceful = CancellationToken::new();
    let forced = CancellationToken::new();
    let (first, second) = (graceful.clone(), forced.clone());
    tokio::spawn(async move {
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(cause = %e, "cannot listen for SIGTERM");
                return;
            }
        };
        for (token, what) in [
            (first, "shutting down; signal again to stop at once"),
            (second, "stopping at once"),
        ] {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            tracing::info!("{what}");
            token.cancel();
        }
    });
    (graceful, forced)
}

/// A message on every SIGHUP (a config reload request). Call inside a tokio runtime.
pub fn reload_on_hangup() -> mpsc::Receiver<()> {
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        let mut hup = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(cause = %e, "cannot listen for SIGHUP");
                return;
            }
        };
        while hup.recv().await.is_some() {
            if tx.send(()).await.is_err() {
                return;
            }
        }
    });
    rx
}
