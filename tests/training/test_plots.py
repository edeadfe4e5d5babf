"""Training figures: each plot gets a figure of its own."""

from __future__ import annotations

import numpy as np
import pandas as pd

from training import plots


def test_shap_summary_never_draws_on_an_open_figure():
    rng = np.random.default_rng(0)
    y, proba = rng.random(300) < 0.2, rng.random(300)
    confusion = plots.confusion(y, proba, 0.5)
    frame = pd.DataFrame({"a": rng.random(300), "b": pd.Categorical(rng.choice(["x", "y"], 300))})
    summary = plots.shap_summary(rng.normal(size=(300, 2)), frame)
    assert summary is not confusion
    assert len(confusion.axes) == 1
    assert [t.get_text() for t in summary.axes[0].get_yticklabels()] != []
