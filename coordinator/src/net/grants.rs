//! What one agent session may touch. An enrolled agent is still untrusted: it may report only
//! on runs (and search shares) assigned to it in this session, fetch only the blobs those jobs
//! were handed (or the models it was told to serve), and finish a run only with an artifact it uploaded itself while it held that
//! run. Everything is forgotten with the session.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use drover_protocol::hash::ContentHash;
use drover_protocol::run::JobAssignment;
use drover_protocol::serve::Deployment;

/// Uploads one assigned run allows: the model, with room for a retry or two.
const UPLOADS_PER_RUN: usize = 4;

/// One agent session's permissions.
#[derive(Default)]
pub struct Grants {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Runs assigned in this session and the blobs each may fetch, with what they are.
    runs: HashMap<String, Vec<(ContentHash, &'static str)>>,
    /// Runs ever assigned in this session (bounds the uploads).
    assigned: usize,
    /// Artifacts uploaded in this session, each with the runs the agent held then.
    uploads: HashMap<ContentHash, BTreeSet<String>>,
    /// Model artifacts of what the agent was last told to serve.
    serving: BTreeSet<ContentHash>,
}

/// Why an upload was refused before any byte was read.
#[derive(Debug, thiserror::Error)]
pub enum UploadRefused {
    #[error("no job is assigned to this agent")]
    NoJob,
    #[error("more than {UPLOADS_PER_RUN} uploads per assigned job")]
    TooMany,
}

impl Grants {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The data stays consistent through a panic elsewhere: every update is one insert or
        // remove.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `job` was sent to this agent: it may report on the run and fetch its blobs.
    pub fn assign(&self, job: &JobAssignment) {
        let mut blobs = vec![(job.dataset.hash.clone(), "dataset")];
        if let Some(baseline) = &job.baseline {
            blobs.push((baseline.artifact_hash.clone(), "production model"));
        }
        let mut inner = self.lock();
        inner.runs.insert(job.run_id.clone(), blobs);
        inner.assigned += 1;
    }

    /// The agent was told to serve `deployments`: it may fetch their artifacts, and no
    /// longer those of deployments it was told before.
    pub fn serve(&self, deployments: &[Deployment]) {
        self.lock().serving = deployments
            .iter()
            .flat_map(|d| d.variants.iter().map(|v| v.artifact_hash.clone()))
            .collect();
    }

    /// The run ended or was cancelled on this agent: nothing more about it is accepted.
    pub fn revoke(&self, run_id: &str) {
        self.lock().runs.remove(run_id);
    }

    /// Whether the run is assigned to this agent in this session.
    pub fn holds(&self, run_id: &str) -> bool {
        self.lock().runs.contains_key(run_id)
    }

    /// What `hash` is, when a job of this agent was handed it.
    pub fn fetchable(&self, hash: &ContentHash) -> Option<&'static str> {
        let inner = self.lock();
        if inner.serving.contains(hash) {
            return Some("deployed model");
        }
        inner
            .runs
            .values()
            .flatten()
            .find(|(h, _)| h == hash)
            .map(|(_, what)| *what)
    }

    /// Checks that the agent may upload an artifact now: it holds a job and has not used up
    /// the uploads its jobs allow.
    pub fn may_upload(&self) -> Result<(), UploadRefused> {
        let inner = self.lock();
        if inner.runs.is_empty() {
            return Err(UploadRefused::NoJob);
        }
        if inner.uploads.len() >= inner.assigned * UPLOADS_PER_RUN {
            return Err(UploadRefused::TooMany);
        }
        Ok(())
    }

    /// The agent uploaded `hash`; it counts for every run it holds now.
    pub fn uploaded(&self, hash: &ContentHash) {
        let mut inner = self.lock();
        let held: BTreeSet<String> = inner.runs.keys().cloned().collect();
        inner.uploads.entry(hash.clone()).or_default().extend(held);
    }

    /// Whether the agent uploaded `hash` in this session while it held `run_id`.
    pub fn uploaded_for(&self, hash: &ContentHash, run_id: &str) -> bool {
        self.lock()
            .uploads
            .get(hash)
            .is_some_and(|runs| runs.contains(run_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use drover_protocol::run::{Baseline, DatasetPin};
    use drover_protocol::spec::TrainSpec;

    fn job(run: &str, dataset: &[u8], baseline: Option<&[u8]>) -> JobAssignment {
        let spec = TrainSpec::from_toml(include_str!("../../../config/train.example.toml"))
            .expect("example spec");
        JobAssignment {
            run_id: run.into(),
            spec,
            dataset: DatasetPin {
                name: "d".into(),
                version: 1,
                hash: ContentHash::of(dataset),
                size_bytes: dataset.len() as u64,
            },
            baseline: baseline.map(|b| Baseline {
                version: "m@1".into(),
                artifact_hash: ContentHash::of(b),
                size_bytes: b.len() as u64,
            }),
            trials: None,
            search_only: false,
        }
    }

    #[test]
    fn an_agent_fetches_only_what_its_jobs_were_handed() {
        let grants = Grants::default();
        assert_eq!(grants.fetchable(&ContentHash::of(b"data")), None);
        grants.assign(&job("run-a", b"data", Some(b"model")));
        assert_eq!(grants.fetchable(&ContentHash::of(b"data")), Some("dataset"));
        assert_eq!(
            grants.fetchable(&ContentHash::of(b"model")),
            Some("production model")
        );
        assert_eq!(grants.fetchable(&ContentHash::of(b"other")), None);
        grants.revoke("run-a");
        assert_eq!(grants.fetchable(&ContentHash::of(b"data")), None);
        assert!(!grants.holds("run-a"));
    }

    #[test]
    fn an_agent_fetches_only_the_models_it_was_last_told_to_serve() {
        use drover_protocol::serve::{Deployment, Variant};
        let deployment = |artifact: &[u8]| Deployment {
            model: "churn".into(),
            variants: vec![Variant {
                version: 1,
                artifact_hash: ContentHash::of(artifact),
                weight: 100,
                shadow: false,
            }],
            selector: Default::default(),
            updated_ms: 0,
        };
        let grants = Grants::default();
        grants.serve(&[deployment(b"v1")]);
        assert_eq!(
            grants.fetchable(&ContentHash::of(b"v1")),
            Some("deployed model")
        );
        grants.serve(&[deployment(b"v2")]);
        assert_eq!(
            grants.fetchable(&ContentHash::of(b"v1")),
            None,
            "no longer deployed"
        );
        grants.serve(&[]);
        assert_eq!(grants.fetchable(&ContentHash::of(b"v2")), None);
    }

    #[test]
    fn artifacts_count_only_for_runs_held_when_they_were_uploaded() {
        let grants = Grants::default();
        assert!(matches!(grants.may_upload(), Err(UploadRefused::NoJob)));
        grants.assign(&job("run-a", b"data", None));
        grants.may_upload().expect("holds a job");
        let model = ContentHash::of(b"model");
        grants.uploaded(&model);
        grants.assign(&job("run-b", b"data", None));
        assert!(grants.uploaded_for(&model, "run-a"));
        assert!(!grants.uploaded_for(&model, "run-b"));
        assert!(!grants.uploaded_for(&ContentHash::of(b"x"), "run-a"));
        for i in 0..7 {
            grants.uploaded(&ContentHash::of(&[i]));
        }
        assert!(matches!(grants.may_upload(), Err(UploadRefused::TooMany)));
    }
}
