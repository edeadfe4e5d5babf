"""Cross-validation of the candidates, refit rounds and monotone constraints (small data)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training import dataset
from training import train as fit


@pytest.fixture(scope="module")
def data() -> fit.Split:
    rng = np.random.default_rng(0)
    n = 1_500
    X = pd.DataFrame({"EXT_SOURCE_1": rng.random(n), "INST_DPD_MEAN": rng.exponential(3, n),
                      "noise": rng.normal(size=n),
                      "kind": pd.Categorical(rng.choice(["a", "b", None], n))})
    logit = -2.5 - 3 * (X["EXT_SOURCE_1"] - 0.5) + 0.2 * X["INST_DPD_MEAN"]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return fit.Split(X, y)


def test_fold_pairs_partition_the_clients():
    fold = np.array([0, 1, 2, 0, 1, 2, 2])
    pairs = fit.fold_pairs(fold)
    assert len(pairs) == 3
    for train, held in pairs:
        assert set(train).isdisjoint(held) and len(train) + len(held) == len(fold)
    assert sorted(np.concatenate([h for _, h in pairs])) == list(range(len(fold)))


def test_dummy_oof_is_the_other_folds_default_rate(data):
    fold = dataset.folds(data.y, 3, seed=0)
    oof = fit.cv_dummy(data, fold).oof
    for k in range(3):
        assert np.allclose(oof[fold == k], data.y[fold != k].mean())


def test_lightgbm_oof_margins_rank_unseen_clients(data):
    from sklearn.metrics import roc_auc_score

    fold = dataset.folds(data.y, 3, seed=0)
    params = fit.lightgbm_params({"num_leaves": 4, "learning_rate": 0.1}, num_threads=1)
    result = fit.cv_lightgbm(data, fold, params, max_rounds=300, patience=20)
    assert 1 <= result.rounds < 300
    assert roc_auc_score(data.y, result.oof) > 0.65
    # margins, not probabilities: calibration comes after
    assert result.oof.min() < 0 and (result.oof < -1).mean() > 0.5
    # the same folds and parameters give the same OOF predictions
    again = fit.cv_lightgbm(data, fold, params, max_rounds=300, patience=20)
    np.testing.assert_array_equal(result.oof, again.oof)


def test_refit_rounds_scale_by_k_over_k_minus_one():
    assert fit.refit_rounds(100, 5) == 125
    assert fit.refit_rounds(100, 2) == 200
    assert fit.refit_rounds(1, 10) == 1


def test_refit_uses_the_given_rounds(data):
    params = fit.lightgbm_params({"num_leaves": 4, "num_iterations": 999}, num_threads=1)
    booster = fit.refit_lightgbm(data, params, 37)
    assert booster.num_trees() == 37


def test_monotone_constraints_follow_the_rules():
    columns = ["EXT_SOURCE_2", "EXT_SOURCE_MEAN", "EXT_SOURCE_MISSING", "INST_DPD_MEAN",
               "POS_SK_DPD_DEF_MAX", "BURO_CREDIT_DAY_OVERDUE_MAX", "BURO_DEBT_CREDIT_RATIO_MAX",
               "ANNUITY_INCOME_RATIO", "CREDIT_INCOME_RATIO", "AMT_CREDIT"]
    assert fit.monotone_constraints(columns) == [-1, -1, 0, 1, 1, 1, 1, 1, 0, 0]


def test_monotone_model_never_raises_risk_with_the_external_score(data):
    params = fit.lightgbm_params({"num_leaves": 8}, num_threads=1)
    params["monotone_constraints"] = fit.monotone_constraints(list(data.X.columns))
    booster = fit.refit_lightgbm(data, params, 60)
    grid = pd.concat([data.X.head(50)] * 21, ignore_index=True)
    grid["EXT_SOURCE_1"] = np.repeat(np.linspace(0, 1, 21), 50)
    margin = booster.predict(grid, raw_score=True).reshape(21, 50)
    assert (np.diff(margin, axis=0) <= 1e-12).all()


def test_search_returns_the_best_trial_with_its_oof(data):
    from sklearn.metrics import roc_auc_score

    fold = dataset.folds(data.y, 3, seed=0)
    seen = []
    best = fit.tune_lightgbm(data, fold, 3, None, fit.lightgbm_params(num_threads=1),
                             {"max_bin": 63}, seed=0,
                             on_trial=lambda n, p, auc: seen.append(auc))
    assert len(seen) == 3
    assert best.params["max_bin"] == 63
    mean_auc = np.mean([roc_auc_score(data.y[fold == k], best.oof[fold == k])
                        for k in range(3)])
    assert mean_auc == pytest.approx(max(seen))
