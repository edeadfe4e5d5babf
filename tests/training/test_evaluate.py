"""Business cost and threshold: the fast exact curve against brute force."""

from __future__ import annotations

import numpy as np
import pytest

from training.evaluate import CostModel, bootstrap, evaluate, fold_thresholds


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
                      "business_cost", "brier", "refusal_rate", "threshold"}
    assert m["recall"] == 1.0 and m["precision"] == 0.75
    assert m["refusal_rate"] == pytest.approx(4 / 6)
    assert m["business_cost"] == pytest.approx(1 / 6)


def test_analytic_threshold_is_fp_over_fp_plus_fn():
    assert CostModel(10, 1).analytic_threshold == pytest.approx(1 / 11)
    assert CostModel(3, 2).analytic_threshold == pytest.approx(0.4)


def test_calibrated_probabilities_put_the_best_threshold_near_the_analytic_one():
    rng = np.random.default_rng(5)
    proba = rng.beta(1, 10, 100_000)
    y = rng.random(100_000) < proba
    assert CostModel(10, 1).best_threshold(y, proba) == pytest.approx(1 / 11, abs=0.01)


def test_bootstrap_intervals_hold_the_estimate_and_narrow_with_more_clients():
    rng = np.random.default_rng(0)

    def sample(n):
        y = rng.random(n) < 0.1
        return y, np.clip(0.1 + 0.2 * (y - 0.1) + rng.normal(0, 0.1, n), 0, 1)

    cost = CostModel(10, 1)
    widths = []
    for n in (1_000, 16_000):
        y, proba = sample(n)
        point = evaluate(y, proba, 0.15, cost)
        ci = bootstrap(y, proba, 0.15, cost, n=100, seed=0)
        assert set(ci) == {"roc_auc", "pr_auc", "business_cost", "brier", "refusal_rate"}
        for name, (low, high) in ci.items():
            assert low <= point[name] <= high, name
        widths.append(ci["roc_auc"][1] - ci["roc_auc"][0])
    assert widths[1] < widths[0] / 2


def test_fold_thresholds_are_each_folds_own_optimum():
    rng = np.random.default_rng(1)
    y = rng.random(3_000) < 0.1
    proba = np.clip(0.1 + 0.3 * (y - 0.1) + rng.normal(0, 0.1, 3_000), 0, 1)
    fold = rng.integers(0, 3, 3_000)
    cost = CostModel(10, 1)
    found = fold_thresholds(y, proba, fold, cost)
    assert len(found) == 3
    for k in range(3):
        assert found[k] == cost.best_threshold(y[fold == k], proba[fold == k])


def test_bootstrap_matches_scikit_learn_on_the_same_resamples():
    """The weighted computation gives scikit-learn's metrics of the resampled rows, ties
    included (scores rounded to 2 decimals)."""
    from sklearn import metrics

    rng = np.random.default_rng(3)
    y = (rng.random(600) < 0.1).astype(int)
    proba = np.round(np.clip(rng.normal(0.1 + 0.1 * y, 0.08), 0, 1), 2)
    cost = CostModel()
    ci = bootstrap(y, proba, 0.12, cost, n=40, seed=5)
    rng_draws = np.random.default_rng(5)
    aucs, aps, costs = [], [], []
    for _ in range(40):
        idx = rng_draws.integers(0, len(y), len(y))
        ys, ps = y[idx], proba[idx]
        aucs.append(metrics.roc_auc_score(ys, ps))
        aps.append(metrics.average_precision_score(ys, ps))
        costs.append(cost.per_application(ys, ps, 0.12))
    for name, values in (("roc_auc", aucs), ("pr_auc", aps), ("business_cost", costs)):
        assert ci[name] == pytest.approx((np.percentile(values, 2.5),
                                          np.percentile(values, 97.5)), rel=1e-12)
