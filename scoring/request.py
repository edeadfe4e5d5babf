"""The request wire format of the served model, shared by the client, the model, batch and
Spark scoring and the prediction log: one object per application with the raw application
fields, history features folded into one ``history`` object.

Over HTTP a request is ``{"inputs": [application, ...], "params": {...}}``; ``Application``
types one application (MLflow's signature of the served model is built from it). In process
(batch, Spark) the same rows may come as a pandas frame, one column per field.
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from scoring.features import HISTORY_DESCRIPTIONS, HISTORY_FEATURES, NOT_INPUTS

#: What a refused request's error says, in ``code``.
ERROR_CODES = ("no_rows", "missing", "not_a_number", "infinite", "not_whole",
               "unknown_level", "outside_range", "bad_history", "unknown_field",
               "bad_request")
#: Longest text of an offending value an error carries: an answer never echoes a large input.
SHOWN_CHARS = 80


def shown(value: Any) -> str:
    """``repr(value)``, cut to ``SHOWN_CHARS`` characters."""
    text = repr(value)
    if len(text) <= SHOWN_CHARS:
        return text
    return f"{text[:SHOWN_CHARS - 15]}... ({len(text):,} chars)"


@dataclass
class RequestError(ValueError):
    """Why the served model refuses a request, as data: the field, a code from
    ``ERROR_CODES``, the offending value, the plausible range when one applies, and a
    readable message. Travels as JSON in the model server's error message; clients parse it
    once with ``from_json`` (never a regex over the text)."""

    field: str | None
    code: str
    message: str
    value: Any = None
    low: float | None = None
    high: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.value, (int, float, type(None))):  # text, lists: cut short
            self.value = shown(self.value) if len(repr(self.value)) > SHOWN_CHARS else self.value
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=str)

    @classmethod
    def from_json(cls, text: str) -> RequestError | None:
        """The error held in ``text`` (a model server message), or None if it holds none."""
        start = text.find('{"field"')
        if start < 0:
            return None
        try:
            data, _ = json.JSONDecoder().raw_decode(text[start:])
            return cls(**{k: data.get(k) for k in ("field", "code", "message", "value",
                                                   "low", "high")})
        except (ValueError, TypeError):
            return None

#: The request column that carries a client's history features as one {feature: value} object.
#: One object instead of ~280 columns keeps the model server's per-column parsing and schema
#: checks (about 0.1-0.3 ms a column) off the request path.
HISTORY = "history"


def packed_positions(columns: Sequence[object]) -> tuple[list[int], list[int]]:
    """Where ``pack_history`` finds, in ``columns``, the history features it folds into the
    ``history`` object, and the columns it leaves out with them (the data set, the label)."""
    history = [j for j, c in enumerate(columns) if c in HISTORY_DESCRIPTIONS]
    labels = [j for j, c in enumerate(columns) if c in NOT_INPUTS]
    return history, labels


def plain(value: Any) -> Any:
    """A present cell as a JSON-ready Python value (numpy scalars unwrapped)."""
    return value.item() if hasattr(value, "item") else value


def pack_history(rows: pd.DataFrame) -> pd.DataFrame:
    """Request rows for the served model: the raw application fields as columns, and the
    history features folded into one ``history`` column of {feature: value} dicts that leave
    out missing values."""
    positions, labels = packed_positions(list(rows.columns))
    history = [rows.columns[j] for j in positions]
    values = rows[history].to_numpy(dtype=object)
    present = rows[history].notna().to_numpy()
    out = rows.drop(columns=history + [rows.columns[j] for j in labels])
    out[HISTORY] = [{k: plain(v) for k, v, ok in zip(history, row, keep, strict=True) if ok}
                    for row, keep in zip(values, present, strict=True)]
    return out


def unpack_history(request: pd.DataFrame) -> pd.DataFrame:
    """The inverse of ``pack_history``: history features back as columns (absent = missing).

    Raises RequestError (a ValueError) as ``history_matrix`` does.
    """
    if HISTORY not in request:
        return request
    history = pd.DataFrame(history_matrix(request[HISTORY].tolist()),
                           columns=list(HISTORY_FEATURES), index=request.index)
    return pd.concat([request.drop(columns=HISTORY), history], axis=1)


_HISTORY_POSITION = {name: j for j, name in enumerate(HISTORY_FEATURES)}
#: Types a JSON parser or numpy would take for a number but a request must not send as one.
_NOT_NUMBERS = frozenset({str, bytes, bool, np.bool_})
_LARGEST = int(np.finfo("float64").max)


def history_matrix(histories: Sequence[object]) -> np.ndarray:
    """The ``history`` objects of a request as a float matrix, one column per
    ``HISTORY_FEATURES`` entry (NaN where absent).

    A history may be a dict, its JSON text (as Spark sends it), or missing. Raises
    RequestError (a ValueError) naming an unknown feature, a value that is not a number or is
    infinite, or a history that is not an object.
    """
    out = np.full((len(histories), len(HISTORY_FEATURES)), np.nan)
    for i, history in enumerate(histories):
        history = _history_object(history)
        try:
            columns = [_HISTORY_POSITION[name] for name in history]
        except KeyError as err:
            raise RequestError(HISTORY, "bad_history", f"{HISTORY}: unknown feature "
                               f"{shown(err.args[0])}", value=err.args[0]) from None
        values = list(history.values())
        try:
            if not _NOT_NUMBERS.isdisjoint(map(type, values)):  # numpy reads "1.5", true
                raise TypeError
            row = np.array(values, dtype="float64")  # None becomes NaN
            if row.shape != (len(values),):  # a list or an object among the values
                raise TypeError
        except (TypeError, ValueError, OverflowError):
            name, value = next(((n, v) for n, v in history.items() if v is not None and (
                not isinstance(v, numbers.Real) or isinstance(v, bool)
                or (isinstance(v, int) and abs(v) > _LARGEST))), ("?", values))
            raise RequestError(f"{HISTORY}.{name}", "not_a_number",
                               f"{HISTORY}.{name}: expects a number, got {shown(value)}",
                               value=value) from None
        out[i, columns] = row
    infinite = np.isinf(out)
    if infinite.any():
        i, j = np.argwhere(infinite)[0]
        raise RequestError(f"{HISTORY}.{HISTORY_FEATURES[j]}", "infinite",
                           f"{HISTORY}.{HISTORY_FEATURES[j]}: infinite value")
    return out


def _history_object(value: object) -> dict:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise RequestError(HISTORY, "bad_history", f"{HISTORY}: not a JSON object",
                               value=shown(value)) from None
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return {}
    if not isinstance(value, dict):
        raise RequestError(HISTORY, "bad_history", f"{HISTORY}: expects an object of "
                           f"feature: value pairs, got {type(value).__name__}",
                           value=type(value).__name__)
    return value


# --- one application as an object (the HTTP form) -------------------------------------------

def _application_type() -> type:
    """The pydantic model of one application: every ``application_test`` field with its type
    (required ones required, optional ones None by default; categories as text, their levels
    in ``scoring.schema``), and the optional ``history`` object."""
    from pydantic import ConfigDict, Field, create_model

    from scoring.schema import APPLICATION_TEST

    kinds = {"int": int, "float": float, "category": str}
    fields: dict[str, Any] = {}
    for c in APPLICATION_TEST.columns:
        fields[c.name] = ((kinds[c.kind] | None, Field(None, description=c.label))
                          if c.nullable else (kinds[c.kind], Field(description=c.label)))
    fields[HISTORY] = (dict[str, float] | None,
                       Field(None, description="stored history features, e.g. "
                             '{"BURO_COUNT": 3}; left out: no history'))
    return create_model("Application", __config__=ConfigDict(extra="forbid"), **fields)


#: One application of an ``/invocations`` request: documentation and MLflow signature. The
#: served model checks requests itself (``serving.model.read_request``), once.
Application = _application_type()


def to_inputs(rows: pd.DataFrame) -> list[dict[str, Any]]:
    """Request rows (store rows or raw application fields, a ``history`` column or history
    features as columns) as the ``inputs`` of an ``/invocations`` request: one object per
    row, missing values left out, history features folded into ``history``.

    Works on one object matrix rather than column by column: a store row has 421 columns,
    and pandas' per-column calls made one row cost milliseconds.
    """
    names = [str(c) for c in rows.columns]
    values = rows.to_numpy(dtype=object)
    missing = pd.isna(values)
    packing = HISTORY not in rows
    history, labels = packed_positions(names) if packing else ([], [])
    dropped = set(history) | set(labels)
    kept = [j for j in range(len(names)) if j not in dropped]
    out = []
    for row, gaps in zip(values, missing, strict=True):
        record = {names[j]: plain(row[j]) for j in kept if not gaps[j]}
        if packing:
            record[HISTORY] = {names[j]: plain(row[j]) for j in history if not gaps[j]}
        out.append(record)
    return out


def record_input(record: dict[str, Any]) -> dict[str, Any]:
    """One application as ``{column: value}`` (a store row, or raw fields with a ``history``
    object) as an ``inputs`` object of an ``/invocations`` request: missing values and the
    data set / label columns left out, history features folded into ``history``."""
    out: dict[str, Any] = {}
    history: dict[str, Any] = {}
    for name, value in record.items():  # ~420 cells a request: ``plain`` inlined
        kind = type(value)
        if kind is float:
            if value != value:
                continue
        elif value is None:
            continue
        elif kind is not str and kind is not int and hasattr(value, "item"):
            value = value.item()
        if name not in NOT_INPUTS:
            (history if name in HISTORY_DESCRIPTIONS else out)[name] = value
    if HISTORY not in out:
        out[HISTORY] = history
    return out

