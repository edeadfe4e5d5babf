"""What a training run leaves in MLflow (the session's `system` run)."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from cli import app
from scoring.request import pack_history
from training import dataset, track
from training.evaluate import CostModel
from training.run import TrainConfig, train


@pytest.fixture(scope="module")
def run(system):
    version = MlflowClient().get_model_version(track.MODEL_NAME, system.champion)
    return MlflowClient().get_run(version.run_id)


def test_run_logs_params_metrics_and_dataset(run):
    params, metrics = run.data.params, run.data.metrics
    assert {"seed", "folds", "test_share", "monotone", "fn_cost", "fp_cost", "class_weight",
            "trials", "cv_rows", "test_rows", "calibration", "fold_thresholds"} <= set(params)
    assert params["calibration"] in ("none", "platt", "isotonic")
    for name in ("roc_auc", "pr_auc", "accuracy", "recall", "precision", "business_cost",
                 "brier", "refusal_rate"):
        assert f"oof_{name}" in metrics
    for name in ("roc_auc", "pr_auc", "business_cost", "brier", "refusal_rate"):
        assert metrics[f"oof_{name}_low"] <= metrics[f"oof_{name}"] <= metrics[
            f"oof_{name}_high"], name
    assert 0.6 < metrics["oof_roc_auc"] < 0.95
    assert metrics["threshold_fold_min"] <= metrics["threshold_fold_max"]
    assert metrics["threshold_analytic"] == pytest.approx(1 / 11)
    assert metrics["calibration_brier_" + params["calibration"]] == min(
        v for k, v in metrics.items() if k.startswith("calibration_brier_"))
    assert metrics["log_model_seconds"] > 0  # logged; its speed is measured in benchmarks
    (dataset_input,) = run.inputs.dataset_inputs
    assert dataset_input.dataset.name == track.DATASET_NAME and dataset_input.dataset.digest


def test_run_logs_the_artifacts(run):
    names = {a.path for a in MlflowClient().list_artifacts(run.info.run_id)}
    assert {"importance.csv", "features.csv", "oof_predictions.csv", "plots"} <= names
    assert "test_ids.csv" not in names  # no test part below 100,000 clients by default
    plots = {a.path for a in MlflowClient().list_artifacts(run.info.run_id, "plots")}
    assert plots == {f"plots/{p}.png" for p in ("roc_curve", "pr_curve", "cost_curve",
                                                "confusion_matrix", "calibration_curve",
                                                "shap_summary", "reliability_diagram")}


def test_candidates_are_compared_as_nested_runs(run):
    children = mlflow.search_runs(
        experiment_ids=[run.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{run.info.run_id}'")
    assert set(children["tags.mlflow.runName"]) == {"dummy", "logistic_regression",
                                                    "lightgbm"}
    auc = dict(zip(children["tags.mlflow.runName"], children["metrics.oof_roc_auc"],
                   strict=True))
    assert auc["dummy"] < 0.55
    assert auc["lightgbm"] > auc["dummy"]


@pytest.fixture(scope="module")
def oof(run) -> pd.DataFrame:
    return pd.read_csv(mlflow.artifacts.download_artifacts(
        f"runs:/{run.info.run_id}/oof_predictions.csv"))


def test_every_labelled_client_has_one_out_of_fold_prediction(system, run, oof):
    labelled = dataset.load_labelled(system.store)
    assert sorted(oof["SK_ID_CURR"]) == sorted(labelled["SK_ID_CURR"])
    assert list(oof.columns) == ["SK_ID_CURR", "fold", "TARGET", "dummy",
                                 "logistic_regression", "lightgbm"]
    folds = int(run.data.params["folds"])
    expected = dataset.folds(labelled["TARGET"].to_numpy(dtype=int), folds,
                             int(run.data.params["seed"]))
    np.testing.assert_array_equal(oof["fold"], expected)


def test_threshold_and_metrics_come_from_the_oof_predictions(run, oof):
    cost = CostModel(float(run.data.params["fn_cost"]), float(run.data.params["fp_cost"]))
    y, proba = oof["TARGET"].to_numpy(), oof["lightgbm"].to_numpy()
    threshold = run.data.metrics["threshold"]
    assert threshold == pytest.approx(cost.best_threshold(y, proba), rel=1e-6)
    m = run.data.metrics
    assert m["oof_business_cost"] == pytest.approx(cost.per_application(y, proba, threshold))
    assert m["oof_business_cost_at_analytic"] == pytest.approx(
        cost.per_application(y, proba, 1 / 11))
    assert m["oof_roc_auc"] == pytest.approx(roc_auc_score(y, proba))
    logged_folds = [float(t) for t in run.data.params["fold_thresholds"].split()]
    assert min(logged_folds) == pytest.approx(m["threshold_fold_min"], abs=1e-4)


def test_served_model_is_refit_on_every_client_for_the_scaled_rounds(system, run):
    import lightgbm as lgb

    model_dir = mlflow.artifacts.download_artifacts(
        f"models:/{track.MODEL_NAME}/{system.champion}")
    booster = lgb.Booster(model_file=str(next(Path(model_dir).rglob("booster.txt"))))
    m, folds = run.data.metrics, int(run.data.params["folds"])
    assert booster.num_trees() == m["refit_rounds"] == round(m["cv_rounds"] * folds
                                                              / (folds - 1))
    model = mlflow.pyfunc.load_model(f"models:/{track.MODEL_NAME}/{system.champion}")
    rows = dataset.load_labelled(system.store).head(200)
    out = model.predict(pack_history(rows), params={"explain": "none"})
    assert (out["threshold"] == m["threshold"]).all()


def test_train_help_documents_every_flag():
    out = CliRunner().invoke(app, ["train", "--help"], terminal_width=200).output
    for flag in ("--store", "--folds", "--test-share", "--trials", "--timeout", "--seed",
                 "--fn-cost", "--fp-cost", "--class-weight", "--calibrate", "--monotone",
                 "--threads", "--register", "--param", "--use-protected", "--drop-protected"):
        assert flag in out
    assert "out-of-fold" in out and "AUC" in out


def test_train_refuses_a_bad_test_share(system):
    result = CliRunner().invoke(app, ["train", "--store", str(system.store),
                                      "--test-share", "half"])
    assert result.exit_code == 1 and "'half'" in result.output


def test_train_reports_a_missing_store_clearly(tmp_path):
    result = CliRunner().invoke(app, ["train", "--store", str(tmp_path / "nowhere")])
    assert result.exit_code == 1
    assert "nowhere" in result.output


def test_mlproject_restates_no_training_default():
    """The entry points pass `scoring train`'s options through; the one declared switch
    defaults to what the CLI does."""
    import yaml

    from testkit import ROOT

    spec = yaml.safe_load((ROOT / "MLproject").read_text())["entry_points"]
    assert set(spec["train"]["parameters"]) == {"store", "monotone"}
    assert spec["train"]["parameters"]["monotone"]["default"] == (
        "monotone" if TrainConfig.monotone else "no-monotone")
    assert set(spec["main"]["parameters"]) == {"data_dir", "store"}


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
         "--experiment-name", "credit-scoring", "-P", f"store={system.store}", "-P", "trials=0",
         "-P", "folds=2", "-P", "fn-cost=5"],
        env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "registered credit-scoring version 1" in result.stdout
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    version = client.get_model_version(track.MODEL_NAME, "1")
    assert client.get_run(version.run_id).data.params["trials"] == "0"
    assert client.get_run(version.run_id).data.params["folds"] == "2"
    assert client.get_run(version.run_id).data.params["fn_cost"] == "5.0"  # passed through
    assert os.environ["MLFLOW_TRACKING_URI"] == system.tracking_uri


def test_model_leaves_out_the_protected_attributes_by_default(system, run):
    booster = mlflow.pyfunc.load_model(f"models:/{track.MODEL_NAME}/{system.champion}")
    features = booster.unwrap_python_model().booster.feature_name()
    assert "CODE_GENDER" not in features and "NAME_FAMILY_STATUS" not in features
    assert "DAYS_BIRTH" in features and "EMPLOYED_AGE_RATIO" in features
    assert run.data.params["protected_excluded"] == "gender,family_status"
    assert run.data.params["protected_excluded_features"] == "CODE_GENDER,NAME_FAMILY_STATUS"


def test_use_protected_opts_one_back_in_and_is_logged(system):
    result = train(TrainConfig(store=system.store, folds=3, trials=0, num_threads=1,
                               register=False, bootstrap=0, use_protected=["gender"],
                               exclude_protected=["age"]),
                   say=lambda _: None)
    run = MlflowClient().get_run(result.run_id)
    assert run.data.params["protected_excluded"] == "family_status,age"
    assert run.data.params["use_protected"] == "['gender']"
    model = mlflow.pyfunc.load_model(f"runs:/{result.run_id}/model")
    features = model.unwrap_python_model().booster.feature_name()
    assert "CODE_GENDER" in features
    assert not {"NAME_FAMILY_STATUS", "DAYS_BIRTH", "EMPLOYED_AGE_RATIO"} & set(features)


def test_run_logs_fairness_calibration_and_stability(run):
    metrics = run.data.metrics
    for name in ("air_min_gender", "air_min_family_status", "air_min_age", "ece", "brier",
                 "roc_auc_low", "roc_auc_high", "business_cost_low", "psi_score"):
        assert name in metrics, name
    assert metrics["roc_auc_low"] < metrics["roc_auc"] < metrics["roc_auc_high"]
    assert metrics["roc_auc"] == pytest.approx(metrics["oof_roc_auc"])  # out-of-fold
    names = {a.path for a in MlflowClient().list_artifacts(run.info.run_id)}
    assert {"fairness.csv", "fairness.html", "calibration_deciles.csv", "stability.csv",
            "model_card.md", "model_card.html"} <= names
    table = mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/fairness.csv")
    assert "gender" in table and "air_low" in table


def test_card_holds_the_figures_of_its_run(system, run):
    metrics = run.data.metrics
    result = CliRunner().invoke(app, ["card", str(system.champion)])
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert f"# Model card: credit-scoring version {system.champion}\n" in text
    assert run.info.run_id in text
    assert (f"Measured on the out-of-fold predictions of {int(run.data.params['cv_rows']):,} "
            "clients") in text
    assert f"| ROC AUC | {metrics['oof_roc_auc']:.4f} [{metrics['roc_auc_low']:.4f}, " in text
    assert f"at least **{metrics['threshold']:.4f}**" in text
    assert f"Expected calibration error {metrics['ece']:.4f}" in text
    assert f"gender {metrics['air_min_gender']:.3f}" in text
    assert "CODE_GENDER, NAME_FAMILY_STATUS" in text
    assert f"code version `{track.code_version().removesuffix('+dirty')}" in text
    digest = run.inputs.dataset_inputs[0].dataset.digest
    assert f"Data set: `{track.DATASET_NAME}`" in text and f"digest `{digest}`" in text
    assert str(system.store.resolve()) not in text  # no folder of the training machine


def test_card_command_writes_html_and_names_a_missing_version(system, tmp_path):
    out = CliRunner().invoke(app, ["card", "--html", str(tmp_path / "card.html")])
    assert out.exit_code == 0, out.output
    assert "<h2>Fairness</h2>" in (tmp_path / "card.html").read_text()
    missing = CliRunner().invoke(app, ["card", "999"])
    assert missing.exit_code == 1 and "version 999" in missing.output
