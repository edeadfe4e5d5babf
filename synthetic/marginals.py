"""One column's calibrated distribution: fitted from a real column, sampled by the generator.

A column is one of four kinds, each a frozen dataclass whose fields are its JSON keys:
:class:`Categories` (level shares, the missing level included), :class:`Discrete` (value
frequencies of a numeric column with few distinct values), :class:`Quantiles` (an
inverse-CDF grid) and :class:`AlwaysMissing`. :func:`fit_column` computes one from a series.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

#: A numeric column with at most this many distinct values is stored as value frequencies.
MAX_DISCRETE = 40


def rounded(x: Any) -> Any:
    """Floats (scalars, or arrays as tuples) to 6 significant digits, to keep the JSON small."""
    if isinstance(x, np.ndarray | list | tuple):
        return tuple(rounded(v) for v in x)
    x = float(x)
    return x if not math.isfinite(x) else float(f"{x:.6g}")


def _pick(freq: tuple[float, ...] | np.ndarray, u: np.ndarray) -> np.ndarray:
    """Indexes into ``freq`` (unnormalised shares) at uniforms ``u``."""
    cum = np.cumsum(freq)
    return np.minimum(np.searchsorted(cum / cum[-1], u, side="right"), len(cum) - 1)


@dataclass(frozen=True)
class ColumnCalibration:
    """Share of missing values; the subclasses say how present values are distributed."""

    missing: float

    @staticmethod
    def kind(data: dict[str, Any]) -> type[ColumnCalibration]:
        """The subclass a JSON object describes, told by its distinctive key."""
        for key, cls in (("levels", Categories), ("values", Discrete), ("q", Quantiles)):
            if key in data:
                return cls
        return AlwaysMissing


@dataclass(frozen=True)
class Categories(ColumnCalibration):
    """Category levels and their shares; ``None`` is the missing level."""

    levels: tuple[str | None, ...]
    freq: tuple[float, ...]

    def codes(self, u: np.ndarray, levels: list[str | None],
              keep_missing: bool = True) -> np.ndarray:
        """Codes into ``levels`` (the schema's, missing last) at uniforms ``u``.

        ``keep_missing=False`` draws among the present levels only (the caller applies a
        missing mask of its own, e.g. a co-missing group).
        """
        names, freq = list(self.levels), np.asarray(self.freq, dtype=np.float64)
        if not keep_missing and None in names and len(names) > 1:
            freq[names.index(None)] = 0.0
        lookup = np.array([levels.index(v) if v in levels else len(levels) - 1 for v in names])
        return lookup[_pick(freq, u)]


@dataclass(frozen=True)
class Numeric(ColumnCalibration):
    """A numeric column: values at uniforms, and the CDF at a point."""

    def inverse_cdf(self, u: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def cdf_at(self, x: float) -> float:
        raise NotImplementedError


@dataclass(frozen=True)
class AlwaysMissing(Numeric):
    """A numeric column without a single value."""

    def inverse_cdf(self, u: np.ndarray) -> np.ndarray:
        return np.full(len(u), np.nan)

    def cdf_at(self, x: float) -> float:
        return 1.0


@dataclass(frozen=True)
class Discrete(Numeric):
    """Frequencies of the few distinct values of a numeric column."""

    integral: bool
    values: tuple[float, ...]
    freq: tuple[float, ...]
    zero: float

    def inverse_cdf(self, u: np.ndarray) -> np.ndarray:
        return np.asarray(self.values, dtype=np.float64)[_pick(self.freq, u)]

    def cdf_at(self, x: float) -> float:
        return float(np.sum(np.asarray(self.freq)[np.asarray(self.values) <= x]))


@dataclass(frozen=True)
class Quantiles(Numeric):
    """Quantiles ``q`` at probabilities ``p``, interpolated linearly in between."""

    integral: bool
    p: tuple[float, ...]
    q: tuple[float, ...]
    zero: float

    def inverse_cdf(self, u: np.ndarray) -> np.ndarray:
        x = np.interp(u, np.asarray(self.p), np.asarray(self.q, dtype=np.float64))
        return np.round(x) if self.integral else x

    def cdf_at(self, x: float) -> float:
        q, p = np.asarray(self.q), np.asarray(self.p)
        hi = int(np.searchsorted(q, x, side="right"))  # first quantile above x
        if hi == 0:
            return 0.0
        if hi == len(q):
            return 1.0
        lo = hi - 1  # a flat run of quantiles at x counts whole (point masses such as 0)
        return float(p[lo] + (p[hi] - p[lo]) * (x - q[lo]) / (q[hi] - q[lo]))


def fit_column(values: pl.Series, n_quantiles: int, order: pl.Series | None = None,
               ) -> ColumnCalibration:
    """Summary of one column: missing share plus quantiles or value/level frequencies.

    Categories (and numeric columns with few distinct values) keep their frequencies; a
    missing category is a level of its own (``None``). ``order``, a 0/1 target aligned with
    ``values``, sorts category levels by default rate so the copula's latent axis means risk.
    """
    n = len(values)
    missing = rounded(values.null_count() / n) if n else 0.0
    if values.dtype == pl.String:
        counts = (pl.DataFrame({"v": values, "t": order if order is not None else 0.0})
                  .group_by("v").agg(pl.len().alias("n"), pl.col("t").mean().alias("t")))
        counts = counts.sort(["t", "n", "v"] if order is not None else ["n", "v"],
                             descending=order is None, nulls_last=True)
        return Categories(missing, tuple(counts["v"].to_list()),
                          rounded(counts["n"].to_numpy() / n))
    clean = values.drop_nulls().cast(pl.Float64)
    clean = clean.filter(clean.is_finite())
    if clean.len() == 0:
        return AlwaysMissing(1.0)
    integral = bool((clean == clean.round(0)).all())
    zero = rounded((clean == 0).mean())
    distinct = clean.value_counts(sort=False).sort(clean.name)
    if distinct.height <= MAX_DISCRETE:
        return Discrete(missing, integral, rounded(distinct[clean.name].to_numpy()),
                        rounded(distinct["count"].to_numpy() / clean.len()), zero)
    return Quantiles(missing, integral, *quantile_grid(clean.to_numpy(), n_quantiles), zero)


def quantile_grid(x: np.ndarray, n_quantiles: int) -> tuple[tuple[float, ...], ...]:
    """Probabilities and quantiles for inverse-CDF sampling (linear in between).

    Extra points in both tails follow heavy tails more closely, and the two end points are
    moved (within the observed range) so that each end segment keeps the mean of the real
    values in it: interpolating up to a raw maximum such as a 117M income would inflate the
    mean several times over.
    """
    tail = [0.001, 0.005, 0.995, 0.999]
    p = np.unique(np.r_[np.linspace(0, 1, n_quantiles), tail])
    q = np.quantile(x, p)
    top, bottom = x[x >= q[-2]], x[x <= q[1]]
    q[-1] = np.clip(2 * top.mean() - q[-2], q[-2], q[-1])
    q[0] = np.clip(2 * bottom.mean() - q[1], q[0], q[1])
    return rounded(p), rounded(q)
