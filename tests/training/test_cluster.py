"""Training on a Dask cluster (``scoring train --cluster``): the same run as on one machine,
LightGBM boosted by ``lightgbm.dask`` on a LocalCluster of 2 workers x 1 thread."""

from __future__ import annotations

from collections.abc import Iterator

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from sklearn.metrics import roc_auc_score

from scoring.request import pack_history
from training import cluster, dataset, track
from training.evaluate import CostModel
from training.run import TrainConfig, train
from training.train import Split, cv_lightgbm, lightgbm_params

#: A faster learning rate than the default 0.02 (431 CV rounds on the session's store): a Dask
#: round costs a synchronisation of the workers (the default rate took 14 min on a loaded
#: machine), and each fold is boosted to ROUNDS: Dask has no early stopping.
FAST = {"learning_rate": 0.3}
#: Enough rounds for the folds to stop early at that rate.
ROUNDS = 60


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """The address of a LocalCluster: 2 workers x 1 thread, in this process."""
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=None) as local:
        yield local.scheduler_address


def test_early_stop_round_replays_lightgbm_early_stopping():
    import lightgbm as lgb

    rng = np.random.default_rng(1)
    X = rng.normal(size=(600, 5))
    y = (X[:, 0] + rng.normal(size=600) > 0).astype(int)
    params = {"objective": "binary", "metric": "auc", "verbosity": -1, "num_threads": 1,
              "learning_rate": 0.3, "num_leaves": 31, "min_data_in_leaf": 5}
    held = np.arange(600) % 3 == 0
    history: dict = {}
    stopped = lgb.train(params, lgb.Dataset(X[~held], y[~held]), 300,
                        valid_sets=[lgb.Dataset(X[held], y[held])],
                        callbacks=[lgb.early_stopping(10, verbose=False),
                                   lgb.record_evaluation(history)])
    curve = history["valid_0"]["auc"]
    assert cluster.early_stop_round(lambda r: curve[r], len(curve), 10) == \
        stopped.best_iteration
    assert cluster.early_stop_round(lambda r: [0.5, 0.7, 0.6, 0.7][r], 4, 2) == 2
    assert cluster.early_stop_round(lambda r: float(r), 5, 2) == 5  # never stopped


def test_dask_folds_match_lightgbm_cv(scheduler):
    from dask.distributed import Client

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(2_000, 6)), columns=[f"x{i}" for i in range(6)])
    X["kind"] = pd.Categorical(rng.choice(["a", "b", "c"], 2_000))
    y = (X["x0"] + 0.5 * X["x1"] + (X["kind"] == "a") + rng.normal(size=2_000) > 1)
    data = Split(X, y.to_numpy(dtype=np.int64))
    fold = dataset.folds(data.y, 3)
    params = lightgbm_params({"learning_rate": 0.1, "feature_fraction": 0.9,
                              "min_child_samples": 20}, num_threads=1)
    local = cv_lightgbm(data, fold, params, max_rounds=200, patience=20)
    with Client(scheduler) as client:
        trainer = cluster.DaskTrainer(client, max_rounds=200)
        distributed = trainer.cv(data, fold, params, patience=20)
        booster = trainer.refit(data, params, distributed.rounds)
    assert abs(distributed.rounds - local.rounds) <= 20
    assert roc_auc_score(data.y, distributed.oof) == pytest.approx(
        roc_auc_score(data.y, local.oof), abs=0.01)
    assert np.corrcoef(distributed.oof, local.oof)[0, 1] > 0.95
    assert booster.num_trees() == distributed.rounds
    assert roc_auc_score(data.y, booster.predict(X)) > roc_auc_score(data.y, local.oof)


def test_train_on_a_cluster_is_the_same_run(system, scheduler):
    local = MlflowClient().get_run(MlflowClient().get_model_version(
        track.MODEL_NAME, system.champion).run_id)
    challenger = track.alias_version(track.CHALLENGER)
    try:
        result = train(TrainConfig(store=system.store, folds=3, trials=0, num_threads=1,
                                   bootstrap=0, lgbm_params=FAST, cluster=scheduler,
                                   cluster_rounds=ROUNDS),
                       say=lambda _: None)
    finally:  # the session's other tests expect the registry as it was
        if challenger:
            track.set_alias(track.CHALLENGER, challenger)
    run = MlflowClient().get_run(result.run_id)
    assert run.data.tags["cluster_local_steps"] == cluster.LOCAL_STEPS
    assert run.data.params["cluster"] == scheduler
    assert run.data.metrics["cv_rounds"] < ROUNDS  # stopped on the held-out AUC

    def oof(r) -> pd.DataFrame:
        return pd.read_csv(mlflow.artifacts.download_artifacts(
            f"runs:/{r.info.run_id}/oof_predictions.csv"))

    mine, theirs = oof(run), oof(local)
    pd.testing.assert_frame_equal(mine[["SK_ID_CURR", "fold", "TARGET", "dummy",
                                        "logistic_regression"]],
                                  theirs[["SK_ID_CURR", "fold", "TARGET", "dummy",
                                          "logistic_regression"]])
    assert run.data.metrics["oof_roc_auc"] == pytest.approx(  # (another learning rate)
        local.data.metrics["oof_roc_auc"], abs=0.03)
    y, proba = mine["TARGET"].to_numpy(), mine["lightgbm"].to_numpy()
    cost = CostModel(float(run.data.params["fn_cost"]), float(run.data.params["fp_cost"]))
    assert run.data.metrics["threshold"] == pytest.approx(cost.best_threshold(y, proba),
                                                          rel=1e-6)
    assert result.version is not None  # registered like a local run
    model = mlflow.pyfunc.load_model(f"models:/{track.MODEL_NAME}/{result.version}")
    rows = dataset.load_labelled(system.store).head(100)
    out = model.predict(pack_history(rows), params={"explain": "none"})
    assert (out["threshold"] == run.data.metrics["threshold"]).all()
    assert roc_auc_score(rows["TARGET"], out["probability"]) > 0.6


def test_train_help_documents_the_cluster_flags():
    from typer.testing import CliRunner

    from cli import app

    out = CliRunner().invoke(app, ["train", "--help"], terminal_width=200).output
    assert "--cluster " in out and "--cluster-rounds" in out and "Dask" in out
