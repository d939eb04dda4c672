//! Small server-rendered HTML pages behind the links the MLflow client prints
//! (`http://HOST/#/experiments/4/runs/ID`): `/` lists the experiments and sends a browser
//! that came with such a fragment on to its page; `/experiments/{id}` lists an experiment's
//! runs and logged models; `/experiments/{id}/runs/{run}` shows a run's params, metrics,
//! tags, inputs, models and files, and the drover command that shows it in the console.
//! Every value is escaped; the one script is allowed by its hash alone.

use std::fmt::Write;
use std::sync::OnceLock;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;

use super::Api;
use super::error::MlflowError;
use super::logged_models::model_dir;
use super::request::experiment_id;
use crate::store::TrackedRun;

/// Runs an experiment page lists, newest first.
const MAX_RUNS: usize = 200;
/// Files a run page lists.
const MAX_FILES: usize = 500;

/// Sends `/#/experiments/...` on to `/experiments/...`, where the server can see the path.
const SCRIPT: &str =
    "if(location.hash.indexOf('#/experiments/')===0){location.replace(location.hash.slice(1))}";

fn script_policy() -> &'static str {
    static POLICY: OnceLock<String> = OnceLock::new();
    POLICY.get_or_init(|| {
        let digest = ring::digest::digest(&ring::digest::SHA256, SCRIPT.as_bytes());
        let hash = base64::engine::general_purpose::STANDARD.encode(digest.as_ref());
        format!("default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{hash}'")
    })
}

/// `text` with HTML's special characters escaped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{} · drover</title>\
         <style>body{{font-family:monospace;margin:2em;max-width:70em}}td,th{{padding:0 1em 0 0;text-align:left}}\
         h2{{margin-top:1.5em}}</style><script>{SCRIPT}</script></head><body>\
         <p><a href=\"/\">drover</a></p>{body}</body></html>",
        escape(title)
    );
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, script_policy()),
        ],
        html,
    )
        .into_response()
}

fn not_found(what: &str) -> Response {
    let mut response = page("not found", &format!("<p>{}</p>", escape(what)));
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
}

fn table(out: &mut String, title: &str, headers: &[&str], rows: &[Vec<String>]) {
    if rows.is_empty() {
        return;
    }
    let _ = write!(out, "<h2>{}</h2><table><tr>", escape(title));
    for h in headers {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr>");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{cell}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>");
}

fn pairs<'a>(items: impl IntoIterator<Item = (&'a String, &'a String)>) -> Vec<Vec<String>> {
    items
        .into_iter()
        .map(|(k, v)| vec![escape(k), escape(v)])
        .collect()
}

fn time(ms: u64) -> String {
    chrono::DateTime::from_timestamp_millis(ms as i64)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

/// `/`: the experiments.
pub async fn index(State(api): State<Api>) -> Result<Response, MlflowError> {
    api.blocking(|api| {
        let rows: Vec<Vec<String>> = api
            .store
            .sync()
            .experiments()?
            .into_iter()
            .filter(|e| e.lifecycle != "deleted")
            .map(|e| {
                vec![
                    format!("<a href=\"/experiments/{}\">{}</a>", e.id, escape(&e.name)),
                    e.id.to_string(),
                    time(e.updated_ms),
                ]
            })
            .collect();
        let mut body = String::from("<h1>Experiments</h1>");
        table(&mut body, "", &["name", "id", "last change"], &rows);
        body.push_str("<p>In the console: <code>drover runs list</code></p>");
        Ok(page("experiments", &body))
    })
    .await
}

fn run_row(experiment: i64, run: &TrackedRun) -> Vec<String> {
    let metrics: Vec<String> = run
        .metrics
        .iter()
        .take(4)
        .map(|(k, p)| format!("{}={}", escape(k), p.value))
        .collect();
    vec![
        format!(
            "<a href=\"/experiments/{experiment}/runs/{}\">{}</a>",
            escape(&run.id),
            escape(&run.run_name)
        ),
        run.status.to_string(),
        time(run.start_ms),
        metrics.join(" "),
    ]
}

/// `/experiments/{id}`: its runs and logged models.
pub async fn experiment(
    State(api): State<Api>,
    Path(id): Path<String>,
) -> Result<Response, MlflowError> {
    api.blocking(move |api| {
        let id = experiment_id(&id)?;
        let Some(e) = api.store.sync().experiment(id)? else {
            return Ok(not_found(&format!("no experiment {id}")));
        };
        let mut runs = api.store.sync().tracked_runs(&[id], None)?;
        runs.retain(|r| !r.deleted);
        runs.sort_by_key(|r| std::cmp::Reverse(r.start_ms));
        let total = runs.len();
        let rows: Vec<Vec<String>> = runs.iter().take(MAX_RUNS).map(|r| run_row(id, r)).collect();
        let mut body = format!(
            "<h1>Experiment {}</h1><p>id {id} · {total} runs</p>",
            escape(&e.name)
        );
        table(
            &mut body,
            "Runs",
            &["run", "status", "started", "metrics"],
            &rows,
        );
        let models: Vec<Vec<String>> = api
            .store
            .sync()
            .logged_models(&[id])?
            .iter()
            .map(|m| {
                vec![
                    escape(&m.id),
                    escape(&m.name),
                    escape(m.status.trim_start_matches("LOGGED_MODEL_")),
                    format!(
                        "<a href=\"/experiments/{id}/runs/{0}\">{0}</a>",
                        escape(&m.source_run_id)
                    ),
                ]
            })
            .collect();
        table(
            &mut body,
            "Logged models",
            &["model", "name", "status", "run"],
            &models,
        );
        table(&mut body, "Tags", &["key", "value"], &pairs(&e.tags));
        Ok(page(&e.name, &body))
    })
    .await
}

/// `/experiments/{id}/runs/{run}`: one run.
pub async fn run(
    State(api): State<Api>,
    Path((experiment, id)): Path<(String, String)>,
) -> Result<Response, MlflowError> {
    api.blocking(move |api| {
        let experiment = experiment_id(&experiment)?;
        let Some(run) = api
            .store
            .sync()
            .tracked_run(&id)?
            .filter(|r| r.experiment_id == experiment)
        else {
            return Ok(not_found(&format!(
                "no run {id} in experiment {experiment}"
            )));
        };
        let mut body = format!(
            "<h1>Run {}</h1><p>{} · {} · started {}{}</p>\
             <p>In the console: <code>drover runs show {}</code></p>",
            escape(&run.run_name),
            escape(&run.id),
            run.status,
            time(run.start_ms),
            run.end_ms
                .map(|t| format!(" · ended {}", time(t)))
                .unwrap_or_default(),
            escape(&run.id),
        );
        table(&mut body, "Params", &["key", "value"], &pairs(&run.params));
        let metrics: Vec<Vec<String>> = run
            .metrics
            .iter()
            .map(|(k, p)| vec![escape(k), p.value.to_string(), p.step.to_string()])
            .collect();
        table(&mut body, "Metrics", &["key", "latest", "step"], &metrics);
        let lineage = api.store.sync().run_lineage(&run.id)?;
        let inputs: Vec<Vec<String>> = lineage
            .inputs
            .iter()
            .map(|i| {
                vec![
                    escape(&i.name),
                    escape(&i.digest),
                    escape(&i.context),
                    escape(i.dataset.as_deref().unwrap_or("")),
                ]
            })
            .collect();
        table(
            &mut body,
            "Inputs",
            &["dataset", "digest", "context", "drover dataset"],
            &inputs,
        );
        let mut files: Vec<Vec<String>> = Vec::new();
        let logged = api.store.sync().run_logged_models(&run.id)?;
        let dirs = std::iter::once(format!("{experiment}/{}/artifacts", run.id))
            .chain(logged.iter().filter(|m| !m.deleted).map(model_dir));
        for dir in dirs {
            for (path, size) in api.store.sync().run_files(&dir)? {
                if files.len() < MAX_FILES {
                    files.push(vec![
                        format!(
                            "<a href=\"/api/2.0/mlflow-artifacts/artifacts/{0}\">{0}</a>",
                            escape(&path)
                        ),
                        size.to_string(),
                    ]);
                }
            }
        }
        let models: Vec<Vec<String>> = lineage
            .outputs
            .iter()
            .map(|m| {
                vec![
                    escape(&m.model_id),
                    escape(&m.name),
                    escape(&m.status),
                    escape(&m.registered.join(", ")),
                ]
            })
            .collect();
        table(
            &mut body,
            "Logged models",
            &["model", "name", "status", "registered"],
            &models,
        );
        table(&mut body, "Artifacts", &["path", "bytes"], &files);
        table(&mut body, "Tags", &["key", "value"], &pairs(&run.tags));
        Ok(page(&run.run_name, &body))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_values_is_escaped() {
        assert_eq!(
            escape("<script>alert('x') & \"y\"</script>"),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
        assert!(script_policy().starts_with("default-src 'none';"));
    }
}
