"""log-batch ingest, runs/search, logged-models/search and registered-models/search speed of
an MLflow tracking server, for `drover bench mlflow`. Usage: mlflow_load.py URI POINTS RUNS
(RUNS is also the number of logged and of registered models); prints JSON. Request bodies are encoded
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


def timed(call, count):
    """Mean seconds of `call` over 10 rounds, and how many entries it found."""
    found = count(call())
    rounds = 10
    started = time.perf_counter()
    for _ in range(rounds):
        call()
    return {"seconds": (time.perf_counter() - started) / rounds, "runs": found}


timings = {}
for name, body in searches.items():
    timings[name] = timed(lambda: post("runs/search", body), lambda r: len(r.get("runs", [])))

# Logged models (MLflow 3): `runs` READY models with a param and a tag each, searched with a
# filter and an order.
models_experiment = experiment("models")
owner = run(models_experiment)
for i in range(runs):
    created = post("logged-models", json.dumps({
        "experiment_id": models_experiment, "name": f"model-{i}", "source_run_id": owner,
        "params": [{"key": "lr", "value": str(i % 7)}],
        "tags": [{"key": "team", "value": "a" if i % 2 else "b"}],
    }))
    model_id = created["model"]["info"]["model_id"]
    reply = session.patch(f"{api}/logged-models/{model_id}", headers=headers,
                          data=json.dumps({"model_id": model_id, "status": "LOGGED_MODEL_READY"}))
    reply.raise_for_status()
logged_search = json.dumps({
    "experiment_ids": [models_experiment], "max_results": 100,
    "filter": "params.lr = '3' AND tags.team = 'a'",
    "order_by": [{"field_name": "creation_time", "ascending": False}],
})
timings["logged"] = timed(lambda: post("logged-models/search", logged_search),
                          lambda r: len(r.get("models", [])))

# Registered models: `runs` of them with a tag each, searched by name pattern.
prefix = f"bench-{time.time_ns()}"
for i in range(runs):
    post("registered-models/create", json.dumps({
        "name": f"{prefix}-{i:05d}", "tags": [{"key": "team", "value": "a" if i % 2 else "b"}],
    }))


def search_registered():
    reply = session.get(f"{api}/registered-models/search", params={
        "filter": f"name LIKE '{prefix}-001%'", "max_results": 100, "order_by": "name DESC",
    })
    reply.raise_for_status()
    return reply.json()


timings["registered"] = timed(search_registered, lambda r: len(r.get("registered_models", [])))

print(json.dumps({
    "points": points,
    "points_per_second": points / ingest_seconds,
    "search_filtered_seconds": timings["filtered"]["seconds"],
    "search_filtered_runs": timings["filtered"]["runs"],
    "search_all_seconds": timings["all"]["seconds"],
    "search_all_runs": timings["all"]["runs"],
    "logged_search_seconds": timings["logged"]["seconds"],
    "logged_search_models": timings["logged"]["runs"],
    "registered_search_seconds": timings["registered"]["seconds"],
    "registered_search_models": timings["registered"]["runs"],
    "entries": runs,
}))
