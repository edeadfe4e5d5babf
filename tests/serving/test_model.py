"""The served model's request decoding, in process: same inputs as training, clean errors."""

from __future__ import annotations

import math
import os
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException

from scoring.features import (
    CATEGORIES,
    HISTORY_FEATURES,
    to_model_frame,
)
from scoring.request import history_matrix, pack_history
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


_OUTSIDE = '''
import sys
# Forget this checkout: its editable install, its folder on the path.
sys.meta_path = [f for f in sys.meta_path if "editable" not in type(f).__module__ + repr(f)]
sys.path = [p for p in sys.path if p not in ("", sys.argv[3]) and "__editable__" not in p]
import importlib.util
assert importlib.util.find_spec("serving") is None and importlib.util.find_spec("ops") is None
import mlflow, pandas as pd
model = mlflow.pyfunc.load_model(sys.argv[1])
out = model.predict(pd.read_pickle(sys.argv[2]), params={"explain": "top-k", "top_k": 3})
import scoring, predlog  # the copies shipped with the model
print(out["probability"].round(12).tolist())
print(sorted(m for m in sys.modules if m.split(".")[0] in
             ("scoring", "serving", "training", "ops", "cli", "dashboard", "monitoring")))
'''


def test_logged_model_scores_outside_the_checkout_with_the_core_only(system, tmp_path):
    """The logged model ships the core package and the prediction log, nothing else of ours:
    copied outside the checkout, with the project not importable, it scores and logs."""
    import subprocess
    import sys

    from mlflow.artifacts import download_artifacts

    from testkit import ROOT

    model_dir = Path(download_artifacts("models:/credit-scoring@champion",
                                        dst_path=str(tmp_path / "model")))
    shipped = {p.name for p in (model_dir / "code").iterdir()}
    assert shipped == {"scoring", "predlog.py"}
    assert not any((model_dir / "code" / "scoring").glob("cli*"))
    rows = read_store(system.store).head(4)
    request = pack_history(rows)
    request.to_pickle(tmp_path / "request.pkl")
    log = tmp_path / "log"
    env = {**os.environ, "SCORING_PREDICTION_LOG": str(log), "PYTHONPATH": ""}
    out = subprocess.run([sys.executable, "-c", _OUTSIDE, str(model_dir),
                          str(tmp_path / "request.pkl"), str(ROOT)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    probabilities, modules = out.stdout.strip().splitlines()[-2:]
    local = mlflow.pyfunc.load_model("models:/credit-scoring@champion").predict(
        request, params={"explain": "none"})
    assert eval(probabilities) == pytest.approx(local["probability"].tolist(), abs=1e-9)
    assert "serving" not in modules and "ops" not in modules, modules
    written = list(log.glob("*.parquet"))
    assert written and sum(len(pd.read_parquet(p)) for p in written) == 4


def test_read_request_takes_objects_as_a_frame_and_refuses_what_json_allows(rows):
    """The HTTP form (``inputs``: one object per application) gives the frame's arrays; a
    JSON boolean, a numeric text, an integer beyond any float, an unknown field are refused,
    and an offending value is quoted cut short."""
    from scoring.request import RequestError, to_inputs

    frame = pack_history(rows.head(20))
    records = to_inputs(rows.head(20))
    got, want = read_request(records), read_request(frame)
    for name in ("numbers", "codes", "history"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name))
    for changes, field, code in [({"AMT_CREDIT": True}, "AMT_CREDIT", "not_a_number"),
                                 ({"AMT_CREDIT": "1.5"}, "AMT_CREDIT", "not_a_number"),
                                 ({"AMT_CREDIT": 10**400}, "AMT_CREDIT", "outside_range"),
                                 ({"AMT_CREDITT": 1}, "AMT_CREDITT", "unknown_field"),
                                 ({"CODE_GENDER": "x" * 10**6}, "CODE_GENDER", "unknown_level"),
                                 ({"history": {HISTORY_FEATURES[0]: False}},
                                  f"history.{HISTORY_FEATURES[0]}", "not_a_number"),
                                 ({"history": {HISTORY_FEATURES[0]: 10**400}},
                                  f"history.{HISTORY_FEATURES[0]}", "not_a_number")]:
        with pytest.raises(MlflowException) as caught:
            read_request([{**records[0], **changes}])
        error = RequestError.from_json(caught.value.message)
        assert (error.field, error.code) == (field, code)
        assert len(caught.value.message) < 1_000
    with pytest.raises(MlflowException, match="expects a list of application objects"):
        read_request({"AMT_CREDIT": 1})
