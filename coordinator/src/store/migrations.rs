//! The store's schema, as numbered migrations applied in order; `user_version` records how far
//! a database has come. Append new migrations; never edit one that has shipped.

use rusqlite::Connection;

use super::StoreError;

const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE agents (
    id            TEXT PRIMARY KEY,
    hostname      TEXT NOT NULL,
    labels        TEXT NOT NULL DEFAULT '{}',
    version       TEXT NOT NULL DEFAULT '',
    address       TEXT NOT NULL DEFAULT '',
    cert_sha256   TEXT NOT NULL,
    capacity      TEXT,
    enrolled_ms   INTEGER NOT NULL,
    last_seen_ms  INTEGER,
    removed_ms    INTEGER
);
CREATE TABLE tokens (
    id            TEXT PRIMARY KEY,
    secret_sha256 TEXT NOT NULL,
    created_ms    INTEGER NOT NULL,
    expires_ms    INTEGER NOT NULL,
    uses_left     INTEGER NOT NULL
);
CREATE TABLE events (
    seq    INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms  INTEGER NOT NULL,
    kind   TEXT NOT NULL,
    body   TEXT NOT NULL
);
"#,
    r#"
CREATE TABLE datasets (
    name        TEXT NOT NULL,
    version     INTEGER NOT NULL,
    hash        TEXT NOT NULL,
    size_bytes  INTEGER NOT NULL,
    rows        INTEGER NOT NULL,
    schema      TEXT NOT NULL,
    profile     TEXT NOT NULL,
    changes     TEXT NOT NULL,
    source      TEXT NOT NULL,
    created_ms  INTEGER NOT NULL,
    PRIMARY KEY (name, version)
);
"#,
    r#"
CREATE TABLE runs (
    id              TEXT PRIMARY KEY,
    experiment      TEXT NOT NULL,
    model           TEXT NOT NULL,
    status          TEXT NOT NULL,
    spec            TEXT NOT NULL,
    spec_hash       TEXT NOT NULL,
    dataset_name    TEXT NOT NULL,
    dataset_version INTEGER NOT NULL,
    dataset_hash    TEXT NOT NULL,
    dataset_size    INTEGER NOT NULL,
    seed            INTEGER NOT NULL,
    drover_version  TEXT NOT NULL,
    trials_total    INTEGER NOT NULL,
    agent           TEXT,
    params          TEXT,
    metrics         TEXT,
    gates_passed    INTEGER,
    gate_failures   TEXT,
    artifact_hash   TEXT,
    rows_train      INTEGER,
    rows_test       INTEGER,
    error           TEXT,
    created_ms      INTEGER NOT NULL,
    started_ms      INTEGER,
    finished_ms     INTEGER
);
CREATE INDEX runs_by_status ON runs (status, created_ms);
CREATE TABLE trials (
    run_id  TEXT NOT NULL,
    trial   INTEGER NOT NULL,
    params  TEXT NOT NULL,
    mean    TEXT NOT NULL,
    folds   TEXT NOT NULL,
    PRIMARY KEY (run_id, trial)
);
"#,
    r#"
CREATE TABLE model_versions (
    model         TEXT NOT NULL,
    version       INTEGER NOT NULL,
    semver        TEXT NOT NULL,
    stage         TEXT NOT NULL DEFAULT 'none',
    run_id        TEXT NOT NULL,
    dataset       TEXT NOT NULL,
    dataset_hash  TEXT NOT NULL,
    artifact_hash TEXT NOT NULL,
    algorithm     TEXT NOT NULL,
    metrics       TEXT NOT NULL,
    created_ms    INTEGER NOT NULL,
    PRIMARY KEY (model, version)
);
CREATE TABLE model_aliases (
    model   TEXT NOT NULL,
    alias   TEXT NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (model, alias)
);
CREATE TABLE model_schemas (
    model          TEXT NOT NULL,
    version        INTEGER NOT NULL,
    feature_schema TEXT NOT NULL,
    PRIMARY KEY (model, version)
);
"#,
    r#"
CREATE TABLE schedules (
    id           TEXT PRIMARY KEY,
    spec         TEXT NOT NULL,
    cron         TEXT,
    on_new_data  INTEGER NOT NULL,
    dataset_name TEXT NOT NULL,
    next_run_ms  INTEGER,
    last_run_ms  INTEGER,
    last_run_id  TEXT,
    created_ms   INTEGER NOT NULL
);
"#,
    r#"
CREATE TABLE metric_points (
    run_id TEXT NOT NULL,
    key    TEXT NOT NULL,
    step   INTEGER NOT NULL,
    value  REAL NOT NULL,
    at_ms  INTEGER NOT NULL
);
CREATE INDEX metric_points_by_run ON metric_points (run_id, key, step);
"#,
    r#"
CREATE TABLE experiments (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    lifecycle   TEXT NOT NULL DEFAULT 'active',
    tags        TEXT NOT NULL DEFAULT '{}',
    created_ms  INTEGER NOT NULL,
    updated_ms  INTEGER NOT NULL
);
INSERT INTO experiments (id, name, created_ms, updated_ms) VALUES (0, 'Default', 0, 0);
INSERT OR IGNORE INTO experiments (name, created_ms, updated_ms)
    SELECT experiment, MIN(created_ms), MAX(created_ms) FROM runs GROUP BY experiment;
ALTER TABLE runs ADD COLUMN source TEXT NOT NULL DEFAULT 'drover';
ALTER TABLE runs ADD COLUMN run_name TEXT;
ALTER TABLE runs ADD COLUMN user_id TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
CREATE INDEX runs_by_experiment ON runs (experiment, created_ms);
CREATE TABLE run_params (
    run_id TEXT NOT NULL,
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
) WITHOUT ROWID;
CREATE TABLE run_tags (
    run_id TEXT NOT NULL,
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
) WITHOUT ROWID;
CREATE TABLE metric_latest (
    run_id TEXT NOT NULL,
    key    TEXT NOT NULL,
    step   INTEGER NOT NULL,
    at_ms  INTEGER NOT NULL,
    value  REAL NOT NULL,
    PRIMARY KEY (run_id, key)
) WITHOUT ROWID;
"#,
    r#"
CREATE TABLE run_files (
    path       TEXT PRIMARY KEY,
    run_id     TEXT NOT NULL,
    hash       TEXT NOT NULL,
    size       INTEGER NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE TABLE registered_models (
    name        TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    tags        TEXT NOT NULL DEFAULT '{}',
    created_ms  INTEGER NOT NULL
);
ALTER TABLE model_versions ADD COLUMN source TEXT NOT NULL DEFAULT '';
"#,
    r#"
CREATE TABLE reaction_cursors (
    name TEXT PRIMARY KEY,
    seq  INTEGER NOT NULL
);
INSERT INTO reaction_cursors (name, seq) SELECT 'reactions', COALESCE(MAX(seq), 0) FROM events;
ALTER TABLE runs ADD COLUMN cause TEXT;
CREATE UNIQUE INDEX runs_by_cause ON runs (cause) WHERE cause IS NOT NULL;
ALTER TABLE schedules ADD COLUMN since_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN same_model_as TEXT;
"#,
    r#"
CREATE TABLE deployments (
    model      TEXT PRIMARY KEY,
    variants   TEXT NOT NULL,
    selector   TEXT NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE TABLE serving_windows (
    agent    TEXT NOT NULL,
    model    TEXT NOT NULL,
    version  INTEGER NOT NULL,
    start_ms INTEGER NOT NULL,
    end_ms   INTEGER NOT NULL,
    requests INTEGER NOT NULL,
    errors   INTEGER NOT NULL,
    latency  TEXT NOT NULL,
    classes  TEXT NOT NULL,
    feedback INTEGER NOT NULL,
    correct  INTEGER NOT NULL
);
CREATE INDEX serving_windows_by_version ON serving_windows (model, version, end_ms);
"#,
    r#"
CREATE TABLE rollouts (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    model      TEXT NOT NULL,
    state      TEXT NOT NULL,
    active     INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE UNIQUE INDEX rollouts_one_active ON rollouts (model) WHERE active = 1;
CREATE TABLE rollout_decisions (
    rollout INTEGER NOT NULL REFERENCES rollouts (id),
    at_ms   INTEGER NOT NULL,
    body    TEXT NOT NULL
);
CREATE INDEX rollout_decisions_by_rollout ON rollout_decisions (rollout);
ALTER TABLE serving_windows ADD COLUMN received_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE serving_windows ADD COLUMN shadow_rows INTEGER NOT NULL DEFAULT 0;
ALTER TABLE serving_windows ADD COLUMN shadow_differing INTEGER NOT NULL DEFAULT 0;
ALTER TABLE serving_windows ADD COLUMN shadow_failed INTEGER NOT NULL DEFAULT 0;
CREATE INDEX serving_windows_by_receipt ON serving_windows (model, received_ms);
ALTER TABLE model_versions ADD COLUMN rollout TEXT;
"#,
    // 9: drift sketches, scores and alerts.
    r#"
CREATE TABLE sketch_windows (
    agent       TEXT NOT NULL,
    model       TEXT NOT NULL,
    version     INTEGER NOT NULL,
    start_ms    INTEGER NOT NULL,
    end_ms      INTEGER NOT NULL,
    received_ms INTEGER NOT NULL,
    body        TEXT NOT NULL
);
CREATE INDEX sketch_windows_by_receipt ON sketch_windows (model, version, received_ms);
CREATE TABLE drift_scores (
    model       TEXT NOT NULL,
    version     INTEGER NOT NULL,
    at_ms       INTEGER NOT NULL,
    column_name TEXT NOT NULL,
    score       REAL NOT NULL,
    threshold   REAL NOT NULL,
    samples     INTEGER NOT NULL,
    status      TEXT NOT NULL
);
CREATE INDEX drift_scores_by_version ON drift_scores (model, version, at_ms);
CREATE TABLE drift_latest (
    model       TEXT NOT NULL,
    version     INTEGER NOT NULL,
    column_name TEXT NOT NULL,
    at_ms       INTEGER NOT NULL,
    body        TEXT NOT NULL,
    PRIMARY KEY (model, version, column_name)
);
CREATE TABLE alerts (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    rule     TEXT NOT NULL,
    subject  TEXT NOT NULL,
    firing   INTEGER NOT NULL,
    fired_ms INTEGER NOT NULL,
    body     TEXT NOT NULL
);
CREATE INDEX alerts_firing ON alerts (firing);
CREATE TABLE live_importance (
    agent       TEXT NOT NULL,
    model       TEXT NOT NULL,
    version     INTEGER NOT NULL,
    received_ms INTEGER NOT NULL,
    body        TEXT NOT NULL
);
CREATE INDEX live_importance_by_receipt ON live_importance (model, version, received_ms);
CREATE TABLE importance_ranks (
    model   TEXT NOT NULL,
    version INTEGER NOT NULL,
    at_ms   INTEGER NOT NULL,
    rows    INTEGER NOT NULL,
    body    TEXT NOT NULL
);
CREATE INDEX importance_ranks_by_version ON importance_ranks (model, version, at_ms);
"#,
    // 10: MLflow 3 logged models, run inputs and outputs, and registry edits.
    r#"
CREATE TABLE logged_models (
    id             TEXT PRIMARY KEY,
    experiment_id  INTEGER NOT NULL,
    name           TEXT NOT NULL,
    source_run_id  TEXT NOT NULL,
    model_type     TEXT NOT NULL,
    status         TEXT NOT NULL,
    status_message TEXT NOT NULL DEFAULT '',
    params         TEXT NOT NULL DEFAULT '{}',
    tags           TEXT NOT NULL DEFAULT '{}',
    metrics        TEXT NOT NULL DEFAULT '{}',
    artifact_hash  TEXT NOT NULL DEFAULT '',
    dataset        TEXT NOT NULL DEFAULT '',
    dataset_hash   TEXT NOT NULL DEFAULT '',
    deleted        INTEGER NOT NULL DEFAULT 0,
    created_ms     INTEGER NOT NULL,
    updated_ms     INTEGER NOT NULL
);
CREATE INDEX logged_models_by_experiment ON logged_models (experiment_id, created_ms);
CREATE INDEX logged_models_by_run ON logged_models (source_run_id);
CREATE TABLE run_inputs (
    run_id      TEXT NOT NULL,
    name        TEXT NOT NULL,
    digest      TEXT NOT NULL,
    source_type TEXT NOT NULL,
    source      TEXT NOT NULL,
    schema      TEXT NOT NULL,
    profile     TEXT NOT NULL,
    tags        TEXT NOT NULL,
    dataset     TEXT NOT NULL DEFAULT '',
    dataset_hash TEXT NOT NULL DEFAULT '',
    at_ms       INTEGER NOT NULL,
    PRIMARY KEY (run_id, name, digest)
) WITHOUT ROWID;
CREATE TABLE run_outputs (
    run_id   TEXT NOT NULL,
    model_id TEXT NOT NULL,
    step     INTEGER NOT NULL,
    PRIMARY KEY (run_id, model_id)
) WITHOUT ROWID;
ALTER TABLE model_versions ADD COLUMN description TEXT NOT NULL DEFAULT '';
ALTER TABLE model_versions ADD COLUMN tags TEXT NOT NULL DEFAULT '{}';
ALTER TABLE model_versions ADD COLUMN updated_ms INTEGER;
ALTER TABLE registered_models ADD COLUMN updated_ms INTEGER;
ALTER TABLE registered_models ADD COLUMN last_deleted INTEGER NOT NULL DEFAULT 0;
"#,
    // 11: records that did not decode, kept aside; labels granted by a token, fixed at
    // enrollment (agents enrolled before keep the labels they had), and what an agent
    // claimed beyond them.
    r#"
ALTER TABLE agents ADD COLUMN labels_fixed INTEGER NOT NULL DEFAULT 1;
ALTER TABLE agents ADD COLUMN claimed TEXT NOT NULL DEFAULT '{}';
ALTER TABLE tokens ADD COLUMN labels TEXT;
CREATE TABLE quarantine (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    row    INTEGER NOT NULL,
    body   TEXT NOT NULL,
    reason TEXT NOT NULL,
    at_ms  INTEGER NOT NULL
);
"#,
    // 12: what agents report gets row ids that are never reused (AUTOINCREMENT), so a reader
    // that remembers the last row it read never misses rows stored after its table emptied.
    r#"
CREATE TABLE serving_windows_12 (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    agent            TEXT NOT NULL,
    model            TEXT NOT NULL,
    version          INTEGER NOT NULL,
    start_ms         INTEGER NOT NULL,
    end_ms           INTEGER NOT NULL,
    requests         INTEGER NOT NULL,
    errors           INTEGER NOT NULL,
    latency          TEXT NOT NULL,
    classes          TEXT NOT NULL,
    feedback         INTEGER NOT NULL,
    correct          INTEGER NOT NULL,
    received_ms      INTEGER NOT NULL DEFAULT 0,
    shadow_rows      INTEGER NOT NULL DEFAULT 0,
    shadow_differing INTEGER NOT NULL DEFAULT 0,
    shadow_failed    INTEGER NOT NULL DEFAULT 0
);
INSERT INTO serving_windows_12 SELECT rowid, agent, model, version, start_ms, end_ms, requests,
    errors, latency, classes, feedback, correct, received_ms, shadow_rows, shadow_differing,
    shadow_failed FROM serving_windows;
DROP TABLE serving_windows;
ALTER TABLE serving_windows_12 RENAME TO serving_windows;
CREATE INDEX serving_windows_by_version ON serving_windows (model, version, end_ms);
CREATE INDEX serving_windows_by_receipt ON serving_windows (model, received_ms);
CREATE TABLE sketch_windows_12 (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    agent       TEXT NOT NULL,
    model       TEXT NOT NULL,
    version     INTEGER NOT NULL,
    start_ms    INTEGER NOT NULL,
    end_ms      INTEGER NOT NULL,
    received_ms INTEGER NOT NULL,
    body        TEXT NOT NULL
);
INSERT INTO sketch_windows_12 SELECT rowid, agent, model, version, start_ms, end_ms,
    received_ms, body FROM sketch_windows;
DROP TABLE sketch_windows;
ALTER TABLE sketch_windows_12 RENAME TO sketch_windows;
CREATE INDEX sketch_windows_by_receipt ON sketch_windows (model, version, received_ms);
CREATE TABLE live_importance_12 (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    agent       TEXT NOT NULL,
    model       TEXT NOT NULL,
    version     INTEGER NOT NULL,
    received_ms INTEGER NOT NULL,
    body        TEXT NOT NULL
);
INSERT INTO live_importance_12 SELECT rowid, agent, model, version, received_ms, body
    FROM live_importance;
DROP TABLE live_importance;
ALTER TABLE live_importance_12 RENAME TO live_importance;
CREATE INDEX live_importance_by_receipt ON live_importance (model, version, received_ms);
"#,
];

/// Applies every migration the database has not seen yet, each in its own transaction.
pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let current: usize =
        conn.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))? as usize;
    if current > MIGRATIONS.len() {
        return Err(StoreError::Corrupt(format!(
            "database schema version {current} is newer than this drover ({}); upgrade drover",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}
