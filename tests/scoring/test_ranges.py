"""Plausible ranges: learned from training rows, carried as JSON, checked on request blocks."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from scoring.ranges import PlausibleRanges
from scoring.request import RequestError

FIELDS = ("SK_ID_CURR", "AMT_CREDIT", "DAYS_BIRTH", "DAYS_EMPLOYED", "OWN_CAR_AGE")


def _fitted() -> PlausibleRanges:
    rows = pd.DataFrame({"SK_ID_CURR": [1, 2, 3], "AMT_CREDIT": [100.0, 300.0, 200.0],
                         "DAYS_BIRTH": [-20000, -10000, -15000],
                         "DAYS_EMPLOYED": [-1000, 365243, -3000],
                         "OWN_CAR_AGE": [np.nan, np.nan, np.nan]})
    return PlausibleRanges(FIELDS).fit(rows)


def test_ranges_widen_the_training_range_and_keep_signs():
    ranges = _fitted().ranges_
    assert ranges["AMT_CREDIT"] == (0.0, 300.0 + 10 * 300.0)  # never negative: not below 0
    assert ranges["DAYS_BIRTH"] == (-20000 - 20000, 0.0)  # days before: never positive
    assert ranges["DAYS_EMPLOYED"] == (-3000 - 3000, 365243.0)  # the placeholder stays valid
    assert "SK_ID_CURR" not in ranges and "OWN_CAR_AGE" not in ranges  # unbounded


def test_json_round_trip_gives_the_same_checks():
    fitted = _fitted()
    again = PlausibleRanges.from_json(json.loads(json.dumps(fitted.to_json())), FIELDS)
    assert again.ranges_ == fitted.ranges_
    np.testing.assert_array_equal(again.low_, fitted.low_)


def test_check_names_the_first_value_outside_its_range():
    ranges = _fitted()
    ok = np.array([[7.0, 500.0, -12000.0, -100.0, np.nan]])
    ranges.check(ok)  # NaN (missing) and unbounded fields pass
    bad = np.vstack([ok, [8.0, 500.0, 5000.0, -100.0, 3.0]])
    with pytest.raises(RequestError) as err:
        ranges.check(bad)
    e = err.value
    assert (e.field, e.code, e.value, e.low, e.high) == ("DAYS_BIRTH", "outside_range", 5000.0,
                                                         -40000.0, 0.0)
    assert "DAYS_BIRTH: value 5000 is outside the plausible range [-40000, 0]" in e.message
    assert RequestError.from_json(f"Error: {e.to_json()}") == e


def test_empty_ranges_bound_nothing():
    PlausibleRanges.from_json({}, FIELDS).check(np.full((1, len(FIELDS)), 1e30))
