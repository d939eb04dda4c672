//! Following a run's events until it ends (and, when it passed its gates, until its model is
//! registered): what `train --follow` and `runs reproduce` wait on.

use std::io::{IsTerminal, Write};

use anyhow::bail;
use drover_protocol::conn::FramedRecv;
use drover_protocol::msg::{Event, OperatorRequest, OperatorResponse};
use drover_protocol::run::{RunDetail, RunSummary};

use crate::client::OperatorClient;
use crate::expect_response;

/// Longest wait, after a run that passed its gates ended, for its model's registration.
const REGISTRATION_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// How often `--follow` checks whether a queued run can be placed at all.
const WAITING_CHECK: std::time::Duration = std::time::Duration::from_secs(2);

/// Why the queued run cannot start yet, from the fleet as the coordinator sees it.
pub async fn why_waiting(client: &OperatorClient) -> anyhow::Result<String> {
    let agents = expect_response!(
        client.request(&OperatorRequest::ListAgents).await?,
        OperatorResponse::Agents
    )?;
    Ok(crate::present::waiting::reason(&agents))
}

/// Shows a run's progress from the event stream until it ends, then returns it. While it
/// waits in the queue, says why (and again whenever the reason changes).
pub async fn wait_for_end(
    client: &OperatorClient,
    mut events: FramedRecv,
    run: &RunSummary,
) -> anyhow::Result<RunDetail> {
    let tty = std::io::stderr().is_terminal();
    let mut started = false;
    let mut said: Option<String> = None;
    let mut check =
        tokio::time::interval_at(tokio::time::Instant::now() + WAITING_CHECK, WAITING_CHECK);
    loop {
        let next = tokio::select! {
            next = events.recv::<OperatorResponse>() => next?,
            _ = check.tick(), if !started => {
                let reason = why_waiting(client).await?;
                if said.as_ref() != Some(&reason) {
                    eprintln!("{}", crate::present::printable(&reason));
                    said = Some(reason);
                }
                continue;
            }
        };
        let Some(OperatorResponse::Event(record)) = next else {
            bail!(
                "the coordinator closed the event stream before {} ended",
                run.id
            );
        };
        match record.event {
            Event::RunStarted { id, agent } if id == run.id => {
                started = true;
                eprintln!("started on {agent}");
            }
            Event::RunRequeued { id, reason } if id == run.id => {
                started = false;
                eprintln!("queued again: {}", crate::present::printable(&reason))
            }
            Event::TrialFinished {
                id,
                trial,
                total,
                metric,
                value,
            } if id == run.id => {
                let width = 24;
                let done = (trial as usize * width) / total.max(1) as usize;
                let bar = format!("[{}{}]", "#".repeat(done), "-".repeat(width - done));
                if tty {
                    eprint!("\r{bar} trial {trial}/{total}  cv {metric} {value:.4}   ");
                    let _ = std::io::stderr().flush();
                } else {
                    eprintln!("{bar} trial {trial}/{total}  cv {metric} {value:.4}");
                }
            }
            Event::RunFinished { id, .. } if id == run.id => {
                if tty {
                    eprintln!();
                }
                return registered(client, &mut events, id).await;
            }
            _ => {}
        }
    }
}

/// The ended run `id`; when it passed its gates, once its model is registered (a reaction the
/// coordinator runs just after the run ends), or after [`REGISTRATION_WAIT`].
async fn registered(
    client: &OperatorClient,
    events: &mut FramedRecv,
    id: String,
) -> anyhow::Result<RunDetail> {
    let deadline = tokio::time::Instant::now() + REGISTRATION_WAIT;
    loop {
        let run = *expect_response!(
            client
                .request(&OperatorRequest::ShowRun { id: id.clone() })
                .await?,
            OperatorResponse::Run
        )?;
        if run.summary.gates_passed != Some(true) || run.registered.is_some() {
            return Ok(run);
        }
        loop {
            let next = tokio::time::timeout_at(deadline, events.recv::<OperatorResponse>()).await;
            match next {
                Err(_) | Ok(Ok(None)) => return Ok(run),
                Ok(Ok(Some(OperatorResponse::Event(record)))) => match record.event {
                    Event::ModelRegistered { run_id, .. } if run_id == id => break,
                    _ => {}
                },
                Ok(Ok(Some(_))) => {}
                Ok(Err(e)) => return Err(e.into()),
            }
        }
    }
}
