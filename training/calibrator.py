"""Probability calibration of LightGBM margins: none, Platt (logistic) or isotonic.

The method is chosen on out-of-fold (OOF) margins by a cross-fitted Brier score: each fold is
calibrated by a map fitted on the other folds, so the flexible isotonic map gets no credit for
fitting the very predictions it is judged on. The served model applies the map to its margins
(``to_config``, applied by ``scoring.calibration.calibrated`` in both).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss

from scoring.calibration import calibrated

METHODS = ("none", "platt", "isotonic")


class Calibrator:
    """A monotone map from margins (log-odds) to probabilities, scikit-learn style."""

    def __init__(self, method: str = "platt") -> None:
        self.method = method

    def fit(self, margin: np.ndarray, y: np.ndarray) -> Calibrator:
        if self.method not in METHODS:
            raise ValueError(f"calibration method must be one of {METHODS}, got {self.method!r}")
        margin = np.asarray(margin, dtype=float)
        if self.method == "platt":
            model = LogisticRegression(C=1e6, max_iter=1000).fit(margin.reshape(-1, 1), y)
            self.platt_ = (float(model.coef_[0, 0]), float(model.intercept_[0]))
        elif self.method == "isotonic":
            model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
            model.fit(margin, y)
            self.knots_ = (model.X_thresholds_.tolist(), model.y_thresholds_.tolist())
        return self

    def predict(self, margin: np.ndarray) -> np.ndarray:
        """Probabilities of default for ``margin``."""
        return calibrated(margin, self.to_config())

    def to_config(self) -> Any:
        """What the served model's config holds: None, [a, b] (Platt) or the isotonic knots."""
        if self.method == "platt":
            return list(self.platt_)
        if self.method == "isotonic":
            return {"method": "isotonic", "x": self.knots_[0], "y": self.knots_[1]}
        return None


def cross_fitted(margin: np.ndarray, y: np.ndarray, fold: np.ndarray, method: str,
                 ) -> np.ndarray:
    """Probabilities of ``method`` with each fold calibrated on the other folds' margins:
    out of sample for the calibration too (an isotonic map fitted on every OOF margin would
    flatter the AUC and the cost it is reported with)."""
    margin, y = np.asarray(margin, dtype=float), np.asarray(y)
    proba = np.empty(len(y))
    for k in np.unique(fold):
        held = fold == k
        proba[held] = Calibrator(method).fit(margin[~held], y[~held]).predict(margin[held])
    return proba


def cross_fitted_brier(margin: np.ndarray, y: np.ndarray, fold: np.ndarray, method: str,
                       ) -> float:
    """Brier score of ``method`` when each fold is calibrated on the other folds' margins."""
    return float(brier_score_loss(y, cross_fitted(margin, y, fold, method)))


def choose(margin: np.ndarray, y: np.ndarray, fold: np.ndarray,
           methods: tuple[str, ...] = METHODS) -> tuple[Calibrator, dict[str, float]]:
    """The method with the lowest cross-fitted Brier score, refitted on every OOF margin, and
    the score of each method."""
    briers = {m: cross_fitted_brier(margin, y, fold, m) for m in methods}
    best = min(briers, key=briers.get)
    return Calibrator(best).fit(margin, y), briers
