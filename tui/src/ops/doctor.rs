//! `drover doctor`: checks a coordinator's data dir and fleet and says what to fix: data dir
//! ownership and permissions, certificate expiry, the store's integrity, free disk, and clock
//! skew with connected agents.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use drover_protocol::msg::{ClockSkew, OperatorRequest, OperatorResponse};
use serde::Serialize;

use crate::client::OperatorClient;
use drover_coordinator::runfile;
use drover_coordinator::store::quarantine;

/// A check's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Ok,
    Warn,
    Fail,
}

/// One check: what was found and, unless it is fine, what to do.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub verdict: Verdict,
    pub detail: String,
    pub fix: Option<String>,
}

impl Check {
    fn ok(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            verdict: Verdict::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    fn bad(
        verdict: Verdict,
        name: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            verdict,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// Certificates expiring sooner than this are a warning.
const EXPIRY_WARNING_DAYS: i64 = 30;
/// Clock skew above this is a warning; above [`SKEW_FAIL_MS`] a failure (certificate validity
/// and every timestamp drover records depend on clocks that agree).
const SKEW_WARN_MS: i64 = 1_000;
const SKEW_FAIL_MS: i64 = 30_000;
/// Free space below this fraction of the disk, or below [`MIN_FREE_BYTES`], is a warning.
const MIN_FREE_FRACTION: f64 = 0.10;
const MIN_FREE_BYTES: u64 = 1 << 30;

/// Runs every check on `data_dir`; the clock check asks the running coordinator (at
/// `address`, or the one on the data dir).
pub async fn run(data_dir: &Path, address: Option<&str>) -> Vec<Check> {
    let mut checks = vec![data_dir_permissions(data_dir)];
    checks.extend(certificates(data_dir, now_secs()));
    checks.push(store_integrity(data_dir));
    checks.push(stored_records(data_dir));
    checks.push(free_disk(data_dir));
    checks.push(clock_skew(data_dir, address).await);
    checks.extend(listener(data_dir));
    checks
}

/// Whether the running coordinator's HTTP listener is reachable beyond loopback in clear.
fn listener(dir: &Path) -> Option<Check> {
    if !runfile::is_running(dir) {
        return None;
    }
    runfile::read(dir)
        .ok()
        .and_then(|info| listener_verdict(&info))
}

/// The verdict on the HTTP listener a runfile describes.
fn listener_verdict(info: &runfile::RunInfo) -> Option<Check> {
    let addr: std::net::SocketAddr = info.http_addr.parse().ok()?;
    let name = "HTTP listener";
    Some(if addr.ip().is_loopback() || info.http_tls {
        let how = if info.http_tls {
            "HTTPS"
        } else {
            "loopback only"
        };
        Check::ok(name, format!("{addr}: {how}"))
    } else {
        Check::bad(
            Verdict::Warn,
            name,
            format!(
                "{addr} is reachable beyond loopback without TLS: bearer tokens and data cross the network in clear"
            ),
            "set http_tls_self = true (or http_tls_cert and http_tls_key) in the coordinator's config, or listen on loopback",
        )
    })
}

fn now_secs() -> i64 {
    (drover_protocol::types::unix_ms() / 1000) as i64
}

fn data_dir_permissions(dir: &Path) -> Check {
    let name = "data dir";
    let meta = match std::fs::metadata(dir) {
        Ok(meta) => meta,
        Err(e) => {
            return Check::bad(
                Verdict::Fail,
                name,
                format!("{}: {e}", dir.display()),
                "start the coordinator once (drover coordinator) or pass the right --data-dir",
            );
        }
    };
    let uid = rustix::process::geteuid().as_raw();
    if meta.uid() != uid {
        return Check::bad(
            Verdict::Fail,
            name,
            format!(
                "{} is owned by uid {}, not by this user (uid {uid})",
                dir.display(),
                meta.uid()
            ),
            format!(
                "run as the owner (sudo -u drover drover doctor) or chown -R drover: {}",
                dir.display()
            ),
        );
    }
    let mut loose = Vec::new();
    if meta.permissions().mode() & 0o077 != 0 {
        loose.push((dir.to_path_buf(), 0o700));
    }
    for (path, private) in super::archive::EXTRA_FILES {
        let path = dir.join(path);
        if let Ok(meta) = std::fs::metadata(&path)
            && *private
            && meta.permissions().mode() & 0o077 != 0
        {
            loose.push((path, 0o600));
        }
    }
    if loose.is_empty() {
        return Check::ok(
            name,
            format!("{} is private to its owner, keys are 0600", dir.display()),
        );
    }
    let detail = loose
        .iter()
        .map(|(p, _)| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let fix = loose
        .iter()
        .map(|(p, mode)| format!("chmod {mode:o} {}", p.display()))
        .collect::<Vec<_>>()
        .join("; ");
    Check::bad(
        Verdict::Fail,
        name,
        format!("others can read {detail}"),
        fix,
    )
}

fn certificates(dir: &Path, now: i64) -> Vec<Check> {
    ["ca", "coordinator", "operator"]
        .into_iter()
        .map(|which| {
            let name = format!("{which} certificate");
            let path = dir.join("pki").join(format!("{which}.pem"));
            let expires = std::fs::read_to_string(&path)
                .map_err(|e| e.to_string())
                .and_then(|pem| drover_protocol::pki::expires_at(&pem).map_err(|e| e.to_string()));
            match expires {
                Err(e) => Check::bad(
                    Verdict::Fail,
                    name,
                    format!("{}: {e}", path.display()),
                    "restore the PKI from a backup (drover restore), or start the coordinator to create it",
                ),
                Ok(at) => expiry(name, at, now),
            }
        })
        .collect()
}

fn expiry(name: String, expires: i64, now: i64) -> Check {
    let days = (expires - now).div_euclid(86_400);
    let when = chrono::DateTime::from_timestamp(expires, 0)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default();
    let fix = "issue new certificates: move the expiring files out of <data-dir>/pki and restart the coordinator (a new CA means agents join again)";
    match days {
        d if expires <= now => Check::bad(
            Verdict::Fail,
            name,
            format!("expired on {when} ({} days ago)", -d),
            fix,
        ),
        d if d < EXPIRY_WARNING_DAYS => Check::bad(
            Verdict::Warn,
            name,
            format!("expires on {when}, in {d} days"),
            fix,
        ),
        d => Check::ok(name, format!("valid until {when} ({d} days)")),
    }
}

fn store_integrity(dir: &Path) -> Check {
    let name = "store";
    let path = dir.join(super::archive::STORE);
    let verdict =
        rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .and_then(|conn| {
                conn.query_row("PRAGMA quick_check", [], |row| row.get::<_, String>(0))
            });
    match verdict {
        Ok(v) if v == "ok" => Check::ok(
            name,
            format!("{} passes SQLite's quick check", path.display()),
        ),
        Ok(v) => Check::bad(
            Verdict::Fail,
            name,
            format!("{}: {v}", path.display()),
            "restore the latest backup (drover restore FILE --force)",
        ),
        Err(e) => Check::bad(
            Verdict::Fail,
            name,
            format!("{}: {e}", path.display()),
            "pass the right --data-dir, or restore a backup",
        ),
    }
}

/// Every stored record of the protocol's types decodes; records quarantined earlier are
/// named so that someone looks at them.
fn stored_records(dir: &Path) -> Check {
    let name = "stored records";
    let path = dir.join(super::archive::STORE);
    let opened =
        rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY);
    let found = opened.map_err(|e| e.to_string()).and_then(|conn| {
        let bad = quarantine::check_records(&conn, 5).map_err(|e| e.to_string())?;
        let kept: i64 = conn
            .query_row("SELECT COUNT(*) FROM quarantine", [], |r| r.get(0))
            .unwrap_or(0);
        Ok((bad, kept))
    });
    match found {
        Ok((bad, _)) if !bad.is_empty() => Check::bad(
            Verdict::Fail,
            name,
            bad.iter()
                .map(|b| format!("{} row {}: {}", b.table, b.row, b.reason))
                .collect::<Vec<_>>()
                .join("; "),
            "a running coordinator quarantines these as it meets them; report them as a bug",
        ),
        Ok((_, kept)) if kept > 0 => Check::bad(
            Verdict::Warn,
            name,
            format!(
                "every record decodes; {kept} earlier undecodable record(s) are kept in the quarantine table"
            ),
            "read them with: sqlite3 drover.db 'SELECT source, row, reason FROM quarantine'",
        ),
        Ok(_) => Check::ok(
            name,
            "every stored event, alert, decision and window decodes",
        ),
        Err(e) => Check::bad(
            Verdict::Fail,
            name,
            format!("{}: {e}", path.display()),
            "pass the right --data-dir, or restore a backup",
        ),
    }
}

fn free_disk(dir: &Path) -> Check {
    let name = "free disk";
    let stats = match rustix::fs::statvfs(dir) {
        Ok(stats) => stats,
        Err(e) => {
            return Check::bad(
                Verdict::Warn,
                name,
                format!("cannot read the file system of {}: {e}", dir.display()),
                "check the data dir's mount",
            );
        }
    };
    let free = stats.f_bavail.saturating_mul(stats.f_frsize);
    let total = stats.f_blocks.saturating_mul(stats.f_frsize).max(1);
    disk_verdict(free, total)
}

fn disk_verdict(free: u64, total: u64) -> Check {
    let name = "free disk";
    let fraction = free as f64 / total as f64;
    let detail = format!(
        "{:.1} GiB free of {:.1} GiB ({:.0}%)",
        gib(free),
        gib(total),
        fraction * 100.0
    );
    if free < MIN_FREE_BYTES / 8 {
        Check::bad(
            Verdict::Fail,
            name,
            detail,
            "free space now: the store stops accepting writes when the disk is full",
        )
    } else if fraction < MIN_FREE_FRACTION || free < MIN_FREE_BYTES {
        Check::bad(
            Verdict::Warn,
            name,
            detail,
            "free space or grow the volume; artifacts and metric history grow with every run",
        )
    } else {
        Check::ok(name, detail)
    }
}

fn gib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 30) as f64
}

async fn clock_skew(dir: &Path, address: Option<&str>) -> Check {
    let name = "agent clocks";
    if address.is_none() && !runfile::is_running(dir) {
        return Check::bad(
            Verdict::Warn,
            name,
            "no coordinator runs on this data dir, so agent clocks were not compared",
            "start the coordinator and run drover doctor again",
        );
    }
    let skews = match OperatorClient::for_data_dir(dir, address).await {
        Ok(client) => {
            let answer = client.request(&OperatorRequest::ClockSkews).await;
            client.close().await;
            match answer {
                Ok(OperatorResponse::ClockSkews(skews)) => skews,
                Ok(other) => {
                    return Check::bad(
                        Verdict::Warn,
                        name,
                        format!("the coordinator cannot report clocks: {other:?}"),
                        "upgrade the coordinator",
                    );
                }
                Err(e) => {
                    return Check::bad(
                        Verdict::Warn,
                        name,
                        format!("asking the coordinator: {e:#}"),
                        "check that the coordinator is reachable",
                    );
                }
            }
        }
        Err(e) => {
            return Check::bad(
                Verdict::Warn,
                name,
                format!("cannot reach the coordinator: {e:#}"),
                "check that the coordinator is reachable",
            );
        }
    };
    skew_verdict(&skews)
}

fn skew_verdict(skews: &[ClockSkew]) -> Check {
    let name = "agent clocks";
    let Some(worst) = skews.iter().max_by_key(|s| s.skew_ms.abs()) else {
        return Check::ok(name, "no connected agent has reported its clock yet");
    };
    let off: Vec<String> = skews
        .iter()
        .filter(|s| s.skew_ms.abs() > SKEW_WARN_MS)
        .map(|s| format!("{} ({:+} ms)", s.agent, s.skew_ms))
        .collect();
    let detail = format!(
        "{} agent(s) compared; largest offset {:+} ms ({})",
        skews.len(),
        worst.skew_ms,
        worst.agent
    );
    let fix = format!(
        "synchronise the clocks of {} (timedatectl set-ntp true, or chrony)",
        off.join(", ")
    );
    match worst.skew_ms.abs() {
        s if s > SKEW_FAIL_MS => Check::bad(Verdict::Fail, name, detail, fix),
        s if s > SKEW_WARN_MS => Check::bad(Verdict::Warn, name, detail, fix),
        _ => Check::ok(name, detail),
    }
}

/// Prints the checks, each failing one with its fix.
pub fn print(checks: &[Check]) {
    for check in checks {
        let mark = match check.verdict {
            Verdict::Ok => "ok  ",
            Verdict::Warn => "WARN",
            Verdict::Fail => "FAIL",
        };
        println!("{mark}  {:<22} {}", check.name, check.detail);
        if let Some(fix) = &check.fix {
            println!("      fix: {fix}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use drover_protocol::types::AgentId;

    #[test]
    fn expiry_warns_a_month_ahead_and_fails_once_past() {
        let now = 1_800_000_000;
        assert_eq!(
            expiry("c".into(), now + 400 * 86_400, now).verdict,
            Verdict::Ok
        );
        assert_eq!(
            expiry("c".into(), now + 10 * 86_400, now).verdict,
            Verdict::Warn
        );
        let expired = expiry("c".into(), now - 86_400, now);
        assert_eq!(expired.verdict, Verdict::Fail);
        assert!(expired.fix.is_some() && expired.detail.contains("expired"));
    }

    #[test]
    fn a_listener_beyond_loopback_without_tls_is_a_warning() {
        let info = |addr: &str, http_tls| runfile::RunInfo {
            pid: 1,
            quic_addr: "127.0.0.1:7400".into(),
            http_addr: addr.into(),
            version: String::new(),
            started_ms: 0,
            http_tls,
        };
        let verdict = |addr, tls| listener_verdict(&info(addr, tls)).expect("a check").verdict;
        assert_eq!(verdict("127.0.0.1:7401", false), Verdict::Ok);
        assert_eq!(verdict("0.0.0.0:7401", true), Verdict::Ok);
        assert_eq!(verdict("0.0.0.0:7401", false), Verdict::Warn);
        assert_eq!(verdict("[::]:7401", false), Verdict::Warn);
    }

    #[test]
    fn disk_and_skew_thresholds() {
        assert_eq!(disk_verdict(50 << 30, 100 << 30).verdict, Verdict::Ok);
        assert_eq!(disk_verdict(5 << 30, 100 << 30).verdict, Verdict::Warn);
        assert_eq!(disk_verdict(1 << 20, 100 << 30).verdict, Verdict::Fail);
        let skew = |ms| ClockSkew {
            agent: AgentId("ag-1".into()),
            skew_ms: ms,
            measured_ms: 0,
        };
        assert_eq!(skew_verdict(&[]).verdict, Verdict::Ok);
        assert_eq!(skew_verdict(&[skew(-20)]).verdict, Verdict::Ok);
        let warn = skew_verdict(&[skew(5), skew(-4_000)]);
        assert_eq!(warn.verdict, Verdict::Warn);
        assert!(
            warn.fix
                .as_deref()
                .is_some_and(|f| f.contains("ag-1 (-4000 ms)"))
        );
        assert_eq!(skew_verdict(&[skew(60_000)]).verdict, Verdict::Fail);
    }
}
