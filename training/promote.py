"""Promotion: move ``champion`` to the challenger only when it is at least as good.

Two fair comparisons, the first that applies:

- the challenger run kept an untouched test part (``--test-share``): both models score those
  test clients (read from the current feature store) through their served code;
- both runs cross-validated the same data (same dataset digest) with the same folds, seed,
  test share and costs: their logged out-of-fold metrics are compared, each model's OOF
  predictions coming from the same clients in the same folds.

Otherwise the two cannot be compared fairly (the challenger was refit on every client it could
be scored on) and promotion needs ``--force --reason``. The gate compares ROC AUC and business
cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scoring.request import pack_history
from scoring.schema import TARGET
from scoring.store import read_clients, store_path
from training import track
from training.evaluate import CostModel, evaluate


@dataclass
class Decision:
    """The outcome of a promotion request."""

    promoted: bool
    challenger: str
    champion: str | None
    reason: str
    challenger_metrics: dict[str, float]
    champion_metrics: dict[str, float] | None


class PromotionError(Exception):
    """Promotion cannot be decided (no challenger, no test data...)."""


def score_version(version: str, rows: pd.DataFrame, cost: CostModel) -> dict[str, float]:
    """ROC AUC, business cost and friends of a registered version on labelled store rows."""
    import mlflow

    model = mlflow.pyfunc.load_model(f"models:/{track.MODEL_NAME}/{version}")
    out = model.predict(pack_history(rows), params={"explain": "none"})
    return evaluate(rows[TARGET].to_numpy(dtype=np.int64), out["probability"].to_numpy(),
                    float(out["threshold"].iloc[0]), cost)


def gate(challenger: dict[str, float], champion: dict[str, float]) -> tuple[bool, str]:
    """At least as good: AUC not lower and business cost not higher."""
    better_auc = challenger["roc_auc"] >= champion["roc_auc"]
    better_cost = challenger["business_cost"] <= champion["business_cost"]
    verdict = (f"AUC {challenger['roc_auc']:.4f} vs {champion['roc_auc']:.4f}, "
               f"cost {challenger['business_cost']:.4f} vs {champion['business_cost']:.4f}")
    return better_auc and better_cost, verdict


def run_costs(client: Any, run_id: str) -> CostModel:
    """The business costs a run was trained with (its own params, else its parent run's)."""
    run = client.get_run(run_id)
    params = run.data.params
    if "fn_cost" not in params and (parent := run.data.tags.get("mlflow.parentRunId")):
        params = client.get_run(parent).data.params
    return CostModel(float(params.get("fn_cost", 10.0)), float(params.get("fp_cost", 1.0)))


#: Run parameters two cross-validated runs must share for their OOF metrics to be comparable.
SAME_CV = ("folds", "seed", "test_share_used", "fn_cost", "fp_cost")


def logged(run, prefix: str = "oof") -> dict[str, float]:
    """A run's logged metrics of one kind (``oof`` or ``test``), without the prefix."""
    return {k.removeprefix(f"{prefix}_"): v for k, v in run.data.metrics.items()
            if k.startswith(f"{prefix}_")}


def _digest(run) -> str | None:
    inputs = run.inputs.dataset_inputs if run.inputs else []
    return inputs[0].dataset.digest if inputs else None


def same_cv(new, old) -> bool:
    """Whether two runs' OOF metrics come from the same clients in the same folds."""
    return (_digest(new) is not None and _digest(new) == _digest(old)
            and all(new.data.params.get(p) == old.data.params.get(p) for p in SAME_CV)
            and "oof_roc_auc" in old.data.metrics)


def promote(store: Path | str = Path("data/features"), force: bool = False,
            reason: str | None = None) -> Decision:
    """Compare challenger and champion and move ``champion`` when the gate passes (or forced).

    On a test part, both are scored with the business costs the challenger was trained with.
    """
    from mlflow import MlflowClient

    if force and not reason:
        raise PromotionError("--force needs a --reason, which is logged with the promotion")
    track.configure()
    challenger = track.alias_version(track.CHALLENGER)
    if challenger is None:
        raise PromotionError(f"no @{track.CHALLENGER} version of {track.MODEL_NAME}: "
                             "run `scoring train` first")
    champion = track.alias_version(track.CHAMPION)
    client = MlflowClient()

    def run_of(version: str):
        return client.get_run(client.get_model_version(track.MODEL_NAME, version).run_id)

    new_run = run_of(challenger)
    has_test = int(new_run.data.params.get("test_rows", "0")) > 0
    new = logged(new_run, "test" if has_test else "oof")
    old = None
    if champion is None or champion == challenger:
        ok, verdict = True, "no champion yet" if champion is None else "already champion"
    elif has_test:
        rows = _test_rows(client, new_run.info.run_id, store)
        cost = run_costs(client, new_run.info.run_id)
        new, old = score_version(challenger, rows, cost), score_version(champion, rows, cost)
        ok, verdict = gate(new, old)
        verdict += f" on the challenger's {len(rows):,} test clients"
    elif same_cv(new_run, old_run := run_of(champion)):
        old = logged(old_run, "oof")
        ok, verdict = gate(new, old)
        verdict += " out of fold, same clients and folds"
    elif force:
        ok, verdict = False, "not comparable"
    else:
        raise PromotionError(
            f"version {challenger} cannot be compared fairly with champion {champion}: the "
            "challenger has no test part and the two runs did not cross-validate the same "
            "data with the same folds, seed and costs. Retrain with --test-share, or promote "
            "with --force --reason")
    promoted = ok or force
    why = verdict if ok or not force else f"forced: {reason} ({verdict})"
    if promoted:
        track.set_alias(track.CHAMPION, challenger)
    track.log_promotion(challenger, champion, promoted, why, new, old)
    return Decision(promoted, challenger, champion, why, new, old)


def _test_rows(client, run_id: str, store: Path | str) -> pd.DataFrame:
    ids = pd.read_csv(client.download_artifacts(run_id, "test_ids.csv"))["SK_ID_CURR"].tolist()
    rows = read_clients(ids, store_path(store))
    rows = rows[rows[TARGET].notna()]
    if rows.empty:
        raise PromotionError(f"{store}: none of the challenger's test clients are in the store")
    return rows
