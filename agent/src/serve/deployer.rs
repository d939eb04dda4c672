//! Brings what the agent serves in line with what the coordinator asks: each version of the
//! latest plan is fetched by hash (verified, cached in the state dir) and loaded beside what
//! is served; then traffic moves to the plan's split and versions no longer asked for are
//! dropped. Every change of state is reported.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use drover_protocol::msg::AgentReport;
use drover_protocol::serve::{Deployment, LoadState, Serving};
use tokio::sync::{mpsc, watch};

use super::catalog::Catalog;
use super::model::Served;
use crate::jobs::fetch_artifact;

/// Applies plans from `plans` over `conn` until the session ends; reports go to `reports`
/// when the coordinator takes them.
pub async fn run(
    catalog: Arc<Catalog>,
    cache_dir: PathBuf,
    conn: quinn::Connection,
    mut plans: watch::Receiver<Option<Vec<Deployment>>>,
    reports: Option<mpsc::Sender<AgentReport>>,
) {
    let mut states: BTreeMap<(String, u32), LoadState> = BTreeMap::new();
    let report = |states: &BTreeMap<(String, u32), LoadState>| {
        let serving: Vec<Serving> = states
            .iter()
            .map(|((model, version), state)| Serving {
                model: model.clone(),
                version: *version,
                state: state.clone(),
            })
            .collect();
        if let Some(reports) = &reports
            && reports.try_send(AgentReport::Serving(serving)).is_err()
        {
            tracing::debug!("serving report not sent: the session is busy or gone");
        }
    };
    while plans.changed().await.is_ok() {
        let Some(plan) = plans.borrow_and_update().clone() else {
            continue;
        };
        let wanted: Vec<(String, u32, drover_protocol::hash::ContentHash)> = plan
            .iter()
            .flat_map(|d| {
                d.variants
                    .iter()
                    .map(|v| (d.model.clone(), v.version, v.artifact_hash.clone()))
            })
            .collect();
        // New versions load beside the old ones; only then does traffic move and the old go,
        // so a swap drops no request.
        for (model, version, hash) in &wanted {
            if catalog.get(model, Some(*version)).is_some() {
                states.insert((model.clone(), *version), LoadState::Ready);
                continue;
            }
            states.insert((model.clone(), *version), LoadState::Loading);
            report(&states);
            let what = format!("model {model}@{version}");
            let loaded = match fetch_artifact(&conn, &cache_dir, hash, None, &what).await {
                Ok(path) => tokio::task::spawn_blocking({
                    let (model, version) = (model.clone(), *version);
                    move || {
                        let bytes = std::fs::read(&path)
                            .map_err(|e| format!("reading {}: {e}", path.display()))?;
                        Served::load(&model, version, &bytes)
                    }
                })
                .await
                .unwrap_or_else(|e| Err(format!("loading {what}: {e}"))),
                Err(e) => Err(e),
            };
            let state = match loaded {
                Ok(served) => {
                    catalog.load(served);
                    tracing::info!(model = %model, version, "serving");
                    LoadState::Ready
                }
                Err(reason) => {
                    tracing::warn!(model = %model, version, %reason, "could not load a deployed model");
                    LoadState::Failed(reason)
                }
            };
            states.insert((model.clone(), *version), state);
        }
        catalog.route(&plan);
        catalog.retain(|model, version| wanted.iter().any(|(m, v, _)| m == model && *v == version));
        states.retain(|(model, version), _| {
            wanted.iter().any(|(m, v, _)| m == model && v == version)
        });
        report(&states);
    }
}
