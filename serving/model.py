"""The served scoring model: an MLflow pyfunc model logged from this file (model from code).

Input: one row per application with the raw application fields (as in ``application_test``)
plus the client's stored history features (absent or empty when the client has none).
Output per row: ``probability`` of default, ``decision`` (granted / refused), ``threshold``,
``distance`` (probability minus threshold) and ``reasons``: the top contributions (feature,
label, value, contribution in log-odds) from LightGBM's own ``pred_contrib``.

Params: ``explain`` = none | top-k | all, ``top_k`` (default 10), ``threshold`` (override).
Bad input raises an ``MlflowException`` whose message names the field, so the server answers
400 with that message and no stack trace. ``predict`` never touches files or the network.
"""

from __future__ import annotations

import json
import math
from typing import Any

import lightgbm as lgb
import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from scipy.special import expit

from scoring.features import describe, to_model_frame
from scoring.schema import APPLICATION_TEST

EXPLAIN = ("none", "top-k", "all")


def _bad(message: str) -> MlflowException:
    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


def check_applications(rows: pd.DataFrame, ranges: dict[str, tuple[float, float]]) -> None:
    """Raise a 400-class error naming the first bad field of any row.

    Checks: no rows, missing or empty required fields, infinite numbers, non-integers in
    integer fields, unknown category levels, numbers outside the plausible range.
    """
    if len(rows) == 0:
        raise _bad("the request holds no application rows")
    for col in APPLICATION_TEST.columns:
        if col.name not in rows:
            raise _bad(f"{col.name}: required field is missing ({col.label})")
        values = rows[col.name]
        empty = values.isna()
        if not col.nullable and empty.any():
            raise _bad(f"{col.name}: value is missing in row {int(np.argmax(empty))} "
                       f"({col.label})")
        present = values[~empty]
        if col.kind == "category":
            unknown = sorted(set(present.astype(str)) - set(col.levels))
            if unknown:
                raise _bad(f"{col.name}: unknown value {unknown[0]!r}; expected one of "
                           f"{', '.join(map(repr, col.levels))}")
            continue
        numbers = pd.to_numeric(present, errors="coerce")
        if numbers.isna().any():
            raise _bad(f"{col.name}: expects a number, got {present[numbers.isna()].iloc[0]!r}")
        if np.isinf(numbers).any():
            raise _bad(f"{col.name}: infinite value")
        if col.kind == "int" and (numbers != np.round(numbers)).any():
            raise _bad(f"{col.name}: expects a whole number, got "
                       f"{numbers[numbers != np.round(numbers)].iloc[0]}")
        low, high = ranges.get(col.name, (-math.inf, math.inf))
        outside = (numbers < low) | (numbers > high)
        if outside.any():
            raise _bad(f"{col.name}: value {numbers[outside].iloc[0]:g} is outside the "
                       f"plausible range [{low:g}, {high:g}]")


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

    def predict(self, context: Any, model_input: pd.DataFrame,
                params: dict[str, Any] | None = None) -> pd.DataFrame:
        explain, top_k, threshold = _params(params, self.threshold)
        check_applications(model_input, self.ranges)
        frame = to_model_frame(model_input)[self.features]
        margin = self.booster.predict(frame, raw_score=True)
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
            contrib = self.booster.predict(frame, pred_contrib=True)[:, :-1]
            if self.calibration:  # keep contributions additive on the calibrated log-odds
                contrib = contrib * self.calibration[0]
            out["reasons"] = reasons(contrib, frame, None if explain == "all" else top_k)
        return out


mlflow.models.set_model(CreditScoringModel())
