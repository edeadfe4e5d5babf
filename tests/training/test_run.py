"""What a training run leaves in MLflow (the session's `system` run)."""

from __future__ import annotations

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from cli import app
from scoring.request import pack_history
from training import dataset, track
from training.evaluate import CostModel


@pytest.fixture(scope="module")
def run(system):
    version = MlflowClient().get_model_version(track.MODEL_NAME, system.champion)
    return MlflowClient().get_run(version.run_id)


def test_run_logs_params_metrics_and_dataset(run):
    params, metrics = run.data.params, run.data.metrics
    assert {"seed", "fn_cost", "fp_cost", "class_weight", "trials", "train_rows"} <= set(params)
    for name in ("roc_auc", "pr_auc", "accuracy", "recall", "precision", "business_cost",
                 "brier", "threshold"):
        assert f"test_{name}" in metrics
    assert 0.6 < metrics["test_roc_auc"] < 0.95
    assert metrics["log_model_seconds"] < 10
    (dataset_input,) = run.inputs.dataset_inputs
    assert dataset_input.dataset.name == "clients" and dataset_input.dataset.digest


def test_run_logs_the_artifacts(run):
    names = {a.path for a in MlflowClient().list_artifacts(run.info.run_id)}
    assert {"importance.csv", "features.csv", "test_ids.csv", "plots"} <= names
    plots = {a.path for a in MlflowClient().list_artifacts(run.info.run_id, "plots")}
    assert plots == {f"plots/{p}.png" for p in ("roc_curve", "pr_curve", "cost_curve",
                                                "confusion_matrix", "shap_summary")}


def test_candidates_are_compared_as_nested_runs(run):
    children = mlflow.search_runs(
        experiment_ids=[run.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{run.info.run_id}'")
    assert set(children["tags.mlflow.runName"]) == {"dummy", "logistic_regression",
                                                    "lightgbm"}
    auc = dict(zip(children["tags.mlflow.runName"], children["metrics.test_roc_auc"],
                   strict=True))
    assert auc["dummy"] == pytest.approx(0.5)
    assert auc["lightgbm"] > auc["dummy"]


def test_threshold_minimises_the_cost_on_validation_not_test(system, run):
    """Rebuild the split from the seed and check the logged threshold against both parts."""
    model = mlflow.pyfunc.load_model(f"models:/{track.MODEL_NAME}/{system.champion}")
    parts = dataset.split(dataset.load_labelled(system.store), seed=int(run.data.params["seed"]))
    cost = CostModel(float(run.data.params["fn_cost"]), float(run.data.params["fp_cost"]))

    def proba(rows):
        return model.predict(pack_history(rows),
                             params={"explain": "none"})["probability"].to_numpy()

    threshold = run.data.metrics["test_threshold"]
    valid_best = cost.best_threshold(parts.valid["TARGET"].to_numpy(), proba(parts.valid))
    assert threshold == pytest.approx(valid_best, rel=1e-6)
    test_y, test_p = parts.test["TARGET"].to_numpy(), proba(parts.test)
    assert cost.per_application(test_y, test_p, threshold) == pytest.approx(
        run.data.metrics["test_business_cost"])
    assert np.array_equal(np.sort(parts.test["SK_ID_CURR"].to_numpy()),
                          np.sort(mlflow.artifacts.load_text(
                              f"runs:/{run.info.run_id}/test_ids.csv").split()[1:]).astype(int))


def test_train_help_documents_every_flag():
    out = CliRunner().invoke(app, ["train", "--help"], terminal_width=200).output
    for flag in ("--store", "--trials", "--timeout", "--seed", "--fn-cost", "--fp-cost",
                 "--class-weight", "--calibrate", "--threads", "--register", "--param"):
        assert flag in out


def test_train_reports_a_missing_store_clearly(tmp_path):
    result = CliRunner().invoke(app, ["train", "--store", str(tmp_path / "nowhere")])
    assert result.exit_code == 1
    assert "nowhere" in result.output


def test_mlproject_train_entry_point_logs_into_the_project_run(system, tmp_path):
    """`mlflow run . -e train` runs the same command and logs into the run it opened."""
    import os
    import subprocess

    from testkit import ROOT, VENV_BIN, server_env

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {k: v for k, v in server_env(uri).items()
           if k not in ("MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID")}
    env["OMP_WAIT_POLICY"] = "PASSIVE"
    result = subprocess.run(
        [str(VENV_BIN / "mlflow"), "run", str(ROOT), "-e", "train", "--env-manager", "local",
         "--experiment-name", "credit-scoring", "-P", f"store={system.store}", "-P", "trials=0"],
        env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "registered credit-scoring version 1" in result.stdout
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    version = client.get_model_version(track.MODEL_NAME, "1")
    assert client.get_run(version.run_id).data.params["trials"] == "0"
    assert os.environ["MLFLOW_TRACKING_URI"] == system.tracking_uri
