"""Population stability: PSI of the score and CSI of features, a reference sample (the
training clients) against a later one.

PSI = sum over bins of (a - e) * ln(a / e), with e and a the reference and current shares of
a bin. Bins are the reference's deciles for numbers (ties merged), the levels for categories,
plus one bin for missing values. Usual reading: below 0.1 stable, 0.1 to 0.25 a moderate shift
to watch, above 0.25 a significant shift. Pure: arrays in, numbers and tables out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Upper bounds of the "stable" and "moderate" bands.
BANDS = (0.1, 0.25)
#: Share given to an empty bin, so that ln(a / e) stays finite.
EPSILON = 1e-4


def band(value: float) -> str:
    """``stable``, ``moderate`` or ``significant`` for a PSI / CSI value."""
    if np.isnan(value):
        return "unknown"
    return "stable" if value < BANDS[0] else "moderate" if value < BANDS[1] else "significant"


def _shares(counts: np.ndarray) -> np.ndarray:
    shares = counts / max(counts.sum(), 1)
    return np.where(shares == 0, EPSILON, shares)


def _index(e: np.ndarray, a: np.ndarray) -> float:
    e, a = _shares(e), _shares(a)
    return float(np.sum((a - e) * np.log(a / e)))


def psi(reference: np.ndarray | pd.Series, current: np.ndarray | pd.Series,
        bins: int = 10) -> float:
    """Population stability index of ``current`` against ``reference`` (numbers or
    categories; missing values are a bin of their own). Raises ValueError on an empty sample."""
    ref, cur = pd.Series(reference), pd.Series(current)
    if ref.empty or cur.empty:
        raise ValueError(f"PSI needs two non-empty samples, got {len(ref)} and {len(cur)} values")
    numeric = pd.api.types.is_numeric_dtype
    if not (numeric(ref.dtype) and numeric(cur.dtype)):
        levels = sorted(set(ref.dropna().astype(str)) | set(cur.dropna().astype(str)))
        counts = [pd.Categorical(s.dropna().astype(str), categories=levels).value_counts()
                  .to_numpy() for s in (ref, cur)]
    else:
        r = ref.to_numpy(dtype=float, na_value=np.nan)
        c = cur.to_numpy(dtype=float, na_value=np.nan)
        known = r[~np.isnan(r)]
        edges = np.unique(np.quantile(known, np.linspace(0, 1, bins + 1)[1:-1])) \
            if len(known) else np.array([])
        counts = [np.bincount(np.searchsorted(edges, x[~np.isnan(x)], side="right"),
                              minlength=len(edges) + 1) for x in (r, c)]
    e = np.append(counts[0], ref.isna().sum())
    a = np.append(counts[1], cur.isna().sum())
    return _index(e, a)


def stability_table(reference: pd.DataFrame, current: pd.DataFrame,
                    columns: list[str] | None = None, bins: int = 10) -> pd.DataFrame:
    """One row per column (default: those of ``reference``): its index and band. The score
    column, when there, is the PSI; the features' indices are their CSI."""
    columns = list(reference.columns) if columns is None else columns
    absent = [c for c in columns if c not in current.columns]
    if absent:
        raise KeyError(f"current sample lacks column(s): {', '.join(absent[:5])}")
    values = [psi(reference[c], current[c], bins) for c in columns]
    return pd.DataFrame({"column": columns, "index": values,
                         "band": [band(v) for v in values]})
