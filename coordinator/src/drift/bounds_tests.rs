//! Sketches an agent may not send are dropped before the store: of a version not deployed
//! to it, beyond the bounds of shape, with counts that overflow a sum, or counting more rows
//! than one agent could have predicted.

use std::collections::BTreeMap;

use drover_protocol::drift::{ColumnCounts, SketchWindow};
use drover_protocol::types::AgentId;

use super::tests::deployed;
use crate::testing;

#[test]
fn sketches_of_undeployed_versions_or_beyond_bounds_are_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shared = testing::shared(dir.path());
    deployed(&shared);
    let good = SketchWindow {
        model: "churn".into(),
        version: 1,
        start_ms: 1,
        end_ms: 2,
        columns: vec![ColumnCounts::empty(3)],
        predictions: ColumnCounts::empty(2),
    };
    let other = SketchWindow {
        version: 9,
        ..good.clone()
    };
    let huge = SketchWindow {
        columns: vec![ColumnCounts::empty(3); 5_000],
        ..good.clone()
    };
    let overflowing = SketchWindow {
        columns: vec![ColumnCounts {
            counts: vec![u64::MAX, 1, 0],
            ..ColumnCounts::default()
        }],
        ..good.clone()
    };
    let more_than_predictable = SketchWindow {
        predictions: ColumnCounts {
            counts: vec![10_000_001, 0],
            ..ColumnCounts::default()
        },
        ..good.clone()
    };
    let agent = AgentId("ag-1".into());
    let sent = vec![good, other, huge, overflowing, more_than_predictable];
    super::record_sketches(&shared, &agent, &BTreeMap::new(), sent);
    let kept = shared.store.sync().sketches_after(0, 0).expect("sketches");
    assert_eq!(kept.len(), 1, "only the version deployed, of a sane shape");
    assert_eq!((kept[0].1.model.as_str(), kept[0].1.version), ("churn", 1));
    assert_eq!(kept[0].0.agent, agent);
}
