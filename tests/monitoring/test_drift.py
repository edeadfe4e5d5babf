"""Drift inputs and errors (the full report is tested on the running services)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from cli import app
from monitoring import drift
from scoring.store import read_store


def test_corrupt_feature_store_is_a_clear_error_and_left_alone(system, tmp_path):
    store = tmp_path / "features"
    shutil.copytree(system.store, store)
    target = store / "clients.parquet"
    target.write_bytes(target.read_bytes()[: 5000])
    before = target.read_bytes()
    result = CliRunner().invoke(app, ["drift", "--store", str(store), "--feature",
                                      "EXT_SOURCE_2"])
    assert result.exit_code == 1
    assert f"cannot read {target}" in result.output
    assert "Traceback" not in result.output
    assert target.read_bytes() == before


def test_missing_prediction_log_is_a_clear_error(system, tmp_path):
    result = CliRunner().invoke(app, ["drift", "--store", str(system.store), "--current",
                                      "log", "--prediction-log", str(tmp_path / "none"),
                                      "--feature", "EXT_SOURCE_2"])
    assert result.exit_code == 1
    assert "no prediction log files" in result.output


def test_samples_become_model_inputs_on_the_chosen_features(system):
    test = drift.load_sample("test", system.store, system.store)
    assert set(test["DATASET"]) == {"test"}
    without_bureau = test.drop(columns=[c for c in test.columns if c.startswith("BURO_")])
    frame = drift.model_inputs(without_bureau, ["AMT_CREDIT", "CREDIT_INCOME_RATIO",
                                                "BURO_COUNT"])
    assert list(frame.columns) == ["AMT_CREDIT", "CREDIT_INCOME_RATIO", "BURO_COUNT"]
    assert len(frame) == len(test)
    assert frame["BURO_COUNT"].isna().all()
    assert frame["CREDIT_INCOME_RATIO"].notna().any()


def test_compare_flags_a_shifted_feature():
    rng = pd.Series(range(600), dtype="float64")
    reference = pd.DataFrame({"a": rng % 37, "b": rng % 11})
    current = pd.DataFrame({"a": rng % 37 + 30, "b": rng % 11})
    _, table, share = drift.compare(reference, current)
    assert table.set_index("feature")["drifted"].to_dict() == {"a": True, "b": False}
    assert share == 0.5


def test_feature_store_of_a_folder_is_read(system):
    rows = drift.load_sample(str(system.store), system.store, system.store)
    assert len(rows) == len(read_store(system.store))


def test_drift_logs_the_stability_of_score_and_features(system, tmp_path):
    import mlflow

    result = CliRunner().invoke(app, ["drift", "--store", str(system.store), "--feature",
                                      "EXT_SOURCE_2", "--feature", "AMT_CREDIT",
                                      "--out", str(tmp_path / "drift.html")])
    assert result.exit_code == 0, result.output
    assert "score PSI" in result.output
    run = mlflow.search_runs(experiment_names=[drift.EXPERIMENT], max_results=1,
                             order_by=["attributes.start_time DESC"]).iloc[0]
    # Training and test clients come from one generator: stable.
    assert 0 <= run["metrics.psi_score"] < 0.1
    assert 0 <= run["metrics.csi_EXT_SOURCE_2"] < 0.1 and "metrics.csi_AMT_CREDIT" in run
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run["run_id"])}
    assert {"drift.html", "drift.csv", "stability.csv"} <= artifacts
    # the monitoring experiment keeps its artifacts beside the SQLite store, as training's
    experiment = mlflow.get_experiment_by_name(drift.EXPERIMENT)
    database = system.tracking_uri.removeprefix("sqlite:///")
    assert experiment.artifact_location == (Path(database).parent / "artifacts").as_uri()
