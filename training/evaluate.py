"""Business cost, decision threshold and the metrics reported for every candidate model.

Pure functions of labels and probabilities: no MLflow, no files.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn import metrics


@dataclass(frozen=True)
class CostModel:
    """Cost of wrong decisions, in units of a wrongly refused good client.

    A granted loan that defaults (false negative) costs ``fn_cost``; a refused client who
    would have repaid (false positive) costs ``fp_cost``.
    """

    fn_cost: float = 10.0
    fp_cost: float = 1.0

    def __post_init__(self) -> None:
        if self.fn_cost <= 0 or self.fp_cost <= 0:
            raise ValueError(f"costs must be positive, got fn={self.fn_cost} fp={self.fp_cost}")

    def per_application(self, y: np.ndarray, proba: np.ndarray, threshold: float) -> float:
        """Mean cost per application when refusing every probability >= threshold."""
        refused = np.asarray(proba) >= threshold
        y = np.asarray(y).astype(bool)
        fn = np.sum(y & ~refused)
        fp = np.sum(~y & refused)
        return float((self.fn_cost * fn + self.fp_cost * fp) / len(y))

    def curve(self, y: np.ndarray, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cost per application for every candidate threshold (sorted distinct scores).

        Computed in one pass over the sorted scores, so it is exact and O(n log n).
        """
        y = np.asarray(y).astype(bool)
        proba = np.asarray(proba, dtype=float)
        order = np.argsort(proba)
        p, t = proba[order], y[order]
        # Refusing everything from index i on: FN = positives before i, FP = negatives from i.
        pos_before = np.concatenate([[0], np.cumsum(t)])
        neg_from = np.concatenate([np.cumsum((~t)[::-1])[::-1], [0]])
        first = np.concatenate([[True], p[1:] != p[:-1]])  # a threshold is a distinct score
        idx = np.concatenate([np.flatnonzero(first), [len(p)]])
        thresholds = np.concatenate([p[first], [np.nextafter(p[-1], np.inf)]])
        cost = (self.fn_cost * pos_before[idx] + self.fp_cost * neg_from[idx]) / len(p)
        return thresholds, cost

    @property
    def analytic_threshold(self) -> float:
        """fp / (fp + fn): the cost-minimising threshold for perfectly calibrated
        probabilities (refuse when the expected loss p·fn exceeds (1-p)·fp)."""
        return self.fp_cost / (self.fp_cost + self.fn_cost)

    def best_threshold(self, y: np.ndarray, proba: np.ndarray) -> float:
        """The threshold that minimises the cost on (y, proba)."""
        thresholds, cost = self.curve(y, proba)
        return float(thresholds[int(np.argmin(cost))])


def evaluate(y: np.ndarray, proba: np.ndarray, threshold: float, cost: CostModel,
             ) -> dict[str, float]:
    """The reported metrics of probabilities ``proba`` at ``threshold``."""
    y = np.asarray(y).astype(int)
    pred = (np.asarray(proba) >= threshold).astype(int)
    return {
        "roc_auc": float(metrics.roc_auc_score(y, proba)),
        "pr_auc": float(metrics.average_precision_score(y, proba)),
        "accuracy": float(metrics.accuracy_score(y, pred)),
        "recall": float(metrics.recall_score(y, pred, zero_division=0)),
        "precision": float(metrics.precision_score(y, pred, zero_division=0)),
        "business_cost": cost.per_application(y, proba, threshold),
        "brier": float(metrics.brier_score_loss(y, proba)),
        "refusal_rate": float(pred.mean()),
        "threshold": float(threshold),
    }


#: The metrics given a bootstrap 95 % interval.
BOOTSTRAPPED = ("roc_auc", "pr_auc", "business_cost", "brier", "refusal_rate")


def bootstrap(y: np.ndarray, proba: np.ndarray, threshold: float, cost: CostModel,
              n: int = 200, seed: int = 0) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap 95 % interval of each ``BOOTSTRAPPED`` metric at a fixed threshold.

    Clients are resampled with replacement ``n`` times; the threshold is not re-chosen, so the
    interval is that of the decisions the model would take. A resample is the number of times
    each client is drawn (its weight), and each metric is computed from the weights over the
    scores sorted once: the same values as scikit-learn's on the resampled rows, 10-30 times
    faster.
    """
    y, proba = np.asarray(y).astype(bool), np.asarray(proba, dtype=float)
    rng = np.random.default_rng(seed)
    order = np.argsort(-proba, kind="stable")
    t, p = y[order], proba[order]
    group_end = np.append(p[1:] != p[:-1], True)  # last row of each run of equal scores
    refused = p >= threshold
    draws = {name: [] for name in BOOTSTRAPPED}
    for _ in range(n):
        w = np.bincount(rng.integers(0, len(y), len(y)), minlength=len(y))[order]
        tp, fp = np.cumsum(w * t)[group_end], np.cumsum(w * ~t)[group_end]
        if tp[-1] == 0 or fp[-1] == 0:
            continue
        recall, fpr = tp / tp[-1], fp / fp[-1]
        precision = np.divide(tp, tp + fp, out=np.zeros(len(tp)), where=tp + fp > 0)
        draws["roc_auc"].append(np.trapezoid(np.append(0, recall), np.append(0, fpr)))
        draws["pr_auc"].append(np.sum(np.diff(recall, prepend=0) * precision))
        fn_w, fp_w = np.sum(w[t & ~refused]), np.sum(w[~t & refused])
        draws["business_cost"].append((cost.fn_cost * fn_w + cost.fp_cost * fp_w) / len(y))
        draws["brier"].append(np.sum(w * (p - t) ** 2) / len(y))
        draws["refusal_rate"].append(np.sum(w[refused]) / len(y))
    return {name: (float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5)))
            for name, v in draws.items()}


def fold_thresholds(y: np.ndarray, proba: np.ndarray, fold: np.ndarray, cost: CostModel,
                    ) -> np.ndarray:
    """The cost-minimising threshold of each fold's clients alone: how much it varies."""
    y, proba = np.asarray(y), np.asarray(proba)
    return np.array([cost.best_threshold(y[fold == k], proba[fold == k])
                     for k in np.unique(fold)])
