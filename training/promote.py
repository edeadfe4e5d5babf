"""Promotion: move ``champion`` to the challenger only when it is at least as good.

Both models score the same test clients (the challenger run's test part, read from the current
feature store) through their served code; the gate compares ROC AUC and business cost.
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


def promote(store: Path | str = Path("data/features"), force: bool = False,
            reason: str | None = None) -> Decision:
    """Compare challenger and champion and move ``champion`` when the gate passes (or forced).

    Both are scored with the business costs the challenger was trained with.
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
    run_id = client.get_model_version(track.MODEL_NAME, challenger).run_id
    ids_path = client.download_artifacts(run_id, "test_ids.csv")
    ids = pd.read_csv(ids_path)["SK_ID_CURR"].tolist()
    rows = read_clients(ids, store_path(store))
    rows = rows[rows[TARGET].notna()]
    if rows.empty:
        raise PromotionError(f"{store}: none of the challenger's test clients are in the store")
    cost = run_costs(client, run_id)
    new = score_version(challenger, rows, cost)
    old = score_version(champion, rows, cost) if champion and champion != challenger else None
    if old is None:
        ok, verdict = True, "no champion yet" if champion is None else "already champion"
    else:
        ok, verdict = gate(new, old)
    promoted = ok or force
    why = verdict if ok or not force else f"forced: {reason} ({verdict})"
    if promoted:
        track.set_alias(track.CHAMPION, challenger)
    track.log_promotion(challenger, champion, promoted, why, new, old)
    return Decision(promoted, challenger, champion, why, new, old)
