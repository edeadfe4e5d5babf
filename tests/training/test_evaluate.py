"""Business cost and threshold: the fast exact curve against brute force."""

from __future__ import annotations

import numpy as np
import pytest

from training.evaluate import CostModel, evaluate


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cost_curve_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    y = rng.random(400) < 0.1
    proba = np.round(rng.random(400), 2)  # ties on purpose
    cost = CostModel(10, 1)
    thresholds, values = cost.curve(y, proba)
    brute = [cost.per_application(y, proba, t) for t in thresholds]
    np.testing.assert_allclose(values, brute)
    best = cost.best_threshold(y, proba)
    assert cost.per_application(y, proba, best) == pytest.approx(min(brute))


def test_cost_ratio_moves_the_threshold():
    rng = np.random.default_rng(3)
    y = rng.random(2000) < 0.1
    proba = np.clip(0.1 + 0.3 * (y - 0.1) + rng.normal(0, 0.1, 2000), 0, 1)
    assert CostModel(20, 1).best_threshold(y, proba) <= CostModel(2, 1).best_threshold(
        y, proba)


def test_costs_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        CostModel(0, 1)


def test_evaluate_reports_every_metric():
    y = np.array([0, 0, 1, 1, 0, 1])
    proba = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9])
    m = evaluate(y, proba, 0.3, CostModel(10, 1))
    assert set(m) == {"roc_auc", "pr_auc", "accuracy", "recall", "precision",
                      "business_cost", "brier", "threshold"}
    assert m["recall"] == 1.0 and m["precision"] == 0.75
    assert m["business_cost"] == pytest.approx(1 / 6)
