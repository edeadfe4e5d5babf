"""Calibration of margins: the choice by cross-fitted Brier score and the served map."""

from __future__ import annotations

import numpy as np
import pytest

from serving.model import calibrated
from training.calibrator import Calibrator, choose, cross_fitted, cross_fitted_brier


def _margins(n: int = 6_000, seed: int = 0, scale: float = 1.0):
    rng = np.random.default_rng(seed)
    margin = rng.normal(-2.5, 1.2, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-scale * margin))).astype(int)
    return margin, y, rng.integers(0, 5, n)


@pytest.mark.parametrize("method", ["none", "platt", "isotonic"])
def test_served_model_applies_the_same_map(method):
    margin, y, _ = _margins()
    fitted = Calibrator(method).fit(margin, y)
    probe = np.linspace(-8, 4, 101)
    np.testing.assert_allclose(calibrated(probe, fitted.to_config()), fitted.predict(probe))
    assert (np.diff(fitted.predict(probe)) >= 0).all()


def test_overconfident_margins_are_recalibrated():
    margin, y, fold = _margins(scale=0.5)  # the true log-odds are half the margins
    fitted, briers = choose(margin, y, fold)
    assert fitted.method in ("platt", "isotonic")
    assert briers[fitted.method] < briers["none"]
    a, _ = Calibrator("platt").fit(margin, y).platt_
    assert a == pytest.approx(0.5, abs=0.1)


def test_cross_fitting_gives_isotonic_no_credit_for_fitting_its_own_data():
    margin, y, fold = _margins(n=2_000, seed=3)
    in_sample = np.mean((Calibrator("isotonic").fit(margin, y).predict(margin) - y) ** 2)
    assert cross_fitted_brier(margin, y, fold, "isotonic") > in_sample


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="sigmoid"):
        Calibrator("sigmoid").fit(np.zeros(4), np.array([0, 1, 0, 1]))


def test_cross_fitted_probabilities_calibrate_each_fold_on_the_others():
    rng = np.random.default_rng(4)
    margin = rng.normal(-2.5, 1.0, 3_000)
    y = (rng.random(3_000) < 1 / (1 + np.exp(-margin))).astype(int)
    fold = np.arange(3_000) % 3
    proba = cross_fitted(margin, y, fold, "isotonic")
    held = fold == 1
    alone = Calibrator("isotonic").fit(margin[~held], y[~held]).predict(margin[held])
    assert np.array_equal(proba[held], alone)
    # the in-sample isotonic map scores its own margins better than any honest estimate
    in_sample = Calibrator("isotonic").fit(margin, y).predict(margin)
    assert np.mean((in_sample - y) ** 2) < np.mean((proba - y) ** 2)
