"""log-batch ingest and runs/search speed of an MLflow tracking server, for `drover bench
mlflow`. Usage: mlflow_load.py URI POINTS RUNS; prints JSON. Request bodies are encoded
before the clock starts, so the same client costs the same against any server."""
import json
import sys
import time

import requests

uri, points, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
api = uri.rstrip("/") + "/api/2.0/mlflow"
session = requests.Session()
headers = {"Content-Type": "application/json"}


def post(path, body):
    reply = session.post(f"{api}/{path}", data=body, headers=headers)
    reply.raise_for_status()
    return reply.json()


def experiment(name):
    return post("experiments/create", json.dumps({"name": f"{name}-{time.time_ns()}"}))["experiment_id"]


def run(experiment_id):
    body = json.dumps({"experiment_id": experiment_id, "start_time": 1_700_000_000_000})
    return post("runs/create", body)["run"]["info"]["run_id"]


# Ingest: batches of 1,000 points (the client's own chunk size) into one run.
ingest_run = run(experiment("ingest"))
batch = 1000
bodies = [
    json.dumps({"run_id": ingest_run, "metrics": [
        {"key": f"m{i % 10}", "value": i * 0.37, "timestamp": 1_700_000_000_000 + i, "step": i}
        for i in range(start, min(start + batch, points))
    ]})
    for start in range(0, points, batch)
]
started = time.perf_counter()
for body in bodies:
    post("runs/log-batch", body)
ingest_seconds = time.perf_counter() - started

# Search: `runs` runs with a param, a tag and two metrics each, searched with a filter and
# an order, and listed whole.
search_experiment = experiment("search")
for i in range(runs):
    post("runs/log-batch", json.dumps({
        "run_id": run(search_experiment),
        "params": [{"key": "lr", "value": str(i % 7)}],
        "tags": [{"key": "team", "value": "a" if i % 2 else "b"}],
        "metrics": [
            {"key": "acc", "value": i / runs, "timestamp": 1, "step": 0},
            {"key": "loss", "value": 1 - i / runs, "timestamp": 1, "step": 0},
        ],
    }))
searches = {
    "filtered": json.dumps({"experiment_ids": [search_experiment], "max_results": 1000,
                            "filter": "metrics.acc > 0.5 AND params.lr = '3'",
                            "order_by": ["metrics.acc DESC"]}),
    "all": json.dumps({"experiment_ids": [search_experiment], "max_results": 1000}),
}
timings = {}
for name, body in searches.items():
    found = len(post("runs/search", body).get("runs", []))
    rounds = 10
    started = time.perf_counter()
    for _ in range(rounds):
        post("runs/search", body)
    timings[name] = {"seconds": (time.perf_counter() - started) / rounds, "runs": found}

print(json.dumps({
    "points": points,
    "points_per_second": points / ingest_seconds,
    "search_filtered_seconds": timings["filtered"]["seconds"],
    "search_filtered_runs": timings["filtered"]["runs"],
    "search_all_seconds": timings["all"]["seconds"],
    "search_all_runs": timings["all"]["runs"],
}))
