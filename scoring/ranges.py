"""Plausible ranges of the raw numeric application fields: learned state, scikit-learn style.

``PlausibleRanges().fit(rows)`` learns each field's range from the training applications;
``to_json`` / ``from_json`` carry it in the served model's config; ``check(block)`` refuses a
request block with a value outside its range. Training and the served model use this one class.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from scoring.request import RequestError
from scoring.schema import APPLICATION_TEST, DAYS_EMPLOYED_PLACEHOLDER, KEY

#: The numeric application fields, in schema order (the served model's number block).
NUMBER_FIELDS: tuple[str, ...] = tuple(c.name for c in APPLICATION_TEST.columns
                                       if c.kind != "category")
_UNBOUNDED_FIELDS = {KEY}


class PlausibleRanges:
    """Lowest and highest plausible value of each numeric field.

    A field never negative in training may not be negative; a negative one never positive
    (days before the application) may not be positive. Otherwise the range extends the
    training range by its width below and ten widths above: wide enough for any real client,
    narrow enough to catch a typo of a few orders of magnitude. Fields without values in
    training, and the client id, are unbounded.
    """

    def __init__(self, fields: Sequence[str] = NUMBER_FIELDS) -> None:
        self.fields = tuple(fields)

    def fit(self, rows: pd.DataFrame, at: np.ndarray | None = None) -> PlausibleRanges:
        """Learn ``ranges_`` from training applications (those at row positions ``at`` of
        ``rows``, one column at a time; all by default); returns self."""
        ranges: dict[str, tuple[float, float]] = {}
        for name in self.fields:
            if name in _UNBOUNDED_FIELDS or name not in rows:
                continue
            column = rows[name] if at is None else rows[name].iloc[at]
            values = pd.to_numeric(column, errors="coerce").dropna()
            if name == "DAYS_EMPLOYED":
                values = values[values != DAYS_EMPLOYED_PLACEHOLDER]
            if values.empty:
                continue
            low, high = float(values.min()), float(values.max())
            width = max(high - low, abs(high), abs(low), 1.0)
            ranges[name] = (0.0 if low >= 0 else low - width,
                            0.0 if high <= 0 < -low else high + 10 * width)
        if "DAYS_EMPLOYED" in ranges:
            ranges["DAYS_EMPLOYED"] = (ranges["DAYS_EMPLOYED"][0],
                                       float(DAYS_EMPLOYED_PLACEHOLDER))
        return self._set(ranges)

    def _set(self, ranges: dict[str, tuple[float, float]]) -> PlausibleRanges:
        self.ranges_ = ranges
        self.low_ = np.array([ranges.get(n, (-np.inf, np.inf))[0] for n in self.fields])
        self.high_ = np.array([ranges.get(n, (-np.inf, np.inf))[1] for n in self.fields])
        return self

    def to_json(self) -> dict[str, list[float]]:
        """The learned ranges as a JSON-able ``{field: [low, high]}``."""
        return {name: [low, high] for name, (low, high) in self.ranges_.items()}

    @classmethod
    def from_json(cls, ranges: dict[str, Sequence[float]],
                  fields: Sequence[str] = NUMBER_FIELDS) -> PlausibleRanges:
        """Ranges read back from ``to_json``'s output (``{}``: every field unbounded)."""
        return cls(fields)._set({k: (float(v[0]), float(v[1])) for k, v in ranges.items()})

    def check(self, block: np.ndarray) -> None:
        """Raise a RequestError (code ``outside_range``) for the first value of ``block``
        (rows x ``fields``, NaN for missing) outside its range."""
        outside = (block < self.low_) | (block > self.high_)
        if outside.any():
            row, j = np.argwhere(outside)[0]
            name, value = self.fields[j], float(block[row, j])
            low, high = float(self.low_[j]), float(self.high_[j])
            label = APPLICATION_TEST.column(name).label
            raise RequestError(name, "outside_range",
                               f"{name}: value {value:g} is outside the plausible range "
                               f"[{low:g}, {high:g}] ({label})", value=value, low=low,
                               high=high)
