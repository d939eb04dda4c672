//! `drover demo --headless`, the README's first command, tells the whole lifecycle and exits
//! 0: the shuffled candidate rolled back by the analysis, the better one promoted through
//! every step, drift alerting on the features that moved (never on the others) and the model
//! retrained on the newest data, no request failed, and its temporary data dir gone
//! afterwards.

use drover_tests::drover;

#[test]
fn the_demo_tells_the_whole_lifecycle_and_cleans_up() {
    let out = drover(&["demo", "--headless"]);
    let story = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{story}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "trained churn@1 (gaussian_nb on churn, a good model)",
        "trained churn@2 (gaussian_nb on churn-shuffled, trained on shuffled labels)",
        "rollout 1 of churn@2: rolled back: analysis failed:",
        "rollout 2 of churn@3: step 2 (25%): step 1 (10%) passed",
        "rollout 2 of churn@3: step 3 (50%): step 2 (25%) passed",
        "rollout 2 of churn@3: promoted: step 3 (50%) passed",
        "rollout 2 of churn@3: succeeded: the guard window passed",
        " 0 failed;",
        "registry: churn@3 production, churn@1 archived",
        "the customers change: 4000 new labelled customers as churn@2",
        "drift of churn@3: drifted ",
        "column monthly_charges",
        "retrained on the newest data and registered churn@4",
    ] {
        assert!(story.contains(line), "{line:?} missing from:\n{story}");
    }
    let stable = story
        .lines()
        .find_map(|l| l.split("stable: ").nth(1))
        .expect("the stable columns are named");
    for unmoved in [
        "tenure_months",
        "payment_method",
        "internet_service",
        "senior",
        "gender",
    ] {
        assert!(stable.contains(unmoved), "{unmoved} did not move:\n{story}");
    }
    assert!(
        story.contains("mSPRT confidence sequence"),
        "decisions carry their tests and numbers:\n{story}"
    );
    let dir = story
        .split("(data dir ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .expect("the data dir is named");
    assert!(!std::path::Path::new(dir).exists(), "{dir} was removed");
}
