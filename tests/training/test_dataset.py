"""Folds and test part of the labelled clients."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scoring import features as F
from scoring.tables import DataError
from training import dataset
from training import train as fit


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


@pytest.fixture(scope="module")
def store_path_of_rows(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The feature store of 3,000 generated clients."""
    from scoring.store import build_store
    from synthetic.generator import generate

    folder = tmp_path_factory.mktemp("float32")
    generate(3_000, seed=1, out_dir=folder / "raw", fmt="parquet")
    build_store(folder / "raw", folder / "features")
    return folder / "features"


@pytest.fixture(scope="module")
def store_rows(store_path_of_rows: Path) -> pd.DataFrame:
    """Its labelled rows."""
    return dataset.load_labelled(store_path_of_rows)


def test_model_inputs_are_the_model_frame_in_float32(store_rows: pd.DataFrame) -> None:
    """Built in pieces into one float32 block: the values and categories of
    ``to_model_frame`` (float64), rounded to float32, in its column order."""
    features = F.model_features(store_rows.columns)
    data = dataset.model_inputs(store_rows, features, chunk=700)
    full = F.to_model_frame(store_rows, features)
    assert list(data.X.columns) == list(full.columns)
    numbers = [c for c in full.columns if full[c].dtype == "float64"]
    assert (data.X[numbers].dtypes == "float32").all()
    expected = full.astype({c: "float32" for c in numbers})
    pd.testing.assert_frame_equal(data.X, expected)
    assert data.y.tolist() == store_rows["TARGET"].tolist()


def test_float32_inputs_keep_the_probabilities(store_rows: pd.DataFrame) -> None:
    """LightGBM bins the values: fitted on float32 inputs, the model's probabilities stay
    within 0.01 of the float64 model's (most are identical)."""
    features = F.model_features(store_rows.columns)
    small = dataset.model_inputs(store_rows, features)
    full = F.to_model_frame(store_rows, features)
    params = fit.lightgbm_params({"num_threads": 1})
    proba = [fit.refit_lightgbm(fit.Split(X, small.y), params, 100).predict(full)
             for X in (small.X, full)]
    gap = np.abs(proba[0] - proba[1])
    assert gap.max() < 0.01, gap.max()
    assert np.median(gap) < 1e-3


def test_read_inputs_is_model_inputs_in_one_pass(store_rows: pd.DataFrame,
                                                 store_path_of_rows) -> None:
    """Read from the store piece by piece: the CV clients' model frame and the test part's
    rows are those of the labelled rows in memory."""
    features = F.model_features(store_rows.columns)
    y = store_rows["TARGET"].to_numpy()
    cv, test = dataset.hold_out_positions(y, 0.2, seed=3)
    assert len(np.intersect1d(cv, test)) == 0 and len(cv) + len(test) == len(y)
    data, test_rows, first = dataset.read_inputs(store_path_of_rows, features, cv, test, y,
                                                 chunk=500)
    expected = dataset.model_inputs(store_rows.iloc[cv], features)
    pd.testing.assert_frame_equal(data.X, expected.X)
    assert data.y.tolist() == expected.y.tolist()
    pd.testing.assert_frame_equal(test_rows, store_rows.iloc[test].reset_index(drop=True))
    assert first["SK_ID_CURR"].item() == store_rows["SK_ID_CURR"].iloc[cv[0]]


def test_lightgbm_reads_the_model_frame_in_place_and_fits_the_pandas_model(
        store_rows: pd.DataFrame) -> None:
    """LightGBM reads the model frame's float32 block in place (categories as codes), or a
    frame without one in float32 pieces of a few rows: either way the very model it fits
    from the pandas frame, same bins, trees and categories."""
    import lightgbm as lgb

    features = F.model_features(store_rows.columns)
    data = dataset.model_inputs(store_rows, features)
    number = next(c for c in data.X.columns if data.X[c].dtype == "float32")
    assert np.shares_memory(data.X[number].to_numpy(), data.matrix)
    assert any(isinstance(t, pd.CategoricalDtype) for t in data.X.dtypes)
    params = fit.lightgbm_params({"num_threads": 1})
    expected = lgb.train(params, lgb.Dataset(data.X, data.y), 40)
    for source in (data, fit.Split(data.X, data.y)):
        booster = lgb.train(params, fit.lgb_dataset(source, chunk=700), 40)
        assert booster.model_to_string() == expected.model_to_string()
        assert booster.pandas_categorical == expected.pandas_categorical
