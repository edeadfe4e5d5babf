"""The served model's request decoding, in process: same inputs as training, clean errors."""

from __future__ import annotations

import math

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException

from scoring.features import (
    CATEGORIES,
    HISTORY_FEATURES,
    history_matrix,
    pack_history,
    to_model_frame,
)
from scoring.store import read_store
from serving.model import read_request


@pytest.fixture(scope="module")
def model(system):
    return mlflow.pyfunc.load_model("models:/credit-scoring@champion").unwrap_python_model()


@pytest.fixture(scope="module")
def rows(system) -> pd.DataFrame:
    return read_store(system.store).head(1_500).drop(columns=["TARGET", "DATASET"])


def _codes(frame: pd.DataFrame) -> np.ndarray:
    """A training frame as LightGBM reads it: categories as their codes, NaN when missing."""
    out = np.empty(frame.shape)
    for j, (name, dtype) in enumerate(frame.dtypes.items()):
        if isinstance(dtype, pd.CategoricalDtype):
            codes = frame[name].cat.codes.to_numpy(dtype="float64")
            out[:, j] = np.where(codes < 0, np.nan, codes)
        else:
            out[:, j] = frame[name].to_numpy(dtype="float64", na_value=np.nan)
    return out


def test_served_inputs_equal_the_training_frame(model, rows):
    """No training/serving skew: the matrix the served model builds from a request is the
    training frame (``to_model_frame``) cell for cell, and the booster agrees on both."""
    matrix = model.layout.matrix(read_request(pack_history(rows)))
    frame = to_model_frame(rows, model.layout.features)
    np.testing.assert_array_equal(matrix, _codes(frame))
    np.testing.assert_allclose(model.booster.predict(matrix, raw_score=True),
                               model.booster.predict(frame, raw_score=True), rtol=1e-12)


def test_reason_values_are_readable(model, rows):
    """A category's value reads as its level, a number as a float, a missing one as None."""
    matrix = model.layout.matrix(read_request(pack_history(rows.head(50))))
    name = next(n for n in model.layout.features if n in CATEGORIES)
    j = model.layout.features.index(name)
    for i, expected in enumerate(rows[name].head(50)):
        value = model.layout.value(matrix, i, j)
        assert value == (None if pd.isna(expected) else expected)
    j = model.layout.features.index("AMT_CREDIT")
    assert model.layout.value(matrix, 0, j) == float(rows["AMT_CREDIT"].iloc[0])


def test_history_matrix_reads_objects_json_and_nothing():
    a, b = HISTORY_FEATURES[:2]
    got = history_matrix([{a: 3, b: None}, None, f'{{"{a}": 1.5}}', {}, {a: math.nan}])
    assert got.shape == (5, len(HISTORY_FEATURES))
    assert got[0, 0] == 3 and got[2, 0] == 1.5
    assert np.isnan(got[0, 1]) and np.isnan(got[1]).all() and np.isnan(got[3:]).all()


@pytest.mark.parametrize(("history", "message"), [
    ({"NOT_A_FEATURE": 1}, "history: unknown feature 'NOT_A_FEATURE'"),
    ({HISTORY_FEATURES[0]: "1.5"}, f"history.{HISTORY_FEATURES[0]}: expects a number"),
    ({HISTORY_FEATURES[0]: [1]}, f"history.{HISTORY_FEATURES[0]}: expects a number"),
    ({HISTORY_FEATURES[0]: math.inf}, f"history.{HISTORY_FEATURES[0]}: infinite value"),
    (3, "history: expects an object"),
    ("{not json", "history: not a JSON object"),
])
def test_history_matrix_names_the_bad_value(history, message):
    with pytest.raises(ValueError, match=message.replace(".", r"\.").replace("[", r"\[")):
        history_matrix([history])


def test_read_request_names_the_first_bad_field(rows):
    request = pack_history(rows.head(3))
    request.loc[request.index[1], "NAME_CONTRACT_TYPE"] = "Mortgage"
    with pytest.raises(MlflowException, match="NAME_CONTRACT_TYPE: unknown value 'Mortgage'"):
        read_request(request)
    request = pack_history(rows.head(3)).astype({"AMT_CREDIT": object})
    request.loc[request.index[2], "AMT_CREDIT"] = "a lot"
    with pytest.raises(MlflowException, match="AMT_CREDIT: expects a number, got 'a lot'"):
        read_request(request)


def test_absent_optional_field_reads_as_missing(system, rows):
    """Callers may leave out optional fields they do not know; required ones stay required."""
    model = mlflow.pyfunc.load_model("models:/credit-scoring@champion")
    request = pack_history(rows.head(4)).assign(EXT_SOURCE_1=None)
    full = model.predict(request, params={"explain": "none"})
    short = model.predict(request.drop(columns="EXT_SOURCE_1"), params={"explain": "none"})
    np.testing.assert_array_equal(full["probability"], short["probability"])
    with pytest.raises(MlflowException, match="AMT_CREDIT"):
        model.predict(request.drop(columns="AMT_CREDIT"))
