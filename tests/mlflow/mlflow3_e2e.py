"""Drives a drover coordinator with an MLflow 3 script as users write them: a scikit-learn
model trained on a drover dataset, logged and registered in one call, loaded back by registry
URI, autolog, registry search and edits, logged-model search, experiment rename and tags.
Usage: MLFLOW_TRACKING_URI=http://127.0.0.1:PORT DROVER_DATASET_CSV=churn.csv
DROVER_DATASET_HASH=<blake3> python mlflow3_e2e.py
Prints "run ID", "model ID" and "auto ID" for the Rust test to look up."""
import os
import warnings

warnings.simplefilter("ignore")

import numpy as np
import pandas as pd

import mlflow
import mlflow.pyfunc
import mlflow.sklearn
from mlflow import MlflowClient
from checks import expect_error
from sklearn.linear_model import LogisticRegression


client = MlflowClient()
frame = pd.read_csv(os.environ["DROVER_DATASET_CSV"])
target = frame.pop("churned")
features = frame.select_dtypes("number").fillna(0.0)
experiment = mlflow.set_experiment("mlflow3")

# Trained on drover's dataset, named by (a prefix of) its content hash; logged and registered
# in one call.
with mlflow.start_run(run_name="sklearn") as run:
    dataset = mlflow.data.from_pandas(
        features.assign(churned=target), targets="churned", name="churn",
        digest=os.environ["DROVER_DATASET_HASH"][:16],
    )
    mlflow.log_input(dataset, context="training")
    model = LogisticRegression(max_iter=500).fit(features, target)
    mlflow.log_param("max_iter", 500)
    mlflow.log_metric("accuracy", model.score(features, target))
    info = mlflow.sklearn.log_model(
        model, name="model", registered_model_name="demo-model", input_example=features[:2]
    )
assert info.model_id.startswith("m-") and info.model_uri == f"models:/{info.model_id}", info
assert str(info.registered_model_version) == "1", info.registered_model_version
expected = model.predict(features)

# Loaded back by every kind of registry URI, predicting what the original predicts.
client.set_registered_model_alias("demo-model", "champion", "1")
client.transition_model_version_stage("demo-model", "1", "Production")
for uri in ["models:/demo-model/1", "models:/demo-model@champion", "models:/demo-model/Production"]:
    assert (mlflow.pyfunc.load_model(uri).predict(features) == expected).all(), uri
assert (mlflow.sklearn.load_model(info.model_uri).predict(features) == expected).all()

# The logged model: its run, params, status, files; found by search.
logged = client.get_logged_model(info.model_id)
assert (logged.source_run_id, logged.status.to_proto()) == (run.info.run_id, 2), logged
assert logged.params == {"max_iter": "500"}, logged.params
names = sorted(a.path for a in client.list_logged_model_artifacts(info.model_id))
assert "MLmodel" in names and "model.skops" in names, names
found = mlflow.search_logged_models(
    experiment_ids=[experiment.experiment_id], filter_string="name = 'model' AND params.max_iter = '500'",
    output_format="list",
)
assert [m.model_id for m in found] == [info.model_id], found
inputs = client.get_run(run.info.run_id).inputs.dataset_inputs
assert [(i.dataset.name, i.dataset.digest) for i in inputs] == [("churn", os.environ["DROVER_DATASET_HASH"][:16])]
assert client.get_run(run.info.run_id).outputs.model_outputs[0].model_id == info.model_id

# Autolog on a fit: params, training metrics and a model, with metrics linked to it.
mlflow.sklearn.autolog()
with mlflow.start_run(run_name="auto") as auto:
    LogisticRegression(C=0.5, max_iter=500).fit(features, target)
mlflow.sklearn.autolog(disable=True)
auto_run = client.get_run(auto.info.run_id)
assert auto_run.info.status == "FINISHED"
assert auto_run.data.params["C"] == "0.5", auto_run.data.params
assert 0.5 < auto_run.data.metrics["training_accuracy_score"] <= 1.0, auto_run.data.metrics
auto_models = mlflow.search_logged_models(
    experiment_ids=[experiment.experiment_id], filter_string=f"source_run_id = '{auto.info.run_id}'",
    output_format="list",
)
assert len(auto_models) == 1 and auto_models[0].status.to_proto() == 2, auto_models
assert "training_accuracy_score" in {m.key for m in auto_models[0].metrics}, auto_models[0].metrics
best = mlflow.search_logged_models(
    experiment_ids=[experiment.experiment_id], filter_string="metrics.training_accuracy_score > 0.5",
    order_by=[{"field_name": "creation_time", "ascending": False}], output_format="list",
)
assert [m.model_id for m in best] == [auto_models[0].model_id], best

# Registry search, descriptions, tags, rename and delete.
mlflow.register_model(info.model_uri, "demo-model")
for i in range(3):
    client.create_registered_model(f"other-{i}")
found = client.search_registered_models(filter_string="name LIKE 'demo-%'")
assert [m.name for m in found] == ["demo-model"] and found[0].aliases == {"champion": "1"}, found
first = client.search_registered_models(filter_string="name LIKE 'other-%'", order_by=["name DESC"], max_results=2)
assert [m.name for m in first] == ["other-2", "other-1"] and first.token, first
rest = client.search_registered_models(
    filter_string="name LIKE 'other-%'", order_by=["name DESC"], max_results=2, page_token=first.token
)
assert [m.name for m in rest] == ["other-0"] and not rest.token, rest
client.update_model_version("demo-model", "1", description="first sklearn model")
client.set_model_version_tag("demo-model", "1", "validated", "yes")
client.set_model_version_tag("demo-model", "1", "scratch", "x")
client.delete_model_version_tag("demo-model", "1", "scratch")
version = client.get_model_version("demo-model", "1")
assert (version.description, version.tags) == ("first sklearn model", {"validated": "yes"}), version
found = client.search_model_versions("name = 'demo-model' AND tags.validated = 'yes'")
assert [v.version for v in found] == ["1"], found
client.update_registered_model("demo-model", description="churn, from sklearn")
client.set_registered_model_tag("demo-model", "team", "growth")
assert client.get_registered_model("demo-model").tags == {"team": "growth"}
assert [m.name for m in client.search_registered_models(filter_string="tags.team = 'growth'")] == ["demo-model"]
client.delete_model_version("demo-model", "2")
expect_error("RESOURCE_DOES_NOT_EXIST", client.get_model_version, "demo-model", "2")
assert mlflow.register_model(info.model_uri, "demo-model").version == "3"
client.rename_registered_model("other-0", "renamed")
assert client.get_registered_model("renamed").name == "renamed"
expect_error("RESOURCE_DOES_NOT_EXIST", client.get_registered_model, "other-0")
client.delete_registered_model("other-1")
expect_error("RESOURCE_DOES_NOT_EXIST", client.get_registered_model, "other-1")

# Experiments: rename (its runs follow), tags, delete and restore; a run's tag removed.
client.rename_experiment(experiment.experiment_id, "mlflow3-renamed")
client.set_experiment_tag(experiment.experiment_id, "owner", "ml-platform")
renamed = client.get_experiment(experiment.experiment_id)
assert (renamed.name, renamed.tags.get("owner")) == ("mlflow3-renamed", "ml-platform"), renamed
assert len(client.search_runs([experiment.experiment_id])) == 2
client.delete_experiment(experiment.experiment_id)
assert client.get_experiment(experiment.experiment_id).lifecycle_stage == "deleted"
client.restore_experiment(experiment.experiment_id)
assert client.get_experiment(experiment.experiment_id).lifecycle_stage == "active"
client.set_tag(run.info.run_id, "scratch", "x")
client.delete_tag(run.info.run_id, "scratch")
assert "scratch" not in client.get_run(run.info.run_id).data.tags
expect_error("RESOURCE_DOES_NOT_EXIST", client.delete_tag, run.info.run_id, "scratch")

print(f"run {run.info.run_id}")
print(f"model {info.model_id}")
print(f"auto {auto.info.run_id}")
