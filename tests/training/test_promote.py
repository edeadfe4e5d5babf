"""Registry rules: a new version is @challenger; @champion moves only through the gate."""

from __future__ import annotations

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from scoring.store import read_clients
from training import track
from training.evaluate import CostModel
from training.promote import PromotionError, gate, promote, run_costs, score_version
from training.run import TrainConfig, train

WORSE = {"num_leaves": 2, "num_iterations": 2, "learning_rate": 0.01}


@pytest.fixture
def registry(system, tmp_path, monkeypatch) -> str:
    """A fresh tracking store holding one champion trained on the shared feature store."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    train(quick(system), say=lambda _: None)
    assert promote(system.store).promoted
    yield uri
    mlflow.set_tracking_uri(system.tracking_uri)
    mlflow.set_registry_uri(system.tracking_uri)


def quick(system, **options) -> TrainConfig:
    """A fast run on the shared store: 3 folds, no search, one thread."""
    return TrainConfig(store=system.store, folds=3, trials=0, num_threads=1, **options)


def aliases() -> tuple[str | None, str | None]:
    return track.alias_version(track.CHAMPION), track.alias_version(track.CHALLENGER)


def test_gate_needs_auc_and_cost_at_least_as_good():
    old = {"roc_auc": 0.75, "business_cost": 0.50}
    assert gate({"roc_auc": 0.75, "business_cost": 0.50}, old)[0]
    assert not gate({"roc_auc": 0.76, "business_cost": 0.51}, old)[0]
    assert not gate({"roc_auc": 0.74, "business_cost": 0.40}, old)[0]


def test_worse_challenger_is_refused(system, registry):
    champion, _ = aliases()
    train(quick(system, lgbm_params=WORSE),
          say=lambda _: None)
    _, challenger = aliases()
    assert challenger != champion
    decision = promote(system.store)
    assert not decision.promoted
    assert "out of fold, same clients and folds" in decision.reason
    assert decision.challenger_metrics["roc_auc"] < decision.champion_metrics["roc_auc"]
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


def test_runs_on_other_folds_are_not_compared_without_force(system, registry):
    champion, _ = aliases()
    train(quick(system, seed=1), say=lambda _: None)
    _, challenger = aliases()
    with pytest.raises(PromotionError, match="cannot be compared fairly"):
        promote(system.store)
    assert aliases() == (champion, challenger)
    decision = promote(system.store, force=True, reason="new folds for the audit")
    assert decision.promoted and "not comparable" in decision.reason


def test_a_challenger_with_a_test_part_is_compared_on_it(system, registry):
    result = train(quick(system, test_share=0.2),
                   say=lambda _: None)
    assert {"test_roc_auc", "test_business_cost", "oof_roc_auc"} <= set(result.metrics)
    client = MlflowClient()
    test_ids = set(pd.read_csv(client.download_artifacts(result.run_id, "test_ids.csv"))[
        "SK_ID_CURR"])
    oof_ids = set(pd.read_csv(client.download_artifacts(result.run_id,
                                                        "oof_predictions.csv"))["SK_ID_CURR"])
    assert test_ids and test_ids.isdisjoint(oof_ids)
    decision = promote(system.store)
    assert f"on the challenger's {len(test_ids):,} test clients" in decision.reason
    assert decision.champion_metrics is not None


def test_promotion_scores_with_the_costs_the_challenger_was_trained_with(system, registry):
    """A challenger trained with fn_cost 3 is judged at cost 3 per missed default, not 10."""
    train(quick(system, fn_cost=3.0, fp_cost=2.0, test_share=0.2), say=lambda _: None)
    _, challenger = aliases()
    client = MlflowClient()
    run_id = client.get_model_version(track.MODEL_NAME, challenger).run_id
    cost = run_costs(client, run_id)
    assert (cost.fn_cost, cost.fp_cost) == (3.0, 2.0)
    decision = promote(system.store, force=True, reason="test")
    ids = pd.read_csv(client.download_artifacts(run_id, "test_ids.csv"))["SK_ID_CURR"]
    rows = read_clients(ids.tolist(), system.store)
    at_3_2 = score_version(challenger, rows, CostModel(3.0, 2.0))["business_cost"]
    at_10_1 = score_version(challenger, rows, CostModel(10.0, 1.0))["business_cost"]
    assert decision.challenger_metrics["business_cost"] == pytest.approx(at_3_2)
    assert at_3_2 != pytest.approx(at_10_1)
