"""Population stability (PSI / CSI): known samples, planted shifts, missing values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scoring.stability import band, psi, stability_table


def test_psi_is_zero_for_identical_samples_and_high_for_a_shifted_one():
    rng = np.random.default_rng(0)
    x = rng.normal(size=5_000)
    assert psi(x, x) == 0.0
    assert psi(x, rng.normal(size=5_000)) < 0.1
    assert psi(x, x + 1.0) > 0.25
    cats = pd.Series(rng.choice(["a", "b", "c"], 5_000))
    assert psi(cats, cats) == 0.0
    assert psi(cats, pd.Series(rng.choice(["a", "b", "c"], 5_000, p=[0.7, 0.2, 0.1]))) > 0.25
    assert [band(v) for v in (0.05, 0.1, 0.2, 0.3)] == ["stable", "moderate", "moderate",
                                                         "significant"]


def test_psi_counts_missing_values_as_a_bin():
    x = np.arange(1000.0)
    half_missing = np.where(x % 2 == 0, np.nan, x)
    assert psi(x, half_missing) > 0.25
    table = stability_table(pd.DataFrame({"score": x}), pd.DataFrame({"score": x}))
    assert table.to_dict("records") == [{"column": "score", "index": 0.0, "band": "stable"}]
    with pytest.raises(KeyError, match="lacks column"):
        stability_table(pd.DataFrame({"a": x}), pd.DataFrame({"b": x}))
