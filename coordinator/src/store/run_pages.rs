//! Pages of runs: filtered, ordered and cut in SQL, so a console or script reaches every run
//! in the store while each answer stays small. The order by score or metric follows the one
//! catalogue of metric directions (`drover_ml::metric`).

use drover_ml::metric::{self, Direction};
use drover_protocol::run::{RunOrder, RunPage, RunQuery};
use drover_protocol::spec::Task;
use rusqlite::params;

use super::runs::{SUMMARY, run_metrics, summary};
use super::{Store, StoreError};

/// Which runs a query keeps; `?1` experiment, `?2` status, `?3` lowercase text.
const MATCHES: &str =
    "r.deleted = 0 AND (?1 IS NULL OR r.experiment = ?1) AND (?2 IS NULL OR r.status = ?2)
    AND (?3 = '' OR instr(lower(r.id || ' ' || r.experiment || ' ' || r.model || ' '
        || COALESCE(json_extract(r.spec, '$.algorithm'), 'mlflow') || ' ' || r.dataset_name || '@'
        || r.dataset_version || ' ' || r.status || ' ' || COALESCE(r.agent, '')), ?3) > 0)";

/// SQL for a metric's value in a run (`?4` is its JSON path).
const METRIC: &str = concat!("json_extract(", run_metrics!(), ", ?4)");

/// SQL for the headline metric turned so that larger is better, as
/// `drover_ml::metric::headline` and `merit` define it.
fn score_sql() -> String {
    let cases: String = [Task::Classification, Task::Regression]
        .into_iter()
        .map(metric::selection)
        .map(|name| {
            let value = format!("json_extract({}, '$.{name}')", run_metrics!());
            let sign = match metric::direction(name) {
                Direction::HigherIsBetter => "",
                Direction::LowerIsBetter => "-",
            };
            format!(" WHEN {value} IS NOT NULL THEN {sign}{value}")
        })
        .collect();
    format!("CASE{cases} END")
}

impl Store {
    /// One page of the runs `query` selects, in its order.
    pub fn run_page(&self, query: &RunQuery, max: u32) -> Result<RunPage, StoreError> {
        let conn = self.read()?;
        let status = query.filter.status.map(|s| s.to_string());
        let text = query.text.trim().to_lowercase();
        let total: u32 = conn
            .prepare_cached(&format!("SELECT COUNT(*) FROM runs r WHERE {MATCHES}"))?
            .query_row(params![query.filter.experiment, status, text], |r| r.get(0))?;
        let (key, path, direction) = match &query.order {
            RunOrder::Newest => ("NULL".to_string(), None, "DESC"),
            RunOrder::Score => (score_sql(), None, "DESC"),
            RunOrder::Metric(name) => (
                METRIC.to_string(),
                Some(format!("$.\"{}\"", name.replace('"', ""))),
                if metric::higher_is_better(name) {
                    "DESC"
                } else {
                    "ASC"
                },
            ),
        };
        let mut ids = conn.prepare_cached(&format!(
            "SELECT id FROM (SELECT r.id AS id, r.created_ms AS created, {key} AS k FROM runs r WHERE {MATCHES})
             ORDER BY k IS NULL, k {direction}, created DESC, id DESC LIMIT ?5 OFFSET ?6"
        ))?;
        let ids = ids
            .query_map(
                params![
                    query.filter.experiment,
                    status,
                    text,
                    path,
                    query.limit.min(max),
                    query.offset
                ],
                |r| r.get::<_, String>(0),
            )?
            .collect::<Result<Vec<_>, _>>()?;
        let mut one = conn.prepare_cached(&format!("{SUMMARY} WHERE r.id = ?1"))?;
        let runs = ids
            .iter()
            .map(|id| one.query_row([id], summary))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RunPage {
            total,
            offset: query.offset,
            runs,
        })
    }
}

#[cfg(test)]
mod tests {
    use drover_protocol::msg::Event;
    use drover_protocol::run::{RunFilter, RunStatus};

    use super::*;
    use crate::store::FinishedRun;
    use crate::testing;

    fn finish(store: &Store, id: &str, metric: &str, value: f64) {
        let metrics = [(metric.to_string(), value)].into();
        let end = FinishedRun {
            status: RunStatus::Succeeded,
            params: None,
            metrics: Some(&metrics),
            gates_passed: Some(true),
            gate_failures: Vec::new(),
            artifact_hash: None,
            rows: None,
            error: None,
            finished_ms: 1,
        };
        let event = Event::RunFinished {
            id: id.into(),
            status: RunStatus::Succeeded,
            detail: String::new(),
        };
        store.finish_run(id, &end, event).expect("finish");
    }

    fn ids(page: &RunPage) -> Vec<&str> {
        page.runs.iter().map(|r| r.id.as_str()).collect()
    }

    #[test]
    fn pages_reach_every_run_in_the_order_asked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let shared = testing::shared(dir.path());
        testing::dataset(&shared, "churn", &testing::churn_csv(40));
        let runs: Vec<String> = (0..5)
            .map(|_| testing::queue(&shared, testing::SPEC))
            .collect();
        let store = shared.store.sync();
        for (id, acc) in runs.iter().zip([0.7, 0.9, 0.8]) {
            finish(store, id, "accuracy", acc);
        }
        let query = |order, offset, limit| RunQuery {
            order,
            offset,
            limit,
            ..RunQuery::default()
        };

        let first = store
            .run_page(&query(RunOrder::Newest, 0, 2), 100)
            .expect("page");
        let rest = store
            .run_page(&query(RunOrder::Newest, 2, 10), 100)
            .expect("page");
        assert_eq!(first.total, 5);
        let mut all = ids(&first);
        all.extend(ids(&rest));
        let listed = store.runs(&RunFilter::default(), 100).expect("list");
        let newest_first: Vec<&str> = listed.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(all, newest_first, "two pages are every run, newest first");

        let by_score = store
            .run_page(&query(RunOrder::Score, 0, 3), 100)
            .expect("page");
        assert_eq!(ids(&by_score), [&runs[1], &runs[2], &runs[0]]);
        let by_metric = query(RunOrder::Metric("accuracy".into()), 0, 1);
        assert_eq!(
            ids(&store.run_page(&by_metric, 100).expect("page")),
            [&runs[1]]
        );
        let capped = store
            .run_page(&query(RunOrder::Newest, 0, 100), 3)
            .expect("page");
        assert_eq!(capped.runs.len(), 3, "the coordinator's cap wins");

        let text = RunQuery {
            text: runs[3][..runs[3].len() - 1].to_uppercase(),
            ..RunQuery::default()
        };
        assert!(store.run_page(&text, 100).expect("page").total >= 1);
        let queued = RunQuery {
            filter: RunFilter {
                status: Some(RunStatus::Queued),
                ..RunFilter::default()
            },
            text: "logistic".into(),
            limit: 10,
            ..RunQuery::default()
        };
        let page = store.run_page(&queued, 100).expect("page");
        let mut found = ids(&page);
        found.sort_unstable();
        let mut expected = vec![&*runs[3], &*runs[4]];
        expected.sort_unstable();
        assert_eq!((page.total, found), (2, expected));
    }
}
