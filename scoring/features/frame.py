"""The model's input frame: selected, ordered and typed model inputs from store rows."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import pandas as pd

from scoring.features.application import CATEGORIES, application_features
from scoring.features.catalogue import FEATURES


def unknown_categories(df: pd.DataFrame) -> dict[str, list[str]]:
    """Values of categorical model inputs that are not among the schema's levels, per column."""
    out = {}
    for col, levels in CATEGORIES.items():
        if col not in df.columns:
            continue
        values = df[col].dropna()
        bad = sorted({str(v) for v in values.unique()} - set(levels))
        if bad:
            out[col] = bad
    return out


@functools.cache
def _category_dtype(column: str) -> tuple[pd.Index, pd.CategoricalDtype]:
    levels = CATEGORIES[column]
    return pd.Index(levels, dtype=object), pd.CategoricalDtype(list(levels))


def _categorical(values: pd.Series, column: str) -> pd.Categorical:
    """``values`` as a Categorical with the column's fixed levels (others become missing).

    Built from codes with a cached dtype: validating the levels on every call would cost
    several milliseconds per served row.
    """
    index, dtype = _category_dtype(column)
    codes = index.get_indexer(values.to_numpy(dtype=object))
    return pd.Categorical.from_codes(codes, dtype=dtype)


def to_model_frame(df: pd.DataFrame, features: Sequence[str] | None = None) -> pd.DataFrame:
    """The model's input frame from store rows (raw application fields + history features).

    Computes the application features, selects and orders ``features`` (default
    ``FEATURES``), casts categoricals to ``pd.Categorical`` with the schema's fixed levels
    (unknown values become missing: check ``unknown_categories`` first) and every other
    column to float64. Raises KeyError naming missing history columns.
    """
    features = list(FEATURES if features is None else features)
    derived = application_features(df)
    missing = [f for f in features if f not in df.columns and f not in derived.columns]
    if missing:
        raise KeyError(f"missing model input column(s): {', '.join(missing[:10])}"
                       + (f" and {len(missing) - 10} more" if len(missing) > 10 else ""))
    raw = [f for f in features if f not in CATEGORIES and f not in derived.columns]
    # One float block for the raw numbers: a column at a time is ten times slower on one row.
    numbers = pd.DataFrame(df[raw].to_numpy(dtype="float64", na_value=np.nan), columns=raw,
                           index=df.index)
    categories = pd.DataFrame({f: _categorical(df[f], f) for f in features if f in CATEGORIES},
                              index=df.index)
    parts = [numbers, derived[[f for f in derived.columns if f in features]], categories]
    return pd.concat(parts, axis=1)[features]
