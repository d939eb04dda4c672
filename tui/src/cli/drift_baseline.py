"""The Python baselines of `drover bench drift`: pandas reading the two CSV files, a plain
scipy/numpy loop of KS and PSI over their columns, and Evidently's default data drift
report (when it is installed), each timed `runs` times. Prints JSON seconds (medians)."""
import json, statistics, sys, time

import numpy as np
import pandas as pd
from scipy import stats

ref_path, cur_path, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])

def timed(f):
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        f()
        out.append(time.perf_counter() - t)
    return statistics.median(out), out

def read():
    return pd.read_csv(ref_path), pd.read_csv(cur_path)

ref, cur = read()

def scipy_loop():
    for c in ref.columns:
        a, b = ref[c].to_numpy(), cur[c].to_numpy()
        stats.ks_2samp(a, b)
        edges = np.unique(np.quantile(a, np.arange(1, 20) / 20))
        p = np.bincount(np.searchsorted(edges, a, side="right"), minlength=len(edges) + 1) / len(a)
        q = np.bincount(np.searchsorted(edges, b, side="right"), minlength=len(edges) + 1) / len(b)
        p, q = np.maximum(p, 1e-4), np.maximum(q, 1e-4)
        np.sum((q - p) * np.log(q / p))

def evidently_report():
    try:
        from evidently import Report
        from evidently.presets import DataDriftPreset
        Report([DataDriftPreset()]).run(cur, ref)
    except ImportError:
        from evidently.report import Report
        from evidently.metric_preset import DataDriftPreset
        Report(metrics=[DataDriftPreset()]).run(reference_data=ref, current_data=cur)

result = {"read": timed(read)[0], "scipy_loop": timed(scipy_loop)[0]}
try:
    import evidently
    result["evidently_version"] = evidently.__version__
    result["evidently"] = timed(evidently_report)[0]
    result["pandas_and_evidently"] = timed(lambda: (read(), evidently_report()))[0]
except ImportError:
    pass
print(json.dumps(result))
