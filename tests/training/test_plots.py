"""Training figures: each shows the numbers of its own data, on a figure of its own."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from training import plots
from training.evaluate import CostModel

Y = np.array([0, 0, 1, 1, 1])
PROBA = np.array([0.1, 0.6, 0.7, 0.2, 0.9])


def test_confusion_matrix_writes_the_hand_counted_cells():
    """At 0.5: one repaid client granted, one refused; one defaulter granted, two refused."""
    fig = plots.confusion(Y, PROBA, 0.5)
    cells = [t.get_text() for t in fig.axes[0].texts]
    assert cells == ["1\n(50%)", "1\n(50%)", "1\n(33%)", "2\n(67%)"]
    assert fig.axes[0].get_title() == "Confusion matrix at 0.500"


def test_roc_curve_states_the_auc_of_its_data():
    fig = plots.roc_curve(Y, PROBA)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels[0] == f"model (AUC {roc_auc_score(Y, PROBA):.3f})"  # 5 of 6 pairs: 0.833


def test_cost_curve_marks_the_chosen_and_the_analytic_threshold():
    cost = CostModel(10.0, 1.0)
    fig = plots.cost_curve(Y, PROBA, cost, 0.3, np.array([0.2, 0.4]))
    verticals = [line.get_xdata()[0] for line in fig.axes[0].get_lines()
                 if len(set(line.get_xdata())) == 1 and len(line.get_xdata()) == 2]
    assert verticals == pytest.approx([0.3, 1 / 11])


def test_shap_summary_ranks_the_features_on_a_figure_of_its_own():
    rng = np.random.default_rng(0)
    confusion = plots.confusion(Y, PROBA, 0.5)
    frame = pd.DataFrame({"a": rng.random(300), "b": pd.Categorical(rng.choice(["x", "y"], 300)),
                          "c": rng.random(300)})
    contributions = rng.normal(size=(300, 3)) * [0.1, 1.0, 0.01]  # b, then a, then c
    summary = plots.shap_summary(contributions, frame)
    assert summary is not confusion and len(confusion.axes) == 1
    ranked = [t.get_text() for t in summary.axes[0].get_yticklabels()]
    assert ranked == ["c", "a", "b"]  # drawn bottom-up: the largest mean |SHAP| on top
