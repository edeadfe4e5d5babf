"""How the probability of default moves when one actionable field of the application changes,
all else equal: one batch request to the model server for every variant.

Pure data code, no Panel. ``sensitivity`` builds the variants of a client's row (credit
amount, annuity and goods price scaled from a quarter to twice their value), scores them in
one request and returns ``Curves``; ``Curves.recourse`` says, per field, the value nearest the
client's own at which the decision changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from dashboard.refusals import Scorer, score_accepted

#: Fields an advisor can negotiate with the client, in the order shown.
ACTIONABLE = ("AMT_CREDIT", "AMT_ANNUITY", "AMT_GOODS_PRICE")
#: Multiples of the client's value that are scored (the client's own value included).
FACTORS = tuple(np.round(np.linspace(0.25, 2.0, 15), 3))


@dataclass(frozen=True)
class Change:
    """The decision-changing value of one field: ``value`` gives ``decision``."""

    field: str
    current: float
    value: float
    decision: str


@dataclass(frozen=True)
class Curves:
    """Probability per (field, value); ``threshold`` and the client's own ``decision``."""

    frame: pd.DataFrame  # columns: field, factor, value, probability
    threshold: float
    decision: str

    def field(self, name: str) -> pd.DataFrame:
        """The curve of one field, by value (empty when the field was not scored)."""
        return self._fields.get(name, self.frame.iloc[:0])

    @cached_property
    def _fields(self) -> dict[str, pd.DataFrame]:
        # Split once: the recourse card, the what-if curves and the letter each read them.
        return {str(name): part.sort_values("value")
                for name, part in self.frame.groupby("field", sort=False)}

    def recourse(self) -> list[Change]:
        """Per field, the scored value nearest the client's at which the decision is the other
        one (a refused client: granted; a granted client: refused), when there is one."""
        return self._recourse

    @cached_property
    def _recourse(self) -> list[Change]:
        out = []
        for name in ACTIONABLE:
            part = self.field(name)
            if part.empty:
                continue
            current = float(part.loc[part["factor"].sub(1).abs().idxmin(), "value"])
            other = part["probability"] < self.threshold if self.decision == "refused" \
                else part["probability"] >= self.threshold
            flipped = part[other]
            if flipped.empty:
                continue
            nearest = flipped.loc[flipped["value"].sub(current).abs().idxmin()]
            out.append(Change(name, current, float(nearest["value"]),
                              "granted" if self.decision == "refused" else "refused"))
        return out


def variants(row: pd.DataFrame, fields: tuple[str, ...] = ACTIONABLE,
             factors: tuple[float, ...] = FACTORS) -> pd.DataFrame:
    """Copies of the one-row ``row``, one per (field, factor), with ``_field``/``_factor``.

    One take of the row for every variant, then one column write per field (a store row has
    421 columns: concatenating a block per field cost a third of a second).
    """
    base = row.iloc[[0]]
    changed = []
    for name in fields:
        value = base[name].iloc[0] if name in base else None
        if value is None or pd.isna(value) or float(value) <= 0:
            continue
        changed.append((name, [round(float(value) * f) for f in factors]))
    if not changed:
        return base.iloc[:0].assign(_field=[], _factor=[])
    size = len(factors)
    out = base.iloc[np.zeros(size * len(changed), dtype=int)].reset_index(drop=True)
    for k, (name, values) in enumerate(changed):
        column = out[name].to_numpy(dtype="float64", copy=True)
        column[k * size:(k + 1) * size] = values
        out[name] = column
    return out.assign(_field=np.repeat([name for name, _ in changed], size),
                      _factor=np.tile(np.asarray(factors, dtype="float64"), len(changed)))


def sensitivity(scorer: Scorer, row: pd.DataFrame, threshold: float, decision: str,
                fields: tuple[str, ...] = ACTIONABLE) -> Curves:
    """Score every variant of ``row`` in one request (``explain='none'``).

    Variants the server refuses (outside its plausible ranges) are left out
    (``refusals.score_accepted``). Raises ``ScoringError`` when the server is unreachable.
    """
    rows, scores = score_accepted(scorer, variants(row, fields), local=("_field", "_factor"))
    frame = pd.DataFrame({"field": rows["_field"].to_numpy(),
                          "factor": rows["_factor"].to_numpy(dtype="float64"),
                          "value": [float(rows[f].iloc[i]) for i, f in
                                    enumerate(rows["_field"])],
                          "probability": [s.probability for s in scores]})
    return Curves(frame, threshold, decision)
