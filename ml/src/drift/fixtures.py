"""Writes fixtures.json: data and the drift statistics scipy/numpy compute on it, the
independent reference of drover's drift unit tests. Run with scipy and numpy installed:
python3 ml/src/drift/fixtures.py"""
import json, os
import numpy as np
from scipy import stats
from scipy.spatial.distance import jensenshannon

rng = np.random.default_rng(7)
BINS = 20

def edges(ref):
    e = np.quantile(np.sort(ref), [i / BINS for i in range(1, BINS)])
    return np.unique(e)

def counts(values, e):
    return np.bincount(np.searchsorted(e, values, side="right"), minlength=len(e) + 1)

def psi(r, c):
    p = np.maximum(r / r.sum(), 1e-4)
    q = np.maximum(c / c.sum(), 1e-4)
    return float(np.sum((q - p) * np.log(q / p)))

def numeric_case(name, ref, cur):
    e = edges(ref)
    rb, cb = counts(ref, e), counts(cur, e)
    d = stats.ks_2samp(ref, cur).statistic
    en = len(ref) * len(cur) / (len(ref) + len(cur))
    keep = rb > 0
    exp = rb[keep] / rb[keep].sum() * cb[keep].sum()
    chi = stats.chisquare(cb[keep], exp)
    return {
        "name": name, "reference": ref.tolist(), "current": cur.tolist(),
        "ks": float(d), "ks_p": float(stats.kstwobign.sf(np.sqrt(en) * d)),
        "wasserstein_normed": float(stats.wasserstein_distance(ref, cur) / np.std(ref)),
        "reference_bins": rb.tolist(), "current_bins": cb.tolist(),
        "psi": psi(rb, cb), "jensen_shannon": float(jensenshannon(rb, cb)),
        "chi_squared": float(chi.statistic), "chi_squared_p": float(chi.pvalue),
    }

def counts_case(name, rb, cb):
    rb, cb = np.array(rb), np.array(cb)
    chi = stats.chisquare(cb, rb / rb.sum() * cb.sum())
    return {
        "name": name, "reference_bins": rb.tolist(), "current_bins": cb.tolist(),
        "psi": psi(rb, cb), "jensen_shannon": float(jensenshannon(rb, cb)),
        "chi_squared": float(chi.statistic), "chi_squared_p": float(chi.pvalue),
    }

cases = {
    "numeric": [
        numeric_case("shifted normal", rng.normal(0, 1, 300).round(6), rng.normal(0.3, 1.2, 250).round(6)),
        numeric_case("same normal", rng.normal(5, 2, 400).round(6), rng.normal(5, 2, 350).round(6)),
        numeric_case("ties", rng.integers(0, 6, 200).astype(float), rng.integers(1, 7, 180).astype(float)),
    ],
    "counts": [
        counts_case("three categories", [500, 300, 200], [400, 300, 300]),
        counts_case("close", [250, 250, 250, 250], [240, 260, 255, 245]),
    ],
    "kolmogorov_sf": [[x, float(stats.kstwobign.sf(x))] for x in [0.3, 0.6, 0.9, 1.0, 1.2, 1.5, 2.0]],
}
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures.json")
with open(out, "w") as f:
    json.dump(cases, f, indent=1)
