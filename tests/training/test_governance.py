"""Fairness per group and calibration: hand-checked values and planted effects."""

from __future__ import annotations

import numpy as np
import pytest

from training import fairness, reliability


def planted(n: int = 6_000, seed: int = 0):
    """Calibrated probabilities; group B gets higher ones (so it is refused more often)."""
    rng = np.random.default_rng(seed)
    groups = rng.choice(["A", "B", "C"], n, p=[0.556, 0.44, 0.004])
    proba = np.minimum(rng.beta(1.0, 10.0, n) * np.where(groups == "B", 2.0, 1.0), 0.99)
    y = (rng.random(n) < proba).astype(int)
    return y, proba, groups


def test_group_table_matches_hand_counts():
    y = np.array([1, 0, 0, 0, 1, 0, 1, 0])
    proba = np.array([0.9, 0.6, 0.2, 0.1, 0.7, 0.1, 0.2, 0.3])
    groups = np.array(["A"] * 4 + ["B"] * 4)
    t = fairness.group_table(y, proba, 0.5, groups, n_boot=0).set_index("group")
    # A: refused 0.9, 0.6 -> 2/4; B: refused 0.7 -> 1/4
    assert t.loc["A", "refusal_rate"] == 0.5 and t.loc["B", "refusal_rate"] == 0.25
    assert t.loc["A", "tpr"] == 1.0 and t.loc["A", "fpr"] == pytest.approx(1 / 3)
    assert t.loc["B", "tpr"] == 0.5 and t.loc["B", "fpr"] == 0.0
    assert t.loc["B", "mean_predicted"] == pytest.approx(0.325)
    assert t.loc["A", "roc_auc"] == 1.0
    # groups of 4 are below MIN_GROUP: reported, not judged
    assert not t["judged"].any() and t["air"].isna().all()


def test_planted_disparity_gives_a_low_adverse_impact_ratio():
    y, proba, groups = planted()
    table = fairness.fairness_report(y, proba, 0.15, {"grp": groups}, n_boot=50)
    t = table.set_index("group")
    assert t.loc["B", "refusal_rate"] > 2 * t.loc["A", "refusal_rate"]
    assert t.loc["A", "air"] == 1.0 and t.loc["B", "air"] < 0.8
    assert t.loc["B", "air_low"] <= t.loc["B", "air"] <= t.loc["B", "air_high"] < 0.8
    assert not t.loc["C", "judged"]  # about 24 clients: below MIN_GROUP
    metrics = fairness.fairness_metrics(table)
    assert metrics["air_min_grp"] == pytest.approx(t.loc["B", "air"])
    page = fairness.to_html(table)
    assert "<h2>grp</h2>" in page and "class=bad" in page


def test_calibration_of_calibrated_and_miscalibrated_scores():
    y, proba, _ = planted(20_000)
    good = reliability.calibration_metrics(y, proba)
    bad = reliability.calibration_metrics(y, np.clip(proba * 2, 0, 1))
    assert good["ece"] < 0.01 and good["deciles_flagged"] <= 2
    assert bad["ece"] > 0.05 and bad["deciles_flagged"] >= 8
    table = reliability.deciles(y, proba)
    assert table["clients"].sum() == 20_000 and list(table["bin"]) == list(range(1, 11))
    assert (table["low"].diff().dropna() >= 0).all()
