"""Calibration of probabilities: expected calibration error, Brier score, and observed against
predicted default rates per score decile with an exact binomial test.

Pure: labels and probabilities in, numbers and tables out (the diagram is in ``plots.py``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import binomtest
from sklearn.metrics import brier_score_loss

#: A decile whose binomial test p-value is below this is flagged as miscalibrated.
ALPHA = 0.05


def deciles(y: np.ndarray, proba: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """One row per score quantile bin (lowest scores first): clients, defaults, mean predicted
    and observed default rate, and the two-sided exact binomial p-value of the observed
    defaults under the mean predicted probability (``flag`` when below ``ALPHA``)."""
    y = np.asarray(y).astype(int)
    proba = np.asarray(proba, dtype=float)
    if len(y) != len(proba) or len(y) == 0:
        raise ValueError(f"y and proba must be non-empty and of one length: {len(y)}, "
                         f"{len(proba)}")
    order = np.argsort(proba, kind="stable")
    rows = []
    for i, idx in enumerate(np.array_split(order, min(bins, len(y)))):
        n, k, p = len(idx), int(y[idx].sum()), float(proba[idx].mean())
        p_value = binomtest(k, n, min(max(p, 1e-12), 1 - 1e-12)).pvalue
        rows.append({"bin": i + 1, "clients": n, "low": float(proba[idx].min()),
                     "high": float(proba[idx].max()), "predicted": p,
                     "observed": k / n, "defaults": k, "p_value": float(p_value),
                     "flag": bool(p_value < ALPHA)})
    return pd.DataFrame(rows)


def expected_calibration_error(y: np.ndarray, proba: np.ndarray, bins: int = 10) -> float:
    """ECE over equal-count bins: the client-weighted mean |observed - predicted|."""
    table = deciles(y, proba, bins)
    weights = table["clients"] / table["clients"].sum()
    return float((weights * (table["observed"] - table["predicted"]).abs()).sum())


def calibration_metrics(y: np.ndarray, proba: np.ndarray, bins: int = 10) -> dict[str, float]:
    """ECE, Brier score, mean predicted and observed rate, and the number of flagged deciles."""
    table = deciles(y, proba, bins)
    weights = table["clients"] / table["clients"].sum()
    return {"ece": float((weights * (table["observed"] - table["predicted"]).abs()).sum()),
            "brier": float(brier_score_loss(np.asarray(y).astype(int), proba)),
            "mean_predicted": float(np.mean(proba)), "observed_rate": float(np.mean(y)),
            "deciles_flagged": float(table["flag"].sum())}
