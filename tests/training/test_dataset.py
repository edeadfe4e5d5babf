"""Folds and test part of the labelled clients."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scoring.tables import DataError
from training import dataset


def test_folds_are_stratified_and_fixed_by_the_seed():
    rng = np.random.default_rng(0)
    y = (rng.random(5_000) < 0.08).astype(int)
    fold = dataset.folds(y, 5, seed=0)
    assert sorted(np.unique(fold)) == [0, 1, 2, 3, 4]
    positives = np.bincount(fold, weights=y)
    assert positives.max() - positives.min() <= 1
    np.testing.assert_array_equal(fold, dataset.folds(y, 5, seed=0))
    assert (fold != dataset.folds(y, 5, seed=1)).any()


def test_folds_need_enough_clients_of_each_class():
    with pytest.raises(DataError, match="5 folds need at least 5 clients of each class"):
        dataset.folds(np.array([0] * 50 + [1] * 3), 5)


def test_auto_test_share_keeps_small_data_in_the_folds():
    assert dataset.held_out_share(None, 24_587) == 0
    assert dataset.held_out_share(None, 307_511) == dataset.LARGE_TEST_SHARE
    assert dataset.held_out_share(0.2, 1_000) == 0.2
    with pytest.raises(ValueError, match="0.7"):
        dataset.held_out_share(0.7, 1_000)


def test_hold_out_is_disjoint_and_stratified():
    frame = pd.DataFrame({"SK_ID_CURR": range(2_000), "TARGET": [1] * 200 + [0] * 1_800})
    rest, test = dataset.hold_out(frame, 0.25, seed=0)
    assert len(test) == 500 and test["TARGET"].sum() == 50
    assert set(rest["SK_ID_CURR"]).isdisjoint(test["SK_ID_CURR"])
    whole, none = dataset.hold_out(frame, 0.0)
    assert whole is frame and none is None
