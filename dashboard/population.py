"""The population the advisor compares a client with: columns of every client, groups of
similar clients, outcome histograms, the id index, and a sample scored by the model server.

Pure data code, no Panel: ``app.py`` caches these readers with ``pn.cache`` so each runs once
per server, not once per client.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Self

import numpy as np
import pandas as pd

from dashboard.refusals import score_accepted
from dashboard.words import display_value, display_values
from scoring.features import DATASET, KEY, NOT_INPUTS
from scoring.names import DAYS_PER_YEAR
from scoring.schema import APPLICATION_TEST, TARGET
from scoring.store import (
    client_ids,
    read_id_range,
    read_store,
    read_store_schema,
)
from serving.client import ScoringClient, ScoringError

#: Application fields always offered in the comparisons, before the model's top features.
KEY_FEATURES = ("EXT_SOURCE_2", "EXT_SOURCE_3", "EXT_SOURCE_1", "DAYS_BIRTH", "DAYS_EMPLOYED",
                "AMT_INCOME_TOTAL", "AMT_CREDIT", "AMT_ANNUITY", "AMT_GOODS_PRICE",
                "CNT_CHILDREN")
#: Columns defining groups of similar clients: criterion -> (column, words).
GROUPS = {"contract type": "NAME_CONTRACT_TYPE", "income type": "NAME_INCOME_TYPE",
          "age band": "AGE_BAND", "gender": "CODE_GENDER"}
OUTCOMES = {0: "repaid", 1: "defaulted"}


def plot_features(store: Path | str, importance: pd.DataFrame | None, top: int = 12
                  ) -> list[str]:
    """Numeric store columns offered in the comparisons: key fields, then the model's most
    important stored features."""
    schema = read_store_schema(store)
    numeric = {c for c in schema.columns if pd.api.types.is_numeric_dtype(schema[c])}
    ranked = list(importance["feature"]) if importance is not None else []
    chosen = [f for f in KEY_FEATURES if f in numeric]
    chosen += [f for f in ranked if f in numeric and f not in chosen][:top]
    return chosen


def age_band(days_birth: pd.Series | float) -> pd.Series | str:
    """10-year age bands such as '40-49' from ``DAYS_BIRTH``."""
    years = np.floor(np.abs(np.asarray(days_birth, dtype="float64")) / DAYS_PER_YEAR / 10) * 10
    bands = pd.Series(years).map(lambda y: "unknown" if np.isnan(y) else f"{y:.0f}-{y + 9:.0f}")
    return bands if isinstance(days_birth, pd.Series) else bands.iloc[0]


GroupKey = tuple[tuple[str, str], ...]


def group_key(row: pd.Series, criteria: Sequence[str]) -> GroupKey:
    """The client's group as (criterion, value) pairs, e.g. (('age band', '40-49'),)."""
    key = []
    for criterion in criteria:
        column = GROUPS[criterion]
        value = age_band(row.get("DAYS_BIRTH")) if column == "AGE_BAND" else row.get(column)
        key.append((criterion, str(value)))
    return tuple(key)


class Population:
    """Every client's outcome, group columns and comparison features, loaded once per server.

    Derived tables (group masks, histograms, medians) are cached by their simple keys, so
    switching client only recomputes what the new client's group changes.
    """

    def __init__(self, frame: pd.DataFrame, features: Sequence[str]) -> None:
        self.frame = frame
        self.features = list(features)
        self._target = frame[TARGET].to_numpy(dtype="float64", na_value=np.nan)
        self._values: dict[str, np.ndarray] = {}
        self._masks: dict[GroupKey, np.ndarray] = {}
        self._codes: dict[str, tuple[np.ndarray, dict[str, int]]] = {}
        self._medians: dict[tuple[str, GroupKey, int | None], float] = {}
        self._histograms: dict[tuple[str, GroupKey], pd.DataFrame] = {}

    @classmethod
    def load(cls, store: Path | str, features: Sequence[str]) -> Population:
        """Read the population's columns from the feature store."""
        columns = [KEY, TARGET, DATASET, *[c for c in GROUPS.values() if c != "AGE_BAND"]]
        frame = read_store(store, list(dict.fromkeys([*columns, "DAYS_BIRTH", *features])))
        frame["AGE_BAND"] = age_band(frame["DAYS_BIRTH"])
        return cls(frame, features)

    def __len__(self) -> int:
        return len(self.frame)

    def values(self, feature: str) -> np.ndarray:
        """A column on the plots' scale (days as years)."""
        if feature not in self._values:
            self._values[feature] = display_values(
                feature, self.frame[feature].to_numpy(dtype="float64", na_value=np.nan))
        return self._values[feature]

    def _coded(self, column: str) -> tuple[np.ndarray, dict[str, int]]:
        """A group column as integer codes and its text -> code map, converted once (a group's
        mask then compares integers, not 356,255 strings)."""
        if column not in self._codes:
            codes, levels = pd.factorize(self.frame[column].astype(str))
            self._codes[column] = (codes, {str(v): i for i, v in enumerate(levels)})
        return self._codes[column]

    def mask(self, key: GroupKey) -> np.ndarray:
        """True for the clients of the group ``key``."""
        if key not in self._masks:
            mask = np.ones(len(self.frame), dtype=bool)
            for criterion, value in key:
                codes, levels = self._coded(GROUPS[criterion])
                mask &= codes == levels.get(value, -2)
            self._masks[key] = mask
        return self._masks[key]

    def warm(self, criteria: Sequence[str]) -> None:
        """Compute the medians of every group of ``criteria`` (what a client switch on the
        comparisons page shows) ahead of the first switch into each group."""
        columns = [self._coded(GROUPS[c])[1] for c in criteria]
        keys = [()]
        for criterion, levels in zip(criteria, columns, strict=True):
            keys = [(*k, (criterion, v)) for k in keys for v in levels]
        for key in keys:
            if self.size(key):
                for feature in self.features:
                    for outcome in (None, 0, 1):
                        self.median(feature, key, outcome)

    def histograms(self, feature: str, key: GroupKey = (), bins: int = 40) -> pd.DataFrame:
        """Share of repaid and of defaulted clients of the group per bin of ``feature``.

        Labelled clients only. Bins span the 0.5th to 99.5th percentile so that a few extreme
        values do not squash the plot. Columns: ``left``, ``right``, ``repaid``,
        ``defaulted`` (shares summing to 1 per outcome).
        """
        if (feature, key) not in self._histograms:
            self._histograms[feature, key] = _histograms(
                self.values(feature), self._target, self.mask(key), bins)
        return self._histograms[feature, key]

    def default_rate(self, key: GroupKey = ()) -> float:
        """Share of defaulted clients among the labelled clients of the group."""
        target = self._target[self.mask(key)]
        target = target[~np.isnan(target)]
        return float(target.mean()) if target.size else float("nan")

    def size(self, key: GroupKey = ()) -> int:
        return int(self.mask(key).sum())

    def median(self, feature: str, key: GroupKey = (), outcome: int | None = None) -> float:
        """Median of ``feature`` in the group (of its repaid (0) or defaulted (1) clients)."""
        if (feature, key, outcome) not in self._medians:
            mask = self.mask(key)
            if outcome is not None:
                mask = mask & (self._target == outcome)
            x = self.values(feature)[mask]
            x = x[~np.isnan(x)]
            self._medians[feature, key, outcome] = float(np.median(x)) if x.size else np.nan
        return self._medians[feature, key, outcome]

    def share_below(self, feature: str, value: float, key: GroupKey = ()) -> float:
        """Share of the group with a lower value of ``feature`` (plot scale), in [0, 1]."""
        x = self.values(feature)[self.mask(key)]
        x = x[~np.isnan(x)]
        return float((x < value).mean()) if x.size and not np.isnan(value) else float("nan")

    def compare(self, row: pd.Series, key: GroupKey) -> pd.DataFrame:
        """Per feature: the client's value and the medians of the group and of everyone."""
        return pd.DataFrame([{"feature": f, "client": display_value(f, row.get(f)),
                              "similar": self.median(f, key), "all": self.median(f)}
                             for f in self.features])


def _histograms(x: np.ndarray, target: np.ndarray, mask: np.ndarray, bins: int
                ) -> pd.DataFrame:
    keep = mask & ~np.isnan(x) & ~np.isnan(target)
    if not keep.any():
        return pd.DataFrame(columns=["left", "right", *OUTCOMES.values()])
    low, high = np.nanpercentile(x[keep], [0.5, 99.5])
    edges = np.unique(np.linspace(low, high if high > low else low + 1, bins + 1))
    out = pd.DataFrame({"left": edges[:-1], "right": edges[1:]})
    for code, name in OUTCOMES.items():
        counts, _ = np.histogram(np.clip(x[keep & (target == code)], low, high), bins=edges)
        out[name] = counts / max(counts.sum(), 1)
    return out


def new_client_template(store: Path | str, sample: int = 2_000) -> pd.DataFrame:
    """A one-row application for a new client: the most common value of every field the
    Kaggle files always fill (from the first ``sample`` clients), other fields missing, and
    no history."""
    ids = client_ids(store)
    rows = read_id_range(store, ids[0], ids[min(sample, len(ids)) - 1])
    template = {}
    for column in APPLICATION_TEST.columns:
        if column.nullable or column.name not in rows:
            template[column.name] = None
        else:
            template[column.name] = rows[column.name].mode(dropna=True).iloc[0]
    template[KEY] = 0
    return pd.DataFrame([template])


class IdIndex:
    """Prefix search over the client ids of the store (type a few digits, get matches)."""

    def __init__(self, ids: Sequence[int]) -> None:
        self._ids = np.sort(np.array([str(i) for i in ids]))
        self._known = set(int(i) for i in ids)

    def __contains__(self, client_id: int) -> bool:
        return int(client_id) in self._known

    def __len__(self) -> int:
        return len(self._known)

    def matches(self, prefix: str, limit: int = 20) -> list[str]:
        """Up to ``limit`` ids starting with ``prefix``, in text order."""
        prefix = prefix.strip()
        if not prefix.isdigit():
            return []
        start = np.searchsorted(self._ids, prefix, side="left")
        found = self._ids[start:start + limit]
        return [str(i) for i in found if i.startswith(prefix)]


def id_index(store: Path | str) -> IdIndex:
    """The index of every client id of the store."""
    return IdIndex(client_ids(store))


class InBackground:
    """What a sample scored in a daemon thread offers: ``start`` it once, then it is
    ``ready`` when its ``frame`` is there (the class declares ``frame``, ``_thread``,
    ``thread_name`` and ``_run``)."""

    frame: pd.DataFrame | None
    _thread: threading.Thread | None
    thread_name: ClassVar[str]

    @property
    def ready(self) -> bool:
        return self.frame is not None

    def start(self) -> Self:
        """Start in a daemon thread (once); returns self."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, daemon=True,
                                            name=self.thread_name)
            self._thread.start()
        return self

    def _run(self) -> None:
        raise NotImplementedError


@dataclass
class ScoredSample(InBackground):
    """A random sample of clients scored once by the model server, in a background thread.

    Until ``ready``, the views say that the sample is being scored; while the model server is
    down the thread waits and retries, so the sample completes once the server is back.
    """

    store: Path | str
    client: ScoringClient
    size: int = 20_000
    batch: int = 500
    retry_seconds: float = 5.0
    #: Pause between batches: building a request holds the GIL, so scoring flat out would
    #: slow down the pages served meanwhile.
    pause_seconds: float = 0.3
    seed: int = 0
    frame: pd.DataFrame | None = None
    error: str | None = None
    _thread: threading.Thread | None = field(default=None, repr=False)
    thread_name: ClassVar[str] = "dashboard-sample"

    def _run(self) -> None:
        # Random runs of consecutive ids: each batch reads one or two row groups of the
        # store instead of decoding all of them (ids carry no information).
        ids = np.array(client_ids(self.store))
        rng = np.random.default_rng(self.seed)
        blocks = max(1, ids.size // self.batch)
        runs = min(blocks, max(1, self.size // self.batch))
        starts = np.sort(rng.choice(blocks, size=runs, replace=False)) * self.batch
        parts = []
        for start in starts:
            last = ids[min(start + self.batch, ids.size) - 1]
            parts.append(self._scored(read_id_range(self.store, ids[start], last)))
            time.sleep(self.pause_seconds)
        self.error = None
        self.frame = pd.concat(parts, ignore_index=True)

    def _scored(self, rows: pd.DataFrame) -> pd.DataFrame:
        """The rows the server accepts, with their probability; waits while it is down.

        Refused clients (outside the model's plausible ranges) are left out
        (``refusals.score_accepted``).
        """
        while True:
            try:
                kept, scores = score_accepted(self.client, rows, local=NOT_INPUTS)
                return kept.assign(probability=[s.probability for s in scores])
            except ScoringError as err:
                self.error = str(err)
                time.sleep(self.retry_seconds)


def score_sample(store: Path | str, client: ScoringClient, size: int) -> ScoredSample:
    """A started ``ScoredSample`` of ``size`` clients."""
    return ScoredSample(store, client, size=size).start()


@dataclass
class ExplainedSample(InBackground):
    """Every feature's contribution for ``size`` clients (``explain='all'``), computed once in
    a background thread (a few seconds of the model server's time): long frame of
    ``SK_ID_CURR``, ``feature``, ``value``, ``contribution``.

    Clients are one run of consecutive ids from a random start (one or two row groups read);
    clients the server refuses (outside its plausible ranges) are left out.
    """

    store: Path | str
    client: ScoringClient
    size: int = 150
    seed: int = 0
    retry_seconds: float = 5.0
    frame: pd.DataFrame | None = None
    error: str | None = None
    _thread: threading.Thread | None = field(default=None, repr=False)
    thread_name: ClassVar[str] = "dashboard-contributions"

    def _run(self) -> None:
        ids = np.array(client_ids(self.store))
        start = int(np.random.default_rng(self.seed).integers(0, max(1, ids.size - self.size)))
        rows = read_id_range(self.store, ids[start], ids[min(start + self.size, ids.size) - 1])
        while True:
            try:
                _, scores = score_accepted(self.client, rows, "all", local=NOT_INPUTS)
                break
            except ScoringError as err:
                self.error = str(err)
                time.sleep(self.retry_seconds)  # server down: try again
        self.error = None
        self.frame = pd.DataFrame([{KEY: s.client_id, "feature": r["feature"],
                                    "value": r.get("value"),
                                    "contribution": float(r["contribution"])}
                                   for s in scores for r in s.reasons])
