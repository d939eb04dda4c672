"""Drives a drover coordinator with the official MLflow client and checks every value read
back. Usage: MLFLOW_TRACKING_URI=http://127.0.0.1:PORT python tracking_e2e.py
Prints "created RUN_ID" for each run it created, for the Rust test to look up."""
import math
import struct

import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from checks import expect_error


def bits(x):
    return struct.pack("<d", x)


client = MlflowClient()

# Experiments: get-by-name answers 404 for an unknown name, set_experiment creates it.
assert client.get_experiment_by_name("nope") is None
experiment = mlflow.set_experiment("mlflow-churn")
assert experiment.name == "mlflow-churn"
assert experiment.artifact_location == f"mlflow-artifacts:/{experiment.experiment_id}"
assert client.get_experiment("0").name == "Default"
expect_error("RESOURCE_ALREADY_EXISTS", client.create_experiment, "mlflow-churn")
names = [e.name for e in client.search_experiments(filter_string="name LIKE 'mlflow-%'")]
assert names == ["mlflow-churn"], names

# Two runs with params, tags, hundreds of metric points with steps, and non-finite values.
exact = [0.1 + 0.2, 1e-300, -2.5e17, 5e-324, 1 / 3]
ids = []
for i, lr in enumerate(["0.1", "0.01"]):
    with mlflow.start_run(run_name=f"lr-{lr}") as run:
        ids.append(run.info.run_id)
        mlflow.log_param("learning_rate", lr)
        mlflow.log_params({"layers": 3, "optimizer": "adam"})
        mlflow.set_tag("team", "growth")
        mlflow.set_tags({"stage": "dev", "index": str(i)})
        for step in range(300):
            mlflow.log_metric("loss", 1.0 / (step + 1) + i, step=step)
        client.log_batch(
            run.info.run_id,
            metrics=[Metric("acc", 0.8 + i / 10, 1_700_000_000_000 + s, s) for s in range(250)],
        )
        for step, value in enumerate(exact):
            mlflow.log_metric("exact", value, step=step)
        mlflow.log_metric("nan", math.nan)
        mlflow.log_metric("pinf", math.inf)
        mlflow.log_metric("ninf", -math.inf)
        mlflow.log_param("learning_rate", lr)  # the same value again is fine

first, second = ids
run = client.get_run(first)
assert run.info.status == "FINISHED" and run.info.end_time is not None
assert run.info.run_name == "lr-0.1"
assert run.data.params == {"learning_rate": "0.1", "layers": "3", "optimizer": "adam"}
assert run.data.tags["team"] == "growth" and run.data.tags["stage"] == "dev"
assert run.data.metrics["loss"] == 1.0 / 300
assert math.isnan(run.data.metrics["nan"])
assert run.data.metrics["pinf"] == math.inf and run.data.metrics["ninf"] == -math.inf

history = client.get_metric_history(first, "loss")
assert [m.step for m in history] == list(range(300))
assert all(bits(m.value) == bits(1.0 / (m.step + 1)) for m in history)
acc = client.get_metric_history(second, "acc")
assert len(acc) == 250 and all(bits(m.value) == bits(0.8 + 1 / 10) for m in acc)
assert [m.timestamp for m in acc] == [1_700_000_000_000 + s for s in range(250)]
assert [bits(m.value) for m in client.get_metric_history(first, "exact")] == [bits(v) for v in exact]
assert client.get_metric_history(first, "absent") == []

# Errors: a changed param, an unknown run, a bad filter.
message = expect_error("INVALID_PARAMETER_VALUE", client.log_param, first, "learning_rate", "0.5")
assert "learning_rate" in message, message
expect_error("RESOURCE_DOES_NOT_EXIST", client.get_run, "0" * 32)
expect_error("INVALID_PARAMETER_VALUE", client.search_runs, [experiment.experiment_id], "metrics.loss > '1'")

# Search with filters and ordering, and paging.
found = client.search_runs(
    [experiment.experiment_id],
    filter_string="metrics.loss < 1.5 AND params.optimizer = 'adam' AND tags.team = 'growth'",
    order_by=["metrics.loss DESC"],
)
assert [r.info.run_id for r in found] == [second, first], found
found = client.search_runs([experiment.experiment_id], "params.learning_rate = '0.01'")
assert [r.info.run_id for r in found] == [second]
found = client.search_runs([experiment.experiment_id], "attributes.run_name = 'lr-0.1'")
assert [r.info.run_id for r in found] == [first]
page = client.search_runs([experiment.experiment_id], max_results=1, order_by=["params.learning_rate ASC"])
assert [r.info.run_id for r in page] == [second] and page.token
rest = client.search_runs([experiment.experiment_id], max_results=1, page_token=page.token,
                          order_by=["params.learning_rate ASC"])
assert [r.info.run_id for r in rest] == [first] and not rest.token

# Delete and restore.
client.delete_run(second)
assert [r.info.run_id for r in client.search_runs([experiment.experiment_id])] == [first]
client.restore_run(second)
assert len(client.search_runs([experiment.experiment_id])) == 2

# Artifacts go through the coordinator (mlflow-artifacts:/ URIs) into its artifact store.
import os
import tempfile

assert client.get_run(first).info.artifact_uri.startswith("mlflow-artifacts:/")
client.log_text(first, "hello drover\n", "notes/hello.txt")
client.log_dict(first, {"layers": 3}, "config.json")
with tempfile.TemporaryDirectory() as scratch:
    blob = os.path.join(scratch, "weights.bin")
    payload = bytes(range(256)) * 4096
    with open(blob, "wb") as f:
        f.write(payload)
    client.log_artifact(first, blob, "model")
    top = sorted((f.path, f.is_dir) for f in client.list_artifacts(first))
    assert top == [("config.json", False), ("model", True), ("notes", True)], top
    assert client.list_artifacts(first)[0].file_size > 0
    inner = [(f.path, f.file_size) for f in client.list_artifacts(first, "model")]
    assert inner == [("model/weights.bin", len(payload))], inner
    got = client.download_artifacts(first, "model/weights.bin", scratch)
    with open(got, "rb") as f:
        assert f.read() == payload
    text = mlflow.artifacts.load_text(f"runs:/{first}/notes/hello.txt")
    assert text == "hello drover\n", text

# The registry: a version registered from the run's model directory, with an alias.
import warnings

warnings.simplefilter("ignore")
model = client.create_registered_model("mlflow-churn-model", description="from mlflow")
assert model.name == "mlflow-churn-model"
expect_error("RESOURCE_ALREADY_EXISTS", client.create_registered_model, "mlflow-churn-model")
source = f"{client.get_run(first).info.artifact_uri}/model"
version = client.create_model_version("mlflow-churn-model", source, run_id=first)
assert (version.version, version.status, version.source) == ("1", "READY", source), version
assert version.run_id == first
client.set_registered_model_alias("mlflow-churn-model", "champion", "1")
by_alias = client.get_model_version_by_alias("mlflow-churn-model", "champion")
assert by_alias.version == "1" and "champion" in by_alias.aliases
assert client.get_registered_model("mlflow-churn-model").aliases == {"champion": "1"}
promoted = client.transition_model_version_stage("mlflow-churn-model", "1", "Production")
assert promoted.current_stage == "Production"
latest = client.get_latest_versions("mlflow-churn-model", stages=["Production"])
assert [v.version for v in latest] == ["1"]
second_version = client.create_model_version("mlflow-churn-model", source, run_id=second)
assert second_version.version == "2"
found = client.search_model_versions("name='mlflow-churn-model'")
assert sorted(v.version for v in found) == ["1", "2"]
assert client.get_model_version("mlflow-churn-model", "2").current_stage == "None"
client.delete_registered_model_alias("mlflow-churn-model", "champion")
expect_error("RESOURCE_DOES_NOT_EXIST", client.get_model_version_by_alias, "mlflow-churn-model", "champion")
expect_error("RESOURCE_DOES_NOT_EXIST", client.get_registered_model, "no-such-model")

# A failed run keeps its status.
with mlflow.start_run(run_name="broken") as broken:
    ids.append(broken.info.run_id)
client.set_terminated(broken.info.run_id, status="FAILED")
assert client.get_run(broken.info.run_id).info.status == "FAILED"

for run_id in ids:
    print(f"created {run_id}")
