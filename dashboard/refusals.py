"""Scoring many rows at once when the model server may refuse some of them: the rows it
accepts are scored, the ones it refuses (outside its plausible ranges, an unknown level, a
missing value) are left out.

One rule for every batch the dashboard sends (the scored sample, the explained sample, the
what-if variants): a refusal that names a field and a value drops the rows it names; one that
does not is narrowed down by halves until each refused row stands alone. Pure data code, no
Panel.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import pandas as pd

from scoring.request import RequestError
from serving.client import Score, ScoringError


class Scorer(Protocol):
    def score(self, rows: pd.DataFrame, explain: str = ...) -> list[Score]: ...


def is_refusal(err: ScoringError) -> bool:
    """True when the server answered and refused the request (a 4xx), as opposed to being
    down or failing."""
    return err.status is not None and 400 <= err.status < 500


def refused_rows_dropped(rows: pd.DataFrame, error: RequestError | None,
                         ) -> pd.DataFrame | None:
    """The rows without those the model server's refusal ``error`` refers to, or None when
    it does not say which (out of range, unknown level, missing value of a column)."""
    if error is None or error.field not in rows:
        return None
    column = rows[error.field]
    if error.code == "outside_range":
        values = pd.to_numeric(column, errors="coerce")
        low = -np.inf if error.low is None else error.low
        high = np.inf if error.high is None else error.high
        return rows[values.isna() | values.between(low, high)]
    if error.code == "unknown_level":
        return rows[column.astype(str) != str(error.value)]
    if error.code == "missing":
        return rows[column.notna()]
    return None


def score_accepted(scorer: Scorer, rows: pd.DataFrame, explain: str = "none",
                   local: Sequence[str] = ()) -> tuple[pd.DataFrame, list[Score]]:
    """Score ``rows`` (sent without the ``local`` columns), leaving out those the server
    refuses; returns the rows kept and their scores, in the same order.

    Raises ``ScoringError`` when the server is unreachable or fails (anything but a refusal).
    """
    while not rows.empty:
        try:
            return rows, scorer.score(rows.drop(columns=list(local)), explain=explain)
        except ScoringError as err:
            if not is_refusal(err):
                raise
            kept = refused_rows_dropped(rows, err.error)
            if kept is None or len(kept) == len(rows):
                break  # the refusal does not say which rows: narrow it down by halves
            rows = kept
    if len(rows) <= 1:  # nothing left, or the one row refused
        return rows.iloc[:0], []
    half = len(rows) // 2
    first, first_scores = score_accepted(scorer, rows.iloc[:half], explain, local)
    second, second_scores = score_accepted(scorer, rows.iloc[half:], explain, local)
    return pd.concat([first, second]), first_scores + second_scores
