//! systemd's notification protocol (`Type=notify`): readiness, reloads, shutdown and watchdog
//! pings. Every call does nothing when the process was not started by systemd
//! (`NOTIFY_SOCKET` unset).

use std::time::Duration;

use sd_notify::NotifyState;
use tokio_util::sync::CancellationToken;

fn send(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(false, states) {
        tracing::warn!(cause = %e, "cannot notify systemd");
    }
}

/// The service is up (sent once it is really serving) with a status line.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// The service is reloading its config; follow with [`ready`].
pub fn reloading() {
    send(&[NotifyState::Reloading]);
}

/// The service is shutting down.
pub fn stopping(status: &str) {
    send(&[NotifyState::Stopping, NotifyState::Status(status)]);
}

/// A new status line.
pub fn status(status: &str) {
    send(&[NotifyState::Status(status)]);
}

/// When systemd asks for watchdog pings (`WatchdogSec=`), pings at half the interval from a
/// task on this runtime until `stop` fires, so a wedged runtime gets the process restarted.
pub fn spawn_watchdog(stop: CancellationToken) {
    let mut usec = 0;
    if !sd_notify::watchdog_enabled(false, &mut usec) || usec == 0 {
        return;
    }
    let every = Duration::from_micros(usec) / 2;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = tick.tick() => send(&[NotifyState::Watchdog]),
                _ = stop.cancelled() => return,
            }
        }
    });
}
