"""The served scoring model: an MLflow pyfunc model logged from this file (model from code).

Input: one row per application with the raw application fields (as in ``application_test``;
optional ones may be left out when missing) and a ``history`` object holding the client's
stored history features (absent or empty when the client has none;
``scoring.request.pack_history`` builds it from store rows).
Output per row: ``probability`` of default, ``decision`` (granted / refused), ``threshold``,
``distance`` (probability minus threshold) and ``reasons``: the top contributions (feature,
label, value, contribution in log-odds) from LightGBM's own ``pred_contrib``.

Params: ``explain`` = none | top-k | positive | all (``positive``: every contribution that
pushes toward default, what the decision service's reasons read; ``all``: every feature),
``top_k`` (default 10), ``threshold`` (override), ``variants``: JSON text of a list of changes
``[{field: value}, ...]`` to the request's one application; the answer then holds one result
per change (the application with that change), and the application is sent and checked once
(recourse scores ~30 variants: repeating the application in ``inputs`` cost ~270 KB a request).
``recourse`` (true/false, default false), with ``variants``: the answer starts with the
application's own result (with its reasons), followed by one result per change (without
reasons) only when the application is refused; the changes' values are then checked only when
they are scored. One request gives what a decision's recourse needs, and a granted application
costs no variant. ``reasons_shape`` = records (default: a list of {feature, label, value,
contribution}) | columns (one object of four lists: about half the answer's encoding CPU in
MLflow's scoring server, whose JSON encoder is pure Python) | json (that object as JSON text:
one string, which that encoder writes in one call; ``serving.client`` reads every shape).
Bad input raises an ``MlflowException`` whose message names the field, so the server answers
400 with that message and no stack trace. ``predict`` never touches files or the network; the
optional prediction log (``SCORING_PREDICTION_LOG``) only queues, a thread writes.
"""

from __future__ import annotations

import json
import math
import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from scoring.calibration import Calibration, calibrated
from scoring.features import (
    APPLICATION_FEATURES,
    APPLICATION_INPUTS,
    CATEGORIES,
    FEATURES,
    HISTORY_FEATURES,
    derive_application_features,
    describe,
)
from scoring.names import MODEL_VERSION_ENV, PREDICTION_LOG_ENV
from scoring.ranges import PlausibleRanges
from scoring.request import HISTORY, Application, RequestError, history_matrix, shown
from scoring.schema import APPLICATION_TEST

EXPLAIN = ("none", "top-k", "positive", "all")
REASONS_SHAPES = ("records", "columns", "json")
#: Requests up to this many rows are scored on one thread (served requests); larger batches
#: (batch and Spark scoring) on every core.
ONE_THREAD_ROWS = 1000


def _bad(error: RequestError) -> MlflowException:
    """A 400 answer whose message is the error as JSON (``RequestError.from_json`` reads it)."""
    return MlflowException(error.to_json(), error_code=INVALID_PARAMETER_VALUE)


_CATEGORIES = [c for c in APPLICATION_TEST.columns if c.kind == "category"]
_CATEGORY_NAMES = [c.name for c in _CATEGORIES]
_CODES = [{level: float(i) for i, level in enumerate(c.levels)} for c in _CATEGORIES]
_NUMBERS = [c for c in APPLICATION_TEST.columns if c.kind != "category"]
_NUMBER_NAMES = [c.name for c in _NUMBERS]
_REQUIRED = np.array([not c.nullable for c in _NUMBERS])
_INTEGER = np.array([c.kind == "int" for c in _NUMBERS])


@dataclass
class Request:
    """A checked request as arrays, one row per application."""

    numbers: np.ndarray  # raw numeric fields (``_NUMBER_NAMES``), NaN for missing
    codes: np.ndarray  # category fields (``_CATEGORY_NAMES``) as level positions, NaN missing
    history: np.ndarray  # ``HISTORY_FEATURES``, NaN where absent


UNBOUNDED = PlausibleRanges.from_json({}, _NUMBER_NAMES)


def read_request(rows: pd.DataFrame | list[dict[str, Any]],
                 ranges: PlausibleRanges = UNBOUNDED,
                 variants: list[dict[str, Any]] | None = None) -> Request:
    """The request's arrays; raises a 400-class error naming the first bad field.

    ``rows``: the ``inputs`` of an HTTP request (one object per application, as JSON made
    them) or, in process, a frame with one column per field. Checks: no rows, unknown fields,
    absent or empty required fields (absent optional ones are missing), non-numbers (text and
    JSON booleans included), infinite numbers, non-integers in integer fields, unknown
    category levels, numbers outside the plausible ``ranges``, and the history objects
    (``scoring.request.history_matrix``). One pass over the cells as plain objects and numpy
    arrays: no pandas on the HTTP path, and MLflow's own schema checks are skipped (the
    signature comes from a type hint), so a request is checked once.

    ``variants`` (``params.variants``, read by ``read_variants``): changes to the one
    application of ``rows``; the request then holds that application once per change, each
    change checked as the fields are (an error names ``params.variants[i].FIELD``).
    """
    try:
        cells = _frame_cells(rows) if isinstance(rows, pd.DataFrame) else _record_cells(rows)
        numbers, codes = _fields(cells, ranges)
        history = history_matrix(cells[:, -1])
        if variants is not None:
            numbers, codes = _variant_fields(cells, variants, ranges)
            history = np.repeat(history, len(variants), axis=0)
    except RequestError as err:
        raise _bad(err) from None
    return Request(numbers, codes, history)


def _fields(cells: np.ndarray, ranges: PlausibleRanges) -> tuple[np.ndarray, np.ndarray]:
    """The checked numbers and category codes of a request's cells."""
    numbers = _numbers(cells[:, _NUMBER_SLICE])
    _check_numbers(numbers)
    ranges.check(numbers)
    return numbers, _codes(cells[:, _CATEGORY_SLICE])


def read_variants(text: Any) -> list[dict[str, Any]] | None:
    """``params.variants`` as a list of changes ({field: value}), None when absent or empty.

    Raises RequestError when the text is not a JSON list of objects naming application fields
    (history features and unknown names are refused: a variant changes the application)."""
    if text is None or text == "":
        return None
    try:
        variants = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        variants = None
    if not isinstance(variants, list) or not variants or not all(
            type(v) is dict for v in variants):
        raise RequestError("params.variants", "bad_request", "params.variants: expects the "
                           'JSON text of a non-empty list of changes, [{"AMT_CREDIT": 250000}, '
                           "...]", value=shown(text))
    for i, change in enumerate(variants):
        unknown = next((name for name in change if name not in _CHANGEABLE), None)
        if unknown is not None:
            raise RequestError(f"params.variants[{i}].{str(unknown)[:80]}", "unknown_field",
                               f"params.variants[{i}]: {shown(unknown)} is not a field of an "
                               "application (see the model's signature)")
    return variants


def _variant_fields(cells: np.ndarray, variants: list[dict[str, Any]],
                    ranges: PlausibleRanges) -> tuple[np.ndarray, np.ndarray]:
    """Numbers and codes of the one application of ``cells`` with each change applied."""
    if len(cells) != 1:
        raise RequestError("params.variants", "bad_request", "params.variants: applies to "
                           f"a request of one application, got {len(cells)}",
                           value=len(cells))
    block = np.repeat(cells[:, :-1], len(variants), axis=0)
    for i, change in enumerate(variants):
        for name, value in change.items():
            block[i, _CHANGEABLE[name]] = value
    try:
        return _fields(block, ranges)
    except RequestError:  # say which change: the first variant refused on its own
        for i in range(len(variants)):
            try:
                _fields(block[i:i + 1], ranges)
            except RequestError as err:
                raise RequestError(f"params.variants[{i}].{err.field}", err.code,
                                   f"params.variants[{i}].{err.message}", err.value, err.low,
                                   err.high) from None
        raise


#: A request's cells in this order: numbers, categories, history (``_frame_cells`` and
#: ``_record_cells`` both build it).
_ORDER = [*_NUMBER_NAMES, *_CATEGORY_NAMES, HISTORY]
_NUMBER_SLICE = slice(0, len(_NUMBER_NAMES))
_CATEGORY_SLICE = slice(len(_NUMBER_NAMES), len(_NUMBER_NAMES) + len(_CATEGORY_NAMES))
_FIELDS = frozenset(_ORDER)
_REQUIRED_FIELDS = [c for c in APPLICATION_TEST.columns if not c.nullable]
#: Where a variant's change goes in a request's cells: the application's own fields.
_CHANGEABLE = {name: j for j, name in enumerate(_ORDER[:-1])}


def _no_rows() -> RequestError:
    return RequestError(None, "no_rows", "the request holds no application rows")


def _absent(present: Any) -> None:
    absent = [c for c in _REQUIRED_FIELDS if c.name not in present]
    if absent:
        raise RequestError(
            absent[0].name, "missing",
            f"{absent[0].name}: required field is missing ({absent[0].label})"
            + (f"; {len(absent) - 1} more missing" if len(absent) > 1 else ""))


def _frame_cells(rows: pd.DataFrame) -> np.ndarray:
    if len(rows) == 0:
        raise _no_rows()
    _absent(rows.columns)
    # An absent optional field reads as missing: the last column, all None.
    cells = np.column_stack([rows.to_numpy(dtype=object), np.full(len(rows), None)])
    position = defaultdict(lambda: -1, {name: j for j, name in enumerate(rows.columns)})
    return cells[:, [position[n] for n in _ORDER]]


def _record_cells(records: Any) -> np.ndarray:
    if not isinstance(records, list) or not all(type(r) is dict for r in records):
        raise RequestError("inputs", "bad_request", "inputs: expects a list of application "
                           "objects, {field: value} (see the model's signature)",
                           value=type(records).__name__)
    if not records:
        raise _no_rows()
    for record in records:
        if not _FIELDS.issuperset(record):
            name = next(k for k in record if k not in _FIELDS)
            raise RequestError(str(name)[:80], "unknown_field", f"{shown(name)}: not a field "
                               "of an application (see the model's signature)")
        _absent(record)
    table = [[record.get(name) for name in _ORDER] for record in records]
    shape = (len(records), len(_ORDER))
    try:
        cells = np.array(table, dtype=object)
        if cells.shape == shape:
            return cells
    except ValueError:
        pass
    # a list among the values made numpy add a dimension: fromiter keeps it one cell
    return np.fromiter((v for row in table for v in row), dtype=object,
                       count=shape[0] * shape[1]).reshape(shape)


def _numbers(cells: np.ndarray) -> np.ndarray:
    kinds = set(map(type, cells.ravel()))
    if all(k in _NUMBER_TYPES for k in kinds):
        try:
            return cells.astype("float64")  # None becomes NaN
        except OverflowError:  # a JSON integer beyond any float
            pass
    for j, name in enumerate(_NUMBER_NAMES):
        for value in cells[:, j]:
            if type(value) is int and not _FLOAT_MIN <= value <= _FLOAT_MAX:
                raise RequestError(name, "outside_range", f"{name}: value {shown(value)} is "
                                   "beyond any number the model reads", value=shown(value))
            if type(value) not in _NUMBER_TYPES and not _missing(value):
                raise RequestError(name, "not_a_number",
                                   f"{name}: expects a number, got {shown(value)}",
                                   value=value)
    return pd.DataFrame(cells).apply(pd.to_numeric).to_numpy(dtype="float64", na_value=np.nan)


_FLOAT_MIN, _FLOAT_MAX = -int(np.finfo("float64").max), int(np.finfo("float64").max)
#: What a number field may hold: JSON numbers, numpy's (a frame's cells), missing values.
_NUMBER_TYPES = frozenset({int, float, type(None), np.float64, np.float32, np.int64, np.int32,
                           np.int16, np.int8, np.uint8, np.uint16, np.uint32, np.uint64})


def _check_numbers(block: np.ndarray) -> None:
    _first_bad(np.isnan(block) & _REQUIRED, "missing", "value is missing")
    _first_bad(np.isinf(block), "infinite", "infinite value")
    _first_bad(_INTEGER & np.isfinite(block) & (block != np.round(block)), "not_whole",
               "expects a whole number", block)


def _first_bad(mask: np.ndarray, code: str, problem: str,
               block: np.ndarray | None = None) -> None:
    if mask.any():
        row, j = np.argwhere(mask)[0]
        value = float(block[row, j]) if block is not None else None
        got = f", got {value:g}" if value is not None else ""
        raise RequestError(_NUMBER_NAMES[j], code,
                           f"{_NUMBER_NAMES[j]}: {problem}{got} ({_NUMBERS[j].label})",
                           value=value)


def _codes(cells: np.ndarray) -> np.ndarray:
    """Category levels as their positions in the schema's levels (the model's codes)."""
    out = np.full(cells.shape, np.nan)
    for j, (col, codes) in enumerate(zip(_CATEGORIES, _CODES, strict=True)):
        found = [codes.get(v) if type(v) is str else None for v in cells[:, j].tolist()]
        if None not in found:  # every value a known level
            out[:, j] = found
            continue
        for i, (value, code) in enumerate(zip(cells[:, j], found, strict=True)):
            if code is not None:
                out[i, j] = code
            elif not _missing(value):
                raise RequestError(col.name, "unknown_level",
                                   f"{col.name}: unknown value {shown(value)}; expected one of "
                                   f"{', '.join(map(repr, col.levels))}", value=value)
            elif not col.nullable:
                raise RequestError(col.name, "missing",
                                   f"{col.name}: value is missing ({col.label})")
    return out


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _pairs(place: dict[str, int], names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(positions in the matrix, positions in ``names``) of the names the matrix holds."""
    pairs = np.array([(place[n], j) for j, n in enumerate(names) if n in place],
                     dtype=int).reshape(-1, 2)
    return pairs[:, 0], pairs[:, 1]


class Layout:
    """Where each booster input comes from in a ``Request``: the model's float matrix,
    categories as their codes (what LightGBM does with the training frame's categoricals)."""

    def __init__(self, features: list[str]) -> None:
        self.features = features
        self.width = len(features)
        place = {name: j for j, name in enumerate(features)}
        unknown = [f for f in features if f not in FEATURES]
        if unknown:
            raise MlflowException(f"the booster reads unknown features: {unknown[:5]}")
        self.numbers = _pairs(place, _NUMBER_NAMES)
        self.codes = _pairs(place, _CATEGORY_NAMES)
        self.history = _pairs(place, HISTORY_FEATURES)
        self.derived = [(place[n], n) for n in APPLICATION_FEATURES if n in place]
        self.inputs = [(n, _NUMBER_NAMES.index(n)) for n in APPLICATION_INPUTS]
        self.levels = {place[n]: CATEGORIES[n] for n in _CATEGORY_NAMES if n in place}
        self.labels = [describe(f) for f in features]

    def matrix(self, request: Request) -> np.ndarray:
        out = np.empty((len(request.numbers), self.width))
        out[:, self.numbers[0]] = request.numbers[:, self.numbers[1]]
        out[:, self.codes[0]] = request.codes[:, self.codes[1]]
        out[:, self.history[0]] = request.history[:, self.history[1]]
        derived = derive_application_features(
            {name: request.numbers[:, j] for name, j in self.inputs})
        for j, name in self.derived:
            out[:, j] = derived[name]
        return out

    def value(self, matrix: np.ndarray, i: int, j: int) -> Any:
        """The readable value of input ``j`` of row ``i``: a level's text for a category."""
        value = matrix[i, j]
        if math.isnan(value):
            return None
        levels = self.levels.get(j)
        return levels[int(value)] if levels else float(value)


@dataclass(frozen=True)
class Params:
    """A request's checked params (see the module's docstring)."""

    explain: str
    top_k: int
    threshold: float
    variants: list[dict[str, Any]] | None
    recourse: bool
    reasons_shape: str


def _params(params: dict[str, Any] | None, default_threshold: float) -> Params:
    params = params or {}
    explain = params.get("explain") or "top-k"
    if explain not in EXPLAIN:
        raise _bad(RequestError("params.explain", "unknown_level", f"params.explain: "
                                f"{explain!r} is not one of {', '.join(EXPLAIN)}", value=explain))
    top_k = int(params.get("top_k") or 10)
    if top_k < 1:
        raise _bad(RequestError("params.top_k", "outside_range",
                                f"params.top_k: must be at least 1, got {top_k}", value=top_k,
                                low=1))
    threshold = params.get("threshold")
    threshold = default_threshold if threshold is None else float(threshold)
    if not 0.0 <= threshold <= 1.0:
        raise _bad(RequestError("params.threshold", "outside_range", "params.threshold: must "
                                f"be between 0 and 1, got {threshold}", value=threshold,
                                low=0.0, high=1.0))
    recourse = params.get("recourse") or False
    if type(recourse) is not bool:
        raise _bad(RequestError("params.recourse", "bad_request", "params.recourse: expects "
                                f"true or false, got {shown(recourse)}", value=shown(recourse)))
    shape = params.get("reasons_shape") or "records"
    if shape not in REASONS_SHAPES:
        raise _bad(RequestError("params.reasons_shape", "unknown_level",
                                f"params.reasons_shape: {shown(shape)} is not one of "
                                f"{', '.join(REASONS_SHAPES)}", value=shown(shape)))
    try:
        variants = read_variants(params.get("variants"))
    except RequestError as err:
        raise _bad(err) from None
    return Params(explain, top_k, threshold, variants, recourse, shape)


def reasons(contrib: np.ndarray, matrix: np.ndarray, layout: Layout,
            top_k: int | None, positive: bool = False, shape: str = "records",
            ) -> list[list[dict]] | list[dict[str, list]] | list[str]:
    """Per row, the features with the largest absolute contributions, largest first (with
    ``positive``, only those pushing toward default, in the same order): a list of
    {feature, label, value, contribution}, or with ``shape="columns"`` one object of the
    same four keys holding lists (``"json"``: as JSON text)."""
    order = np.argsort(-np.abs(contrib), axis=1, kind="stable")[:, :top_k]
    chosen = [idx[contrib[i, idx] > 0] if positive else idx for i, idx in enumerate(order)]
    if shape != "records":
        columns = [{"feature": [layout.features[j] for j in idx],
                    "label": [layout.labels[j] for j in idx],
                    "value": [layout.value(matrix, i, j) for j in idx],
                    "contribution": contrib[i, idx].tolist()} for i, idx in enumerate(chosen)]
        return [json.dumps(c) for c in columns] if shape == "json" else columns
    return [[{"feature": layout.features[j], "label": layout.labels[j],
              "value": layout.value(matrix, i, j), "contribution": float(contrib[i, j])}
             for j in idx] for i, idx in enumerate(chosen)]


class CreditScoringModel(mlflow.pyfunc.PythonModel):
    """LightGBM booster + application transforms + threshold, as one servable model."""

    # MLflow's checks against the type hint are left to ``read_request`` (one parser, refusals
    # in our JSON error contract); the type hint still gives the logged model its signature.
    _skip_type_hint_validation = True

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        self.booster = lgb.Booster(model_file=context.artifacts["booster"])
        with open(context.artifacts["config"]) as fh:
            config = json.load(fh)
        self.threshold: float = config["threshold"]
        # Platt: [a, b]; isotonic: {"method": "isotonic", "x": margins, "y": probabilities}.
        self.calibration: Calibration = config.get("calibration")
        self.ranges = PlausibleRanges.from_json(config.get("ranges", {}), _NUMBER_NAMES)
        self.layout = Layout(self.booster.feature_name())
        self.prediction_log = _prediction_log()
        #: The registered version served (set by `scoring up` and `scoring serve`), if known.
        self.version: str | None = os.environ.get(MODEL_VERSION_ENV) or None

    def predict(self, context: Any, model_input: list[Application],  # type: ignore[valid-type]
                params: dict[str, Any] | None = None) -> list[dict[str, Any]] | pd.DataFrame:
        """One result per application (per change with ``params.variants``; the application's
        own first with ``params.recourse``): a list of objects for a list (an HTTP request's
        ``inputs``), a frame for a frame (batch and Spark scoring in process)."""
        try:
            asked = _params(params, self.threshold)
            recourse = asked.recourse and asked.variants is not None
            request = read_request(model_input, self.ranges,
                                   None if recourse else asked.variants)
            if recourse and len(request.numbers) != 1:
                raise _bad(RequestError(
                    "params.recourse", "bad_request", "params.recourse: applies to a request "
                    f"of one application, got {len(request.numbers)}",
                    value=len(request.numbers)))
        except MlflowException:
            _elide(model_input)
            raise
        out = self._results(request, asked, asked.explain)
        # What-if variants are not applications: the prediction log keeps applications only.
        log = self.prediction_log if asked.variants is None or recourse else None
        if isinstance(model_input, pd.DataFrame) and not recourse:
            frame = pd.DataFrame(out)
            if log is not None:  # a queue put: the writing happens in a thread
                log.append(model_input, frame)
            return frame
        rows = _rows(out)
        if log is not None:
            log.append(model_input, pd.DataFrame(rows) if isinstance(model_input, pd.DataFrame)
                       else rows)
        if recourse and rows[0]["decision"] == "refused":
            try:
                variants = read_request(model_input, self.ranges, asked.variants)
            except MlflowException:
                _elide(model_input)
                raise
            rows = rows + _rows(self._results(variants, asked, "none"))  # the log holds rows
        return pd.DataFrame(rows) if isinstance(model_input, pd.DataFrame) else rows

    def _results(self, request: Request, asked: Params, explain: str,
                 ) -> dict[str, np.ndarray | list]:
        """The answer's columns for ``request``: probability, decision, threshold,
        distance, the served version if known, and the reasons unless ``explain`` is none."""
        matrix = self.layout.matrix(request)
        # A request of a few rows on one thread: OpenMP's start and wait cost more than the
        # trees (up to 3x the CPU of a one-row pred_contrib without OMP_WAIT_POLICY=PASSIVE).
        threads = {"num_threads": 1} if len(matrix) <= ONE_THREAD_ROWS else {}
        proba = calibrated(self.booster.predict(matrix, raw_score=True, **threads),
                           self.calibration)
        out: dict[str, np.ndarray | list] = {
            "probability": proba,
            "decision": np.where(proba >= asked.threshold, "refused", "granted"),
            "threshold": np.full(len(proba), asked.threshold),
            "distance": proba - asked.threshold}
        if self.version:
            out["model_version"] = np.full(len(proba), self.version, dtype=object)
        if explain != "none":
            contrib = self.booster.predict(matrix, pred_contrib=True, **threads)[:, :-1]
            if isinstance(self.calibration, list):  # additive on the Platt log-odds
                contrib = contrib * self.calibration[0]
            out["reasons"] = reasons(contrib, matrix, self.layout,
                                     asked.top_k if explain == "top-k" else None,
                                     positive=explain == "positive", shape=asked.reasons_shape)
        return out


def _rows(out: dict[str, np.ndarray | list]) -> list[dict[str, Any]]:
    """The answer's columns as one object per row."""
    return [dict(zip(out, values, strict=True)) for values in zip(
        *(v.tolist() if isinstance(v, np.ndarray) else v for v in out.values()), strict=True)]


def _elide(model_input: Any) -> None:
    """MLflow's scoring server starts a model's error message with the input it passed as
    text: a refused list of applications is replaced in place by its size, so that an answer
    never echoes a request (a frame's text is already cut by pandas)."""
    if isinstance(model_input, list):
        model_input[:] = [f"<{len(model_input)} application(s), left out of this message>"]


def _prediction_log() -> Any:
    """The prediction log (``serving/predlog.py``) when ``SCORING_PREDICTION_LOG`` names a
    folder, else None. Set by ``scoring up`` for the served model only."""
    if not os.environ.get(PREDICTION_LOG_ENV):
        return None
    try:  # the copy logged with the model, which matches the core package it ships
        from predlog import from_environment
    except ImportError:  # a model logged before it shipped one
        from serving.predlog import from_environment
    return from_environment()


mlflow.models.set_model(CreditScoringModel())
