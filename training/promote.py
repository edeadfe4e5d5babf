"""Promotion: move ``champion`` to the challenger only when it passes the gate (``gate.toml``).

Fair comparison: both models are judged on the same clients, none of which either model was
fitted on, each at its own threshold. The registered models were refit on every labelled
client (but an optional test part), so the gate set is the first of:

1. *Out of fold, same folds*: both runs cross-validated the same data (same ``mlflow.data``
   digest) with the same folds, seed, test share and costs: their OOF predictions
   (``oof_predictions.csv``) of the same clients, fold for fold.
2. *Held out by both*: the clients both runs kept as a test part (``test_ids.csv`` of each),
   scored by both registered models through their served code, when they hold at least
   ``min_defaults`` defaults.
3. *The champion's recipe again*: the champion's recipe (``recipe.json``: features, LightGBM
   parameters, calibration) cross-validated on the challenger's clients and folds, against
   the challenger's OOF predictions; each recipe's threshold minimises the challenger's costs
   on its own OOF predictions.

A registered champion is thus never scored on rows it was trained on. When none applies
(a champion without recipe, features gone from the store), promotion needs ``--force
--reason``. The checks run as ``mlflow.models.evaluate`` custom metrics validated by
``mlflow.validate_evaluation_results``; ``--force --reason`` overrides a refusal, logged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scoring import features as F
from scoring.names import DEFAULT_STORE
from scoring.request import pack_history
from scoring.schema import KEY, TARGET
from scoring.store import read_clients, store_path
from scoring.tracking import model_uri
from training import gate, track
from training.config import TrainConfig
from training.evaluate import CostModel
from training.governance import protected_groups

#: Run parameters two cross-validated runs must share for their OOF predictions to compare.
SAME_CV = ("folds", "seed", "test_share_used", "fn_cost", "fp_cost")


@dataclass
class Decision:
    """The outcome of a promotion request."""

    promoted: bool
    challenger: str
    champion: str | None
    reason: str
    challenger_metrics: dict[str, float]
    champion_metrics: dict[str, float] | None
    checks: list[gate.Check] = field(default_factory=list)
    clients: list[int] = field(default_factory=list)  # the gate clients
    source: str = ""  # which comparison was used
    run_id: str | None = None  # the promotion run


class PromotionError(Exception):
    """Promotion cannot be decided (no challenger, no client unseen by both...)."""


@dataclass
class GateSet:
    """Both models' predictions on the same clients, unseen by both."""

    rows: pd.DataFrame  # store rows (TARGET and the protected fields)
    new: np.ndarray
    old: np.ndarray
    thresholds: tuple[float, float]
    source: str


def predict_version(version: str, rows: pd.DataFrame) -> tuple[np.ndarray, float]:
    """A registered version's probabilities for store rows (served code), and its threshold."""
    import mlflow

    model = mlflow.pyfunc.load_model(model_uri(version))
    out = model.predict(pack_history(rows), params={"explain": "none"})
    return out["probability"].to_numpy(dtype=float), float(out["threshold"].iloc[0])


def run_costs(client: Any, run_id: str) -> CostModel:
    """The business costs a run was trained with (its own params, else its parent run's)."""
    run = client.get_run(run_id)
    params = run.data.params
    if "fn_cost" not in params and (parent := run.data.tags.get("mlflow.parentRunId")):
        params = client.get_run(parent).data.params
    return CostModel(float(params.get("fn_cost", TrainConfig.fn_cost)),
                     float(params.get("fp_cost", TrainConfig.fp_cost)))


def _artifact(client, run_id: str, name: str) -> pd.DataFrame | None:
    from mlflow.exceptions import MlflowException

    try:
        return pd.read_csv(client.download_artifacts(run_id, name))
    except (MlflowException, OSError):
        return None


def _digest(run) -> str | None:
    inputs = run.inputs.dataset_inputs if run.inputs else []
    return inputs[0].dataset.digest if inputs else None


def _oof_set(client, new_run, old_run, store: Path | str) -> GateSet | None:
    """Both runs' OOF predictions when they cross-validated the same clients in the same
    folds, else None."""
    same = (_digest(new_run) is not None and _digest(new_run) == _digest(old_run)
            and all(new_run.data.params.get(p) == old_run.data.params.get(p)
                    for p in SAME_CV))
    if not same:
        return None
    new, old = (_artifact(client, r.info.run_id, "oof_predictions.csv")
                for r in (new_run, old_run))
    if new is None or old is None:
        return None
    both = new[[KEY, "fold", "lightgbm"]].merge(
        old[[KEY, "fold", "lightgbm"]], on=KEY, suffixes=("_new", "_old"))
    if both.empty or not (both["fold_new"] == both["fold_old"]).all():
        return None
    rows = read_clients(both[KEY].tolist(), store_path(store)).set_index(KEY)
    both = both[both[KEY].isin(rows.index)]
    rows = rows.loc[both[KEY]].reset_index()
    thresholds = (new_run.data.metrics["threshold"], old_run.data.metrics["threshold"])
    return GateSet(rows, both["lightgbm_new"].to_numpy(), both["lightgbm_old"].to_numpy(),
                   thresholds, f"out-of-fold predictions of {len(rows):,} clients, same data "
                   "and folds")


def _test_set(client, challenger: str, champion: str, new_run, old_run,
              store: Path | str, min_defaults: int) -> GateSet | None:
    """The clients both runs held out, scored by both models through their served code; None
    when they share fewer than ``min_defaults`` labelled defaults (or any good client)."""
    new_ids, old_ids = (_artifact(client, r.info.run_id, "test_ids.csv")
                        for r in (new_run, old_run))
    if new_ids is None or old_ids is None:
        return None
    ids = sorted(set(new_ids[KEY]) & set(old_ids[KEY]))
    rows = read_clients(ids, store_path(store)) if ids else pd.DataFrame()
    if rows.empty:
        return None
    rows = rows[rows[TARGET].notna()].reset_index(drop=True)
    defaults = int(rows[TARGET].sum())
    if defaults < min_defaults or defaults == len(rows):
        return None
    new, t_new = predict_version(challenger, rows)
    old, t_old = predict_version(champion, rows)
    return GateSet(rows, new, old, (t_new, t_old),
                   f"{len(rows):,} test clients held out by both runs")


def _recipe_set(client, champion: str, new_run, old_run, store: Path | str,
                cost: CostModel) -> GateSet:
    """The challenger's OOF predictions against the champion's recipe cross-validated again
    on the same clients and folds. Raises PromotionError when the recipe cannot run."""
    from training import calibrator, dataset
    from training import train as fit

    new = _artifact(client, new_run.info.run_id, "oof_predictions.csv")
    recipe = track.load_recipe(old_run.info.run_id)
    why = ("the two runs did not cross-validate the same data with the same folds, seed, test "
           "share and costs, and hold out no common test clients")
    if new is None:
        raise PromotionError(f"{why}; the challenger logged no out-of-fold predictions")
    if recipe is None:
        raise PromotionError(f"{why}; champion {champion} logged no recipe to cross-validate "
                             "again (trained before the gate): promote with --force --reason")
    rows = read_clients(new[KEY].tolist(), store_path(store)).set_index(KEY)
    available = set(F.model_features(rows.columns))  # application features are derived
    missing = [f for f in recipe["features"] if f not in available]
    if missing or not new[KEY].isin(rows.index).all():
        gone = (f"feature(s) {', '.join(missing[:5])}" if missing
                else "some of the challenger's clients")
        raise PromotionError(f"{why}; {store} lacks {gone} of champion {champion}'s recipe: "
                             "promote with --force --reason")
    rows = rows.loc[new[KEY]].reset_index()
    data = dataset.model_inputs(rows, recipe["features"])
    fold = new["fold"].to_numpy()
    margin = fit.cv_lightgbm(data, fold, recipe["lgbm_params"]).oof
    method = calibrator.choose(margin, data.y, fold)[0].method if recipe["calibrate"] else "none"
    old = calibrator.cross_fitted(margin, data.y, fold, method)  # as the challenger's OOF
    thresholds = (new_run.data.metrics["threshold"], cost.best_threshold(data.y, old))
    return GateSet(rows, new["lightgbm"].to_numpy(dtype=float), old, thresholds,
                   f"out-of-fold predictions of {len(rows):,} clients: the challenger's, and "
                   f"champion {champion}'s recipe cross-validated again on the same folds")


def _frame(rows: pd.DataFrame, proba: np.ndarray, groups: dict[str, np.ndarray]) -> pd.DataFrame:
    protected = ["|".join(parts) for parts in zip(*(np.asarray(g, dtype=object).astype(str)
                                                    for g in groups.values()), strict=True)]
    return pd.DataFrame({"TARGET": rows[TARGET].to_numpy(dtype=np.int64),
                         "probability": proba, "protected": protected})


def promote(store: Path | str = Path(DEFAULT_STORE), force: bool = False,
            reason: str | None = None, config: gate.GateConfig | None = None) -> Decision:
    """Run the gate on challenger and champion; move ``champion`` when it passes (or forced).

    Both are judged with the business costs the challenger was trained with.
    """
    from mlflow import MlflowClient

    if force and not reason:
        raise PromotionError("--force needs a --reason, which is logged with the promotion")
    track.configure()
    config = config or gate.load_config()
    challenger = track.alias_version(track.CHALLENGER)
    if challenger is None:
        raise PromotionError(f"no @{track.CHALLENGER} version of {track.MODEL_NAME}: "
                             "run `scoring train` first")
    champion = track.alias_version(track.CHAMPION)
    if champion is None or champion == challenger:
        verdict = "no champion yet" if champion is None else "already champion"
        track.set_alias(track.CHAMPION, challenger)
        track.log_promotion(challenger, champion, True, verdict, {}, None)
        return Decision(True, challenger, champion, verdict, {}, None)
    client = MlflowClient()

    def run_of(version: str):
        return client.get_run(client.get_model_version(track.MODEL_NAME, version).run_id)

    new_run, old_run = run_of(challenger), run_of(champion)
    cost = run_costs(client, new_run.info.run_id)
    try:
        gate_set = (_oof_set(client, new_run, old_run, store)
                    or _test_set(client, challenger, champion, new_run, old_run, store,
                                 config.min_defaults)
                    or _recipe_set(client, champion, new_run, old_run, store, cost))
    except PromotionError as err:
        if not force:
            raise PromotionError(f"version {challenger} cannot be compared fairly with "
                                 f"champion {champion}: {err}") from None
        why = f"forced: {reason} (not comparable: {err})"
        track.set_alias(track.CHAMPION, challenger)
        track.log_promotion(challenger, champion, True, why, {}, None)
        return Decision(True, challenger, champion, why, {}, None)
    decision = _judge(gate_set, challenger, champion, cost, config)
    if not decision.promoted and force:
        decision.promoted, decision.reason = True, f"forced: {reason} ({decision.reason})"
    if decision.promoted:
        track.set_alias(track.CHAMPION, challenger)
    track.log_promotion(challenger, champion, decision.promoted, decision.reason,
                        decision.challenger_metrics, decision.champion_metrics,
                        run_id=decision.run_id)
    return decision


def _judge(s: GateSet, challenger: str, champion: str, cost: CostModel,
           config: gate.GateConfig) -> Decision:
    """The checks, MLflow's evaluation and validation, and the verdict."""
    y = s.rows[TARGET].to_numpy(dtype=np.int64)
    groups = protected_groups(s.rows)
    new = gate.metrics_of(y, s.new, s.thresholds[0], cost, groups)
    old = gate.metrics_of(y, s.old, s.thresholds[1], cost, groups)
    _, bound = gate.paired_auc_noise(y, s.new, s.old, config.auc_confidence,
                                     config.auc_bootstrap)
    checks = gate.checks(new, old, bound, config)
    names = list(groups)
    run_id, passed, message = track.evaluate_gate(
        challenger, champion,
        {"challenger": _frame(s.rows, s.new, groups), "champion": _frame(s.rows, s.old, groups)},
        {"challenger": gate.mlflow_metrics(s.thresholds[0], cost, names),
         "champion": gate.mlflow_metrics(s.thresholds[1], cost, names)}, checks)
    failed = [c.name for c in checks if not c.passed]
    verdict = (f"passed every check on the {s.source}" if passed else
               f"failed {', '.join(failed) or 'validation'} on the {s.source}: {message}")
    return Decision(passed, challenger, champion, verdict, new, old, checks,
                    s.rows[KEY].astype(int).tolist(), s.source, run_id)
