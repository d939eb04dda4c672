//! The verbs' sharp edges, through the real `drover` binary against a coordinator process:
//! unknown metrics are usage errors, ids may be shortened to a unique prefix, a queued run
//! says why it waits, and promoting needs one version.

use std::path::Path;

use drover_tests::{Proc, bin, drover, drover_ok, spawn_coordinator, wait_for};

fn fails(args: &[&str], code: i32) -> String {
    let out = drover(args);
    assert_eq!(out.status.code(), Some(code), "drover {args:?}: {out:?}");
    String::from_utf8(out.stderr).expect("utf-8")
}

fn spec(dir: &Path) -> String {
    let path = dir.join("spec.toml");
    std::fs::write(&path, drover_tests::quick_spec("verbs")).expect("write spec");
    path.to_str().expect("utf-8").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verbs_refuse_vague_input_and_explain_waiting_runs() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("coord");
    let d = data.to_str().expect("utf-8").to_string();
    let (_coordinator, _) = spawn_coordinator(&data, "127.0.0.1:0", tmp.path().join("c.log")).await;
    let csv = tmp.path().join("churn.csv");
    std::fs::write(&csv, drover_tests::churn_csv(200, 3)).expect("csv");
    let added = drover(&[
        "data",
        "add",
        csv.to_str().expect("utf-8"),
        "--name",
        "churn",
        "--data-dir",
        &d,
    ]);
    assert!(added.status.success());
    let stderr = String::from_utf8_lossy(&added.stderr);
    assert!(
        !stderr.contains("uploading"),
        "progress stays off when stderr is not a terminal: {stderr}"
    );
    let spec = spec(tmp.path());
    let queued: Vec<String> = (0..2)
        .map(|_| {
            let out = drover_ok(&["train", &spec, "--data-dir", &d]);
            out.split_whitespace()
                .find(|w| w.starts_with("run-"))
                .expect("the run id")
                .to_string()
        })
        .collect();

    // Unknown metrics are usage errors that list the known ones.
    let err = fails(&["runs", "list", "--where", "acc>0.7", "--data-dir", &d], 2);
    assert!(
        err.contains("unknown metric \"acc\"") && err.contains("accuracy"),
        "{err}"
    );
    let err = fails(&["runs", "list", "--sort", "bogus", "--data-dir", &d], 2);
    assert!(err.contains("unknown metric \"bogus\""), "{err}");
    drover_ok(&["runs", "list", "--sort", "accuracy", "--data-dir", &d]);

    // A unique prefix names a run; an ambiguous one lists the candidates.
    let unique = (5..queued[0].len())
        .map(|n| &queued[0][..n])
        .find(|p| !queued[1].starts_with(p))
        .expect("the ids differ");
    let shown = drover_ok(&["runs", "show", unique, "--data-dir", &d]);
    assert!(shown.contains(&queued[0]), "{shown}");
    let err = fails(&["runs", "show", "run-", "--data-dir", &d], 1);
    assert!(
        err.contains("could be run") && err.contains("type more"),
        "{err}"
    );

    // A queued run no agent can take says why, in `runs show` and under `--follow`.
    assert!(shown.contains("waiting: no agent has joined"), "{shown}");
    let follow = Proc::spawn(
        &bin("drover"),
        &["train", &spec, "--follow", "--data-dir", &d],
        tmp.path().join("follow.log"),
    );
    wait_for("--follow to say why the run waits", || async {
        follow
            .log_text()
            .contains("waiting: no agent has joined")
            .then_some(())
    })
    .await;
    drop(follow);

    // Cancelling takes a prefix too (a long one: `--follow` queued a third run, which the
    // shortest prefix telling the first two apart may also start).
    let long = &queued[0][..queued[0].len() - 1];
    let cancelled = drover_ok(&["runs", "cancel", long, "--data-dir", &d]);
    assert!(cancelled.contains(&queued[0]), "{cancelled}");

    // Promoting names one version.
    let err = fails(
        &[
            "models",
            "promote",
            "churn",
            "--stage",
            "production",
            "--data-dir",
            &d,
        ],
        2,
    );
    assert!(err.contains("promote names one version: churn@N"), "{err}");
}

/// `drover drift compare` needs no coordinator: the same statistics as the live monitor on
/// two files, a JSON report, exit 1 with `--fail-on-drift` when a column drifted, and exit 2
/// naming the problem for files that cannot be compared.
#[test]
fn drift_compare_reports_each_column_and_refuses_files_that_differ() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, bytes: &[u8]| {
        let path = tmp.path().join(name);
        std::fs::write(&path, bytes).expect("write");
        path.to_str().expect("utf-8").to_string()
    };
    let reference = write("ref.csv", &drover_tests::churn_csv(2_000, 1));
    let same = write("same.csv", &drover_tests::churn_csv(2_000, 2));
    let mut moved = Vec::new();
    drover::cli::synth::churn(
        drover::cli::synth::ChurnOptions {
            rows: 2_000,
            seed: 3,
            drift: 1.0,
        },
        &mut moved,
    )
    .expect("synth");
    let moved = write("moved.csv", &moved);

    let report: serde_json::Value = serde_json::from_str(&drover_ok(&[
        "drift", "compare", &reference, &moved, "--json",
    ]))
    .expect("json");
    let drifted: Vec<&str> = report["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .filter(|c| c["drifted"] == true)
        .filter_map(|c| c["column"].as_str())
        .collect();
    for column in ["monthly_charges", "contract", "support_calls"] {
        assert!(drifted.contains(&column), "{column} moved: {drifted:?}");
    }
    for column in ["tenure_months", "gender", "payment_method"] {
        assert!(
            !drifted.contains(&column),
            "{column} did not move: {drifted:?}"
        );
    }
    let ks = &report["columns"][0]["statistics"][0];
    assert_eq!(ks["method"], "ks");
    assert!(ks["p_value"].as_f64().is_some(), "{ks}");

    let text = drover_ok(&["drift", "compare", &reference, &same]);
    assert!(
        text.contains("COLUMN") && text.contains("columns drifted"),
        "{text}"
    );
    fails(
        &["drift", "compare", &reference, &moved, "--fail-on-drift"],
        1,
    );
    let _ = fails(
        &[
            "drift",
            "compare",
            &reference,
            &same,
            "--fail-on-drift",
            "--columns",
            "gender",
        ],
        0,
    );

    let other = write("other.csv", b"a,b\n1,2\n3,4\n");
    let refused = fails(&["drift", "compare", &reference, &other], 2);
    assert!(refused.contains("--columns"), "{refused}");
    let empty = write("empty.csv", b"");
    let refused = fails(&["drift", "compare", &reference, &empty], 2);
    assert!(refused.contains("empty"), "{refused}");
    let missing = fails(&["drift", "compare", &reference, "/nonexistent.csv"], 1);
    assert!(missing.contains("cannot read"), "{missing}");
}
