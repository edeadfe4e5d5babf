"""Registry rules: a new version is @challenger; @champion moves only through the gate."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from cli import app
from scoring.store import read_clients
from training import gate, track
from training.evaluate import CostModel
from training.promote import PromotionError, predict_version, promote, run_costs
from training.run import TrainConfig, train

WORSE = {"num_leaves": 2, "num_iterations": 2, "learning_rate": 0.01}


@pytest.fixture(scope="module")
def champion_store(system, tmp_path_factory) -> Path:
    """A tracking store (database and artifacts) holding one champion trained on the shared
    feature store; trained once, each test gets its own copy (``registry``)."""
    folder = tmp_path_factory.mktemp("champion") / "mlruns"
    folder.mkdir()
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{folder / 'mlflow.db'}"
    try:
        train(quick(system), say=lambda _: None)
        assert promote(system.store).promoted
    finally:
        os.environ["MLFLOW_TRACKING_URI"] = system.tracking_uri
        mlflow.set_tracking_uri(system.tracking_uri)
        mlflow.set_registry_uri(system.tracking_uri)
    return folder


@pytest.fixture
def registry(system, champion_store, tmp_path, monkeypatch) -> str:
    """A fresh tracking store holding one champion: a copy of ``champion_store`` whose
    database points at the copied artifacts."""
    folder = tmp_path / "mlruns"
    shutil.copytree(champion_store, folder)
    with sqlite3.connect(folder / "mlflow.db") as db:
        for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            for column in [c[1] for c in db.execute(f'PRAGMA table_info("{table}")')
                           if c[2].upper().startswith(("VARCHAR", "TEXT"))]:
                db.execute(f'UPDATE "{table}" SET "{column}" = replace("{column}", ?, ?) '
                           f'WHERE "{column}" LIKE ?',
                           (str(champion_store), str(folder), f"%{champion_store}%"))
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    yield uri
    mlflow.set_tracking_uri(system.tracking_uri)
    mlflow.set_registry_uri(system.tracking_uri)


def quick(system, **options) -> TrainConfig:
    """A fast run on the shared store: 3 folds, no search, one thread."""
    return TrainConfig(store=system.store, folds=3, trials=0, num_threads=1, **options)


def aliases() -> tuple[str | None, str | None]:
    return track.alias_version(track.CHAMPION), track.alias_version(track.CHALLENGER)


def test_gate_checks_and_their_thresholds():
    config = gate.GateConfig()
    old = {"roc_auc": 0.75, "business_cost": 0.50, "air_min": 0.9, "ece": 0.01}
    same = {c.name: c.passed for c in gate.checks(old, old, 0.01, config)}
    assert same == {"roc_auc": True, "business_cost": True, "air_min": True, "ece": True}
    # AUC 0.02 lower, but the paired upper bound of the difference is still above 0: noise
    noisy = gate.checks({**old, "roc_auc": 0.73}, old, 0.005, config)[0]
    assert noisy.passed and noisy.threshold == pytest.approx(0.725)
    # significantly lower: even the upper bound of the difference is below 0
    assert not gate.checks({**old, "roc_auc": 0.73}, old, -0.001, config)[0].passed
    failed = {c.name for c in gate.checks({**old, "business_cost": 0.51, "air_min": 0.7,
                                           "ece": 0.2}, old, 0.0, config) if not c.passed}
    assert failed == {"business_cost", "air_min", "ece"}
    # a champion already under the floor: the challenger must not be worse than it
    unfair = {**old, "air_min": 0.6}
    assert gate.checks({**old, "air_min": 0.65}, unfair, 0.0, config)[2].passed
    assert not gate.checks({**old, "air_min": 0.55}, unfair, 0.0, config)[2].passed


def test_paired_bootstrap_sees_a_real_difference():
    import numpy as np

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 2_000)
    good = y + rng.normal(0, 1.0, 2_000)
    point, bound = gate.paired_auc_noise(y, good, good, 0.95, 200)
    assert point == 0 and bound == 0
    point, bound = gate.paired_auc_noise(y, good + rng.normal(0, 2.0, 2_000), good, 0.95, 200)
    assert point < bound < 0  # clearly worse: refused


def test_gate_file_is_read_and_bad_keys_are_named(tmp_path):
    assert gate.load_config() == gate.GateConfig()  # the repository's gate.toml
    bad = tmp_path / "gate.toml"
    bad.write_text("[roc_auc]\nconfidance = 0.9\n")
    with pytest.raises(ValueError, match=r"gate.toml: unknown key\(s\) in \[roc_auc\]: "
                                         "confidance"):
        gate.load_config(bad)


def test_worse_challenger_is_refused(system, registry):
    champion, _ = aliases()
    train(quick(system, lgbm_params=WORSE),
          say=lambda _: None)
    _, challenger = aliases()
    assert challenger != champion
    decision = promote(system.store)
    assert not decision.promoted
    assert "out-of-fold predictions" in decision.reason and "same data and folds" in decision.reason
    assert decision.challenger_metrics["roc_auc"] < decision.champion_metrics["roc_auc"]
    failed = {c.name for c in decision.checks if not c.passed}
    assert failed & {"roc_auc", "business_cost"}
    assert decision.reason.startswith("failed ")
    assert aliases() == (champion, challenger)
    tags = MlflowClient().get_model_version(track.MODEL_NAME, challenger).tags
    assert tags["promotion"].startswith("refused")


def test_forcing_needs_a_reason_which_is_logged(system, registry):
    train(quick(system, lgbm_params=WORSE),
          say=lambda _: None)
    champion, challenger = aliases()
    with pytest.raises(PromotionError, match="reason"):
        promote(system.store, force=True)
    assert aliases() == (champion, challenger)
    decision = promote(system.store, force=True, reason="audit asked for the simpler model")
    assert decision.promoted
    assert aliases() == (challenger, challenger)
    tags = MlflowClient().get_model_version(track.MODEL_NAME, challenger).tags
    assert "audit asked for the simpler model" in tags["promotion"]


def test_failed_run_changes_no_alias(system, registry):
    before = aliases()
    with pytest.raises(Exception, match="num_leaves"):
        train(quick(system,
                          lgbm_params={"num_leaves": -3}), say=lambda _: None)
    assert aliases() == before
    runs = mlflow.search_runs(experiment_names=[track.EXPERIMENT],
                              filter_string="attributes.status = 'FAILED'")
    assert len(runs) == 1


def test_champion_is_never_judged_on_its_own_training_rows(system, registry):
    """Other seed, other costs and a test part: neither OOF comparison nor common test
    clients apply (the champion was refit on every client), so the champion's recipe is
    cross-validated again on the challenger's folds, at the challenger's costs."""
    champion, _ = aliases()
    result = train(quick(system, seed=1, test_share=0.2, fn_cost=3.0, fp_cost=2.0),
                   say=lambda _: None)
    _, challenger = aliases()
    client = MlflowClient()
    oof = pd.read_csv(client.download_artifacts(result.run_id, "oof_predictions.csv"))
    test_ids = pd.read_csv(client.download_artifacts(result.run_id, "test_ids.csv"))
    decision = promote(system.store, force=True, reason="testing the gate set")
    assert "recipe cross-validated again on the same folds" in decision.reason
    assert sorted(decision.clients) == sorted(oof["SK_ID_CURR"])
    assert not set(decision.clients) & set(test_ids["SK_ID_CURR"])
    # the registered champion saw every one of these clients: on them it looks far better
    # than its recipe does out of fold, which is what the gate measured
    rows = read_clients(decision.clients, system.store)
    in_sample, _ = predict_version(champion, rows)
    y = rows["TARGET"].to_numpy(dtype=int)
    assert roc_auc_score(y, in_sample) > decision.champion_metrics["roc_auc"] + 0.05
    # the challenger is judged on its own OOF predictions, at the costs it was trained with
    assert (run_costs(client, result.run_id).fn_cost, run_costs(client, result.run_id)
            .fp_cost) == (3.0, 2.0)
    threshold = client.get_run(result.run_id).data.metrics["threshold"]
    at_3_2 = CostModel(3.0, 2.0).per_application(oof["TARGET"], oof["lightgbm"], threshold)
    assert decision.challenger_metrics["business_cost"] == pytest.approx(at_3_2)
    assert at_3_2 != pytest.approx(
        CostModel(10.0, 1.0).per_application(oof["TARGET"], oof["lightgbm"], threshold))


def test_a_champion_without_recipe_is_not_compared_without_force(system, registry):
    champion, _ = aliases()
    run = MlflowClient().get_run(MlflowClient().get_model_version(track.MODEL_NAME,
                                                                  champion).run_id)
    (Path(run.info.artifact_uri.removeprefix("file://")) / "recipe.json").unlink()  # as before
    train(quick(system, seed=1), say=lambda _: None)
    _, challenger = aliases()
    with pytest.raises(PromotionError, match="cannot be compared fairly.*logged no recipe"):
        promote(system.store)
    assert aliases() == (champion, challenger)
    decision = promote(system.store, force=True, reason="new folds for the audit")
    assert decision.promoted and "not comparable" in decision.reason


def test_planted_unfair_model_is_refused_naming_the_check(system, registry, tmp_path):
    """Labels planted so that men default far more often (about 33 % against 4 %): a
    challenger allowed to read CODE_GENDER is more accurate but refuses men wholesale (AIR
    near 0); the champion's recipe, cross-validated again on the same labels without gender,
    stays well above it; the gate refuses the challenger on air_min. A missed default costs 3
    refusals here, so the threshold (about 0.25) lies between the two groups' default rates:
    a model blind to gender grants most clients and the recipe's AIR is not left to the few
    grants of a model refusing nearly everyone."""
    import numpy as np

    from scoring.store import read_store, store_path

    rows = read_store(system.store)
    u = np.random.default_rng(0).random(len(rows))
    labelled = rows["DATASET"] == "train"
    men = rows["CODE_GENDER"] == "M"
    rows.loc[labelled & men & (u < 0.25), "TARGET"] = 1
    rows.loc[labelled & ~men & (u < 0.5), "TARGET"] = 0
    planted = tmp_path / "features"
    planted.mkdir()
    rows.to_parquet(store_path(planted), index=False)
    champion, _ = aliases()
    train(TrainConfig(store=planted, folds=3, trials=0, num_threads=1, fn_cost=3.0,
                      use_protected=["gender"]), say=lambda _: None)
    _, challenger = aliases()
    out = CliRunner().invoke(app, ["promote", "--store", str(planted), "--no-switch"])
    assert out.exit_code == 2, out.output
    assert aliases() == (champion, challenger)
    lines = out.output.splitlines()
    air = next(line for line in lines if line.startswith(("FAIL  air_min", "pass  air_min")))
    assert air.startswith("FAIL") and float(air.split()[2]) < 0.8
    assert f"refused: version {challenger} (champion was {champion}): failed air_min" in \
        out.output
    tags = MlflowClient().get_model_version(track.MODEL_NAME, challenger).tags
    assert "failed air_min" in tags["promotion"]
    assert any(line.startswith("pass  roc_auc") for line in lines)
