"""The governance assessment of one model's predictions: metrics with bootstrap intervals,
calibration, and fairness per protected attribute.

Pure: store rows (for the protected fields), labels, probabilities and the threshold in; an
``Assessment`` out. Works on whichever predictions a run has (out-of-fold or a test part);
``track.log_assessment`` logs it, ``card.py`` writes it into the model card.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn import metrics

from scoring.protected import PROTECTED
from training import fairness, reliability
from training.evaluate import CostModel

N_BOOT = 200


@dataclass
class Assessment:
    """What the card and the gate read about one set of predictions."""

    source: str  # which predictions: "out-of-fold" or "test part"
    clients: int
    threshold: float
    metrics: dict[str, float]  # point estimates, flat (logged as MLflow metrics)
    intervals: dict[str, tuple[float, float]]  # 95 % bootstrap interval per main metric
    deciles: pd.DataFrame  # ``reliability.deciles``
    fairness: pd.DataFrame  # ``fairness.fairness_report``
    excluded: list[str] = field(default_factory=list)  # protected columns not read


def protected_groups(rows: pd.DataFrame) -> dict[str, np.ndarray]:
    """Group labels of every configured protected attribute present in ``rows``."""
    return {p.name: p.groups(rows) for p in PROTECTED.values() if p.column in rows}


def _main_metrics(y: np.ndarray, proba: np.ndarray, threshold: float, cost: CostModel,
                  ) -> dict[str, float]:
    return {"roc_auc": float(metrics.roc_auc_score(y, proba)),
            "pr_auc": float(metrics.average_precision_score(y, proba)),
            "business_cost": cost.per_application(y, proba, threshold),
            "brier": float(np.mean((proba - y) ** 2)),
            "refusal_rate": float(np.mean(proba >= threshold))}


def intervals(y: np.ndarray, proba: np.ndarray, threshold: float, cost: CostModel,
              n_boot: int = N_BOOT, seed: int = 0) -> dict[str, tuple[float, float]]:
    """95 % percentile-bootstrap interval of each main metric (clients resampled)."""
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {}
    for _ in range(n_boot):
        i = rng.integers(0, len(y), len(y))
        if y[i].min() == y[i].max():
            continue
        for k, v in _main_metrics(y[i], proba[i], threshold, cost).items():
            draws.setdefault(k, []).append(v)
    return {k: (float(np.quantile(v, 0.025)), float(np.quantile(v, 0.975)))
            for k, v in draws.items()}


def assess(rows: pd.DataFrame, y: np.ndarray, proba: np.ndarray, threshold: float,
           cost: CostModel, source: str, excluded: list[str] | None = None,
           n_boot: int = N_BOOT, seed: int = 0) -> Assessment:
    """The assessment of ``proba`` (aligned with ``rows`` and ``y``) at ``threshold``."""
    y = np.asarray(y).astype(int)
    proba = np.asarray(proba, dtype=float)
    if not (len(rows) == len(y) == len(proba)):
        raise ValueError(f"rows, y and proba differ in length: {len(rows)}, {len(y)}, "
                         f"{len(proba)}")
    table = fairness.fairness_report(y, proba, threshold, protected_groups(rows),
                                     n_boot=min(n_boot, fairness.N_BOOT), seed=seed)
    calibration = reliability.calibration_metrics(y, proba)
    values = {**_main_metrics(y, proba, threshold, cost),
              **{k: v for k, v in calibration.items() if k != "brier"},
              **fairness.fairness_metrics(table), "threshold": float(threshold)}
    return Assessment(source, len(y), float(threshold), values,
                      intervals(y, proba, threshold, cost, n_boot, seed),
                      reliability.deciles(y, proba), table, list(excluded or []))
