"""Protected attributes: the one list of client characteristics the lender must not decide on.

Each attribute names its raw application field, how clients are grouped by it for the fairness
reports, and whether the model leaves it out by default. A left-out attribute takes every model
input computed from it along (found by perturbing the field, so a new derived feature cannot
slip through). Age stays a model input unless excluded, and is always reported.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from scoring import features as F

DAYS_PER_YEAR = 365.25


@dataclass(frozen=True)
class Protected:
    """A protected attribute: its raw field, its groups and whether the model reads it."""

    name: str  # short name, used in metric names (``air_min_<name>``) and on the CLI
    column: str  # the raw application field
    excluded: bool  # left out of the model unless ``--use-protected NAME``
    bands: tuple[float, ...] = ()  # band edges in years, for age

    def groups(self, rows: pd.DataFrame) -> pd.Categorical:
        """Each row's group label (``missing`` when the field is empty), as a categorical whose
        levels are in reading order (age bands youngest first) and all present."""
        if self.column not in rows:
            raise KeyError(f"protected attribute {self.name}: column {self.column} is absent")
        values = rows[self.column]
        if not self.bands:
            labels = values.astype(object).where(values.notna(), "missing").astype(str)
            return pd.Categorical(labels.to_numpy(dtype=object))
        years = -pd.to_numeric(values, errors="coerce").to_numpy(dtype=float) / DAYS_PER_YEAR
        edges = [int(b) for b in self.bands]
        inner = [f"{a}-{b - 1}" for a, b in zip(edges[:-1], edges[1:], strict=True)]
        labels = [f"<{edges[0]}", *inner, f"{edges[-1]}+"]
        index = np.searchsorted(np.asarray(self.bands), years, side="right")
        codes = np.where(np.isnan(years), len(labels), index)
        return pd.Categorical.from_codes(codes, [*labels, "missing"]).remove_unused_categories()

    def features(self) -> tuple[str, ...]:
        """The model inputs that read this attribute: the field itself and what derives from it."""
        return features_of(self.column)


#: The configured protected attributes, by short name.
PROTECTED: dict[str, Protected] = {p.name: p for p in (
    Protected("gender", "CODE_GENDER", excluded=True),
    Protected("family_status", "NAME_FAMILY_STATUS", excluded=True),
    Protected("age", "DAYS_BIRTH", excluded=False, bands=(30, 40, 50, 60)),
)}


@functools.cache
def features_of(column: str) -> tuple[str, ...]:
    """``column`` (when a model input) and every application feature whose value moves when
    ``column`` moves, in ``FEATURES`` order."""
    out = {column} & set(F.FEATURES)
    if column in F.APPLICATION_INPUTS:
        rng = np.random.default_rng(0)
        base = {c: rng.uniform(-2000.0, -100.0, 8) for c in F.APPLICATION_INPUTS}
        moved = {**base, column: base[column] * 1.5}
        before, after = F.derive_application_features(base), F.derive_application_features(moved)
        out |= {name for name in before
                if not np.array_equal(before[name], after[name], equal_nan=True)}
    return tuple(f for f in F.FEATURES if f in out)


def resolve(names: Iterable[str]) -> list[Protected]:
    """The attributes named (short name or column, any case); raises ValueError on others."""
    by_key = {**{p.name: p for p in PROTECTED.values()},
              **{p.column.lower(): p for p in PROTECTED.values()}}
    out = []
    for name in names:
        found = by_key.get(name.strip().lower())
        if found is None:
            raise ValueError(f"unknown protected attribute {name!r}; expected one of "
                             f"{', '.join(PROTECTED)} (or their columns "
                             f"{', '.join(p.column for p in PROTECTED.values())})")
        out.append(found)
    return out


def excluded(use: Iterable[str] = (), exclude: Iterable[str] = ()) -> list[Protected]:
    """The attributes left out of the model: the default ones minus ``use``, plus ``exclude``."""
    use_, exclude_ = {p.name for p in resolve(use)}, {p.name for p in resolve(exclude)}
    both = use_ & exclude_
    if both:
        raise ValueError(f"protected attribute(s) both used and excluded: {', '.join(both)}")
    return [p for p in PROTECTED.values()
            if (p.excluded and p.name not in use_) or p.name in exclude_]


def excluded_features(attributes: Iterable[Protected]) -> set[str]:
    """Every model input that reads one of ``attributes``."""
    return {f for p in attributes for f in p.features()}
