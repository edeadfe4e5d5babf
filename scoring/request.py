"""The request wire format of the served model, shared by the client, the model, batch and
Spark scoring and the prediction log: raw application fields as columns, history features folded
into one ``history`` object."""

from __future__ import annotations

import json
import numbers
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from scoring.features import DATASET, HISTORY_DESCRIPTIONS, HISTORY_FEATURES
from scoring.schema import TARGET

#: What a refused request's error says, in ``code``.
ERROR_CODES = ("no_rows", "missing", "not_a_number", "infinite", "not_whole",
               "unknown_level", "outside_range", "bad_history")


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
    labels = [j for j, c in enumerate(columns) if c in (DATASET, TARGET)]
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
                               f"{err.args[0]!r}", value=err.args[0]) from None
        values = list(history.values())
        try:
            if str in map(type, values):  # numpy would read "1.5" as a number
                raise TypeError
            row = np.array(values, dtype="float64")  # None becomes NaN
            if row.shape != (len(values),):  # a list or an object among the values
                raise TypeError
        except (TypeError, ValueError):
            name, value = next(((n, v) for n, v in history.items()
                                if v is not None and not isinstance(v, numbers.Real)),
                               ("?", values))
            raise RequestError(f"{HISTORY}.{name}", "not_a_number",
                               f"{HISTORY}.{name}: expects a number, got {value!r}",
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
                               value=value) from None
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return {}
    if not isinstance(value, dict):
        raise RequestError(HISTORY, "bad_history", f"{HISTORY}: expects an object of "
                           f"feature: value pairs, got {type(value).__name__}",
                           value=type(value).__name__)
    return value
