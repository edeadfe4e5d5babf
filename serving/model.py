"""The served scoring model: an MLflow pyfunc model logged from this file (model from code).

Input: one row per application with the raw application fields (as in ``application_test``)
and a ``history`` object holding the client's stored history features (absent or empty when
the client has none; ``scoring.features.pack_history`` builds it from store rows).
Output per row: ``probability`` of default, ``decision`` (granted / refused), ``threshold``,
``distance`` (probability minus threshold) and ``reasons``: the top contributions (feature,
label, value, contribution in log-odds) from LightGBM's own ``pred_contrib``.

Params: ``explain`` = none | top-k | all, ``top_k`` (default 10), ``threshold`` (override).
Bad input raises an ``MlflowException`` whose message names the field, so the server answers
400 with that message and no stack trace. ``predict`` never touches files or the network; the
optional prediction log (``SCORING_PREDICTION_LOG``) only queues, a thread writes.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from typing import Any

import lightgbm as lgb
import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from scipy.special import expit

from scoring.features import HISTORY_FEATURES, describe, to_model_frame, unpack_history
from scoring.schema import APPLICATION_TEST

EXPLAIN = ("none", "top-k", "all")


def _bad(message: str) -> MlflowException:
    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


_CATEGORIES = [c for c in APPLICATION_TEST.columns if c.kind == "category"]
_NUMBERS = [c for c in APPLICATION_TEST.columns if c.kind != "category"]
_NUMBER_NAMES = [c.name for c in _NUMBERS]
_REQUIRED = np.array([not c.nullable for c in _NUMBERS])
_INTEGER = np.array([c.kind == "int" for c in _NUMBERS])


def check_applications(rows: pd.DataFrame, ranges: dict[str, tuple[float, float]]) -> None:
    """Raise a 400-class error naming the first bad field.

    Checks: no rows, missing or empty required fields, non-numbers, infinite numbers,
    non-integers in integer fields, unknown category levels, numbers outside the plausible
    range. Vectorised over the numeric block, so one row costs well under a millisecond.
    """
    if len(rows) == 0:
        raise _bad("the request holds no application rows")
    absent = [c for c in APPLICATION_TEST.columns if c.name not in rows]
    if absent:
        raise _bad(f"{absent[0].name}: required field is missing ({absent[0].label})"
                   + (f"; {len(absent) - 1} more missing" if len(absent) > 1 else ""))
    for col in _CATEGORIES:
        values = rows[col.name]
        present = values[values.notna()]
        if not col.nullable and len(present) < len(values):
            raise _bad(f"{col.name}: value is missing ({col.label})")
        unknown = set(present.astype(str)) - set(col.levels)
        if unknown:
            raise _bad(f"{col.name}: unknown value {sorted(unknown)[0]!r}; expected one of "
                       f"{', '.join(map(repr, col.levels))}")
    try:
        block = rows[_NUMBER_NAMES].to_numpy(dtype="float64", na_value=np.nan)
    except (TypeError, ValueError):
        for name in _NUMBER_NAMES:
            bad = pd.to_numeric(rows[name], errors="coerce").isna() & rows[name].notna()
            if bad.any():
                raise _bad(f"{name}: expects a number, got {rows[name][bad].iloc[0]!r}"
                           ) from None
        raise
    _first_bad(np.isnan(block) & _REQUIRED, "value is missing")
    _first_bad(np.isinf(block), "infinite value")
    _first_bad(_INTEGER & np.isfinite(block) & (block != np.round(block)),
               "expects a whole number", block)
    low = np.array([ranges.get(n, (-np.inf, np.inf))[0] for n in _NUMBER_NAMES])
    high = np.array([ranges.get(n, (-np.inf, np.inf))[1] for n in _NUMBER_NAMES])
    outside = (block < low) | (block > high)
    if outside.any():
        row, j = np.argwhere(outside)[0]
        raise _bad(f"{_NUMBER_NAMES[j]}: value {block[row, j]:g} is outside the plausible "
                   f"range [{low[j]:g}, {high[j]:g}] ({_NUMBERS[j].label})")


def _first_bad(mask: np.ndarray, problem: str, block: np.ndarray | None = None) -> None:
    if mask.any():
        row, j = np.argwhere(mask)[0]
        got = f", got {block[row, j]:g}" if block is not None else ""
        raise _bad(f"{_NUMBER_NAMES[j]}: {problem}{got} ({_NUMBERS[j].label})")


def as_matrix(frame: pd.DataFrame) -> np.ndarray:
    """The model frame as floats, categories as their codes: what LightGBM does with a pandas
    frame, without its per-call cost (a Series per column costs milliseconds on 400 columns).
    """
    is_cat = np.array([isinstance(t, pd.CategoricalDtype) for t in frame.dtypes])
    out = np.empty(frame.shape, dtype="float64")
    out[:, ~is_cat] = frame.iloc[:, np.flatnonzero(~is_cat)].to_numpy(
        dtype="float64", na_value=np.nan)
    for j in np.flatnonzero(is_cat):
        codes = frame.iloc[:, j].cat.codes.to_numpy(dtype="float64")
        codes[codes < 0] = np.nan
        out[:, j] = codes
    return out


def _history_problem(rows: pd.DataFrame) -> str:
    """The message for a history feature that is not a number."""
    for name in HISTORY_FEATURES:
        if name in rows:
            bad = pd.to_numeric(rows[name], errors="coerce").isna() & rows[name].notna()
            if bad.any():
                return f"history.{name}: expects a number, got {rows[name][bad].iloc[0]!r}"
    return "history: a value is not a number"


def _params(params: dict[str, Any] | None, default_threshold: float) -> tuple[str, int, float]:
    params = params or {}
    explain = params.get("explain") or "top-k"
    if explain not in EXPLAIN:
        raise _bad(f"params.explain: {explain!r} is not one of {', '.join(EXPLAIN)}")
    top_k = int(params.get("top_k") or 10)
    if top_k < 1:
        raise _bad(f"params.top_k: must be at least 1, got {top_k}")
    threshold = params.get("threshold")
    threshold = default_threshold if threshold is None else float(threshold)
    if not 0.0 <= threshold <= 1.0:
        raise _bad(f"params.threshold: must be between 0 and 1, got {threshold}")
    return explain, top_k, threshold


def reasons(contrib: np.ndarray, frame: pd.DataFrame, top_k: int | None) -> list[list[dict]]:
    """Per row, the features with the largest absolute contributions, largest first."""
    names = list(frame.columns)
    values = frame.to_numpy(dtype=object)
    order = np.argsort(-np.abs(contrib), axis=1, kind="stable")[:, :top_k]
    out = []
    for i, idx in enumerate(order):
        out.append([{"feature": names[j], "label": describe(names[j]),
                     "value": _jsonable(values[i, j]), "contribution": float(contrib[i, j])}
                    for j in idx])
    return out


def _jsonable(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return value.item() if hasattr(value, "item") else value


class CreditScoringModel(mlflow.pyfunc.PythonModel):
    """LightGBM booster + application transforms + threshold, as one servable model."""

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        self.booster = lgb.Booster(model_file=context.artifacts["booster"])
        with open(context.artifacts["config"]) as fh:
            config = json.load(fh)
        self.threshold: float = config["threshold"]
        self.calibration: tuple[float, float] | None = config.get("calibration")
        self.ranges = {k: tuple(v) for k, v in config.get("ranges", {}).items()}
        self.features: list[str] = self.booster.feature_name()
        # Raw fields plus the history columns the model uses; absent history becomes missing.
        self.inputs: list[str] = config["inputs"]
        self.prediction_log = _prediction_log()

    def predict(self, context: Any, model_input: pd.DataFrame,
                params: dict[str, Any] | None = None) -> pd.DataFrame:
        explain, top_k, threshold = _params(params, self.threshold)
        check_applications(model_input, self.ranges)
        try:
            rows = unpack_history(model_input)
        except ValueError as err:
            raise _bad(str(err)) from None
        try:  # the raw fields were checked above: a failure here is a history value
            frame = to_model_frame(rows.reindex(columns=self.inputs), self.features)
            matrix = as_matrix(frame)
        except (TypeError, ValueError):
            raise _bad(_history_problem(rows)) from None
        margin = self.booster.predict(matrix, raw_score=True)
        if self.calibration:
            a, b = self.calibration
            margin = a * margin + b
        proba = expit(margin)
        out = pd.DataFrame({
            "probability": proba,
            "decision": np.where(proba >= threshold, "refused", "granted"),
            "threshold": threshold,
            "distance": proba - threshold,
        })
        if explain != "none":
            contrib = self.booster.predict(matrix, pred_contrib=True)[:, :-1]
            if self.calibration:  # keep contributions additive on the calibrated log-odds
                contrib = contrib * self.calibration[0]
            out["reasons"] = reasons(contrib, frame, None if explain == "all" else top_k)
        if self.prediction_log is not None:  # a queue put: the writing happens in a thread
            self.prediction_log.append(model_input, out)
        return out


def _prediction_log() -> Any:
    """The prediction log (``serving/predlog.py``) when ``SCORING_PREDICTION_LOG`` names a
    folder, else None. Set by ``scoring up`` for the served model only."""
    if not os.environ.get("SCORING_PREDICTION_LOG"):
        return None
    try:
        from serving.predlog import from_environment
    except ImportError:  # the model runs outside this project: serve without the log
        warnings.warn("SCORING_PREDICTION_LOG is set but serving.predlog cannot be imported; "
                      "predictions are not logged", stacklevel=2)
        return None
    return from_environment()


mlflow.models.set_model(CreditScoringModel())
