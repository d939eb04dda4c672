//! A shadow rollout is refused at start when the candidate takes an input the baseline's
//! requests do not carry; a candidate that takes fewer inputs, or the same ones, starts.

use drover_protocol::hash::ContentHash;
use drover_protocol::registry::Selector;
use drover_protocol::rollout::{RolloutSpec, Strategy};
use drover_protocol::serve::{Deployment, Variant};

use super::controller;
use crate::store::NewModelVersion;
use crate::testing;

#[test]
fn a_shadow_that_could_not_read_its_baselines_requests_is_refused_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shared = testing::shared(dir.path());
    let store = shared.store.sync();
    let hash = ContentHash::of(b"churn").to_string();
    for schema in [
        "plan:categorical,tenure:numeric",
        "tenure:numeric",
        "calls:numeric,tenure:numeric",
    ] {
        let new = NewModelVersion {
            model: "churn",
            run_id: "",
            dataset_name: "churn",
            dataset_version: 1,
            dataset_hash: "",
            feature_schema: schema,
            artifact_hash: &hash,
            algorithm: "logistic_regression",
            metrics: &Default::default(),
            created_ms: 0,
        };
        store.register_model(&new).expect("registered");
    }
    store
        .put_deployment(&Deployment {
            model: "churn".into(),
            variants: vec![Variant {
                version: 1,
                artifact_hash: ContentHash::of(b"churn"),
                weight: 100,
                shadow: false,
            }],
            selector: Default::default(),
            updated_ms: 0,
        })
        .expect("deployed");
    let shadow = || RolloutSpec {
        strategy: Strategy::Shadow,
        ..RolloutSpec::default()
    };
    let refused = controller::start(&shared, "churn", &Selector::Number(3), shadow())
        .expect_err("churn@3 takes calls");
    assert!(
        refused.message.contains("(calls)") && refused.message.contains("canary"),
        "{}",
        refused.message
    );
    let started = controller::start(&shared, "churn", &Selector::Number(2), shadow())
        .expect("churn@2 takes only tenure, which every request carries");
    assert_eq!(started.rollout.candidate, 2);
}
