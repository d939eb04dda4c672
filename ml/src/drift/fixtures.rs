//! drover's drift statistics against scipy's and numpy's on the same data
//! (`fixtures.json`, written by `fixtures.py`).

use drover_protocol::drift::REFERENCE_BINS;
use serde_json::Value;

use super::{chi_squared, jensen_shannon, ks, psi, reference, wasserstein};

const FIXTURES: &str = include_str!("fixtures.json");

fn fixtures() -> Value {
    serde_json::from_str(FIXTURES).expect("fixtures parse")
}

fn numbers(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

fn counts(v: &Value) -> Vec<u64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_u64().expect("count"))
        .collect()
}

fn close(name: &str, what: &str, ours: f64, theirs: &Value) {
    let theirs = theirs.as_f64().expect("number");
    let tolerance = 1e-9 * theirs.abs().max(1.0);
    assert!(
        (ours - theirs).abs() <= tolerance,
        "{name}: {what} is {ours}, scipy says {theirs}"
    );
}

fn check_counts(case: &Value, r: &[u64], c: &[u64]) {
    let name = case["name"].as_str().expect("name");
    close(name, "psi", psi::psi(r, c), &case["psi"]);
    close(
        name,
        "jensen_shannon",
        jensen_shannon::distance(r, c),
        &case["jensen_shannon"],
    );
    let (chi, dof) = chi_squared::statistic(r, c);
    close(name, "chi_squared", chi, &case["chi_squared"]);
    close(
        name,
        "chi_squared_p",
        chi_squared::p_value(chi, dof),
        &case["chi_squared_p"],
    );
}

#[test]
fn numeric_statistics_match_scipy() {
    for case in fixtures()["numeric"].as_array().expect("cases") {
        let name = case["name"].as_str().expect("name");
        let mut r = numbers(&case["reference"]);
        let mut c = numbers(&case["current"]);
        r.sort_unstable_by(f64::total_cmp);
        c.sort_unstable_by(f64::total_cmp);
        let d = ks::statistic(&r, &c);
        close(name, "ks", d, &case["ks"]);
        close(
            name,
            "ks_p",
            ks::p_value(d, r.len(), c.len()),
            &case["ks_p"],
        );
        let (_, std) = crate::profile::mean_std(&r);
        close(
            name,
            "wasserstein_normed",
            wasserstein::distance(&r, &c) / std,
            &case["wasserstein_normed"],
        );
        let edges = reference::quantile_edges(&r, REFERENCE_BINS);
        let (rb, cb) = (
            reference::sorted_counts(&r, &edges),
            reference::sorted_counts(&c, &edges),
        );
        assert_eq!(
            rb,
            counts(&case["reference_bins"]),
            "{name}: reference bins"
        );
        assert_eq!(cb, counts(&case["current_bins"]), "{name}: current bins");
        check_counts(case, &rb, &cb);
        assert!(
            ks::binned(&rb, &cb) <= d + 1e-12,
            "{name}: binned KS bounds the exact one from below"
        );
    }
}

#[test]
fn count_statistics_match_scipy() {
    for case in fixtures()["counts"].as_array().expect("cases") {
        check_counts(
            case,
            &counts(&case["reference_bins"]),
            &counts(&case["current_bins"]),
        );
    }
}

#[test]
fn the_kolmogorov_distribution_matches_scipy() {
    for point in fixtures()["kolmogorov_sf"].as_array().expect("points") {
        let x = point[0].as_f64().expect("x");
        close(
            "kstwobign",
            &format!("sf({x})"),
            ks::kolmogorov_sf(x),
            &point[1],
        );
    }
}
