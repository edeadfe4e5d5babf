"""The labelled data of a training run: store rows of training clients, their folds and an
optional untouched test part.

Folds and test part are stratified on TARGET and fixed by a seed, so a run can be rebuilt from
the store, the seed and the client ids it logged.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
from sklearn.model_selection import StratifiedKFold, train_test_split

from scoring import features as F
from scoring.schema import TARGET
from scoring.store import read_store, store_path
from scoring.tables import DataError, open_parquet
from training.train import Split

#: From this many labelled clients on, ``auto`` keeps ``LARGE_TEST_SHARE`` of them untouched.
LARGE = 100_000
LARGE_TEST_SHARE = 0.1


def load_labelled(store: Path | str, columns: list[str] | None = None) -> pd.DataFrame:
    """Store rows of the training clients (those with a TARGET), in store order, floats as
    float32 (optionally only ``columns``, which must hold TARGET).

    Raises DataError when the store has no labelled rows or only one class.
    """
    frame = read_store(store_path(store), columns, dataset="train", float32=True)
    if frame.empty:
        raise DataError(f"{store}: no training clients (rows with a TARGET) in the store")
    classes = set(frame[TARGET].dropna().astype(int))
    if classes != {0, 1}:
        raise DataError(f"{store}: TARGET must hold both 0 and 1, found {sorted(classes)}")
    return frame


def held_out_share(requested: float | None, clients: int) -> float:
    """The share of clients kept as a test part: ``requested``, or when None (``auto``) 0 below
    ``LARGE`` clients and ``LARGE_TEST_SHARE`` from there on.

    Below 100,000 clients every client is worth more in the folds (the OOF metrics already are
    unseen-client estimates); from there a tenth is 10,000+ clients (~800 defaults), enough for
    an AUC to about ±0.01, and the folds lose little.
    """
    share = (0.0 if clients < LARGE else LARGE_TEST_SHARE) if requested is None else requested
    if not 0.0 <= share < 0.5:
        raise ValueError(f"test share must be in [0, 0.5), got {share}")
    return share


def hold_out(frame: pd.DataFrame, share: float, seed: int = 0,
             ) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """(clients for the folds, untouched test clients or None), stratified on TARGET."""
    if share == 0:
        return frame, None
    rest, test = train_test_split(frame, test_size=share, stratify=frame[TARGET],
                                  random_state=seed)
    return rest.reset_index(drop=True), test.reset_index(drop=True)


def hold_out_positions(y: np.ndarray, share: float, seed: int = 0,
                       ) -> tuple[np.ndarray, np.ndarray]:
    """``hold_out`` by row positions: (CV clients, untouched test clients), each sorted, so
    the store can be read once, in its order (``read_inputs``)."""
    positions = np.arange(len(y))
    if share == 0:
        return positions, positions[:0]
    rest, test = train_test_split(positions, test_size=share, stratify=y, random_state=seed)
    return np.sort(rest), np.sort(test)


def release_memory() -> None:
    """Give the system back what Arrow's and C's allocators keep after a large step frees
    it. At 10x Kaggle the process stayed at 10.6 GiB after LightGBM's CV had freed its folds,
    and the stability check's frames came on top of it (13.7 GiB)."""
    import ctypes
    from contextlib import suppress

    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    with suppress(OSError, AttributeError):  # not glibc: its allocator keeps its own pace
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def folds(y: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """The fold number (0 to k-1) of each client: stratified, shuffled with ``seed``.

    Raises DataError when a class has fewer than k clients.
    """
    counts = np.bincount(np.asarray(y, dtype=int), minlength=2)
    if counts.min() < k:
        raise DataError(f"{k} folds need at least {k} clients of each class, "
                        f"found {counts[0]} repaid and {counts[1]} defaulted")
    fold = np.empty(len(y), dtype=np.int64)
    splitter = StratifiedKFold(k, shuffle=True, random_state=seed)
    for number, (_, held) in enumerate(splitter.split(np.zeros(len(y)), y)):
        fold[held] = number
    return fold


#: Rows turned into model inputs at once (``model_inputs``, ``read_inputs``): bounds their
#: temporary frames (``to_model_frame``'s float64 copies: at 1x, reading the store by 100,000
#: rows peaked at 2.9 GiB, by 20,000 at 1.7 GiB, for a 0.4 GiB model frame).
CHUNK_ROWS = 20_000


class FrameBuilder:
    """A model frame of ``n`` rows filled piece by piece: ``to_model_frame``'s columns, all of
    them in one float32 block (4 bytes a value; categories as codes, missing: NaN) that the
    frame's numbers share and LightGBM reads in place (``Split.matrix``), its categories also
    as pandas categoricals.

    LightGBM bins the values (255 bins), so float32 inputs give the float64 model's bins
    unless two values closer than float32's precision fall on both sides of a bin edge.
    """

    def __init__(self, n: int, features: list[str], sample: pd.DataFrame) -> None:
        self.features = features
        self.head = F.to_model_frame(sample.iloc[:1], features)
        self.columns = list(self.head.columns)
        self.categorical = [c for c in self.columns
                            if isinstance(self.head[c].dtype, pd.CategoricalDtype)]
        self.values = np.empty((n, len(self.columns)), dtype=np.float32)
        self.codes = {c: np.empty(n, dtype=np.int16) for c in self.categorical}

    def put(self, start: int, rows: pd.DataFrame) -> None:
        """The model inputs of store ``rows`` at rows ``start``, ``start + 1``, ..."""
        part = F.to_model_frame(rows, self.features)
        at = slice(start, start + len(part))
        for c in self.categorical:
            self.codes[c][at] = part[c].cat.codes.to_numpy()
        codes = {c: np.where(self.codes[c][at] < 0, np.nan, self.codes[c][at])
                 for c in self.categorical}
        self.values[at] = part.assign(**codes).to_numpy(dtype=np.float32)

    def split(self, y: np.ndarray) -> Split:
        """The model frame (its numbers shared with the block, not copied), ``y`` and the
        block as LightGBM's matrix."""
        X = pd.DataFrame(self.values, columns=self.columns, copy=False)
        for c in self.categorical:  # pandas splits the block around it: no copy
            X[c] = pd.Categorical.from_codes(self.codes.pop(c), dtype=self.head[c].dtype)
        return Split(X, y, self.values)


def model_inputs(rows: pd.DataFrame, features: list[str], chunk: int = CHUNK_ROWS) -> Split:
    """The model frame (``FrameBuilder``: float32 numbers) and labels of some store rows,
    built ``chunk`` rows at a time: no float64 copy of all the rows is ever made."""
    builder = FrameBuilder(len(rows), features, rows)
    for start in range(0, len(rows), chunk):
        builder.put(start, rows.iloc[start:start + chunk])
    return builder.split(rows[TARGET].to_numpy(dtype=np.int64))


def read_inputs(store: Path | str, features: list[str], cv: np.ndarray, test: np.ndarray,
                y: np.ndarray, chunk: int = CHUNK_ROWS,
                ) -> tuple[Split, pd.DataFrame | None, pd.DataFrame]:
    """One pass over the store: the model frame of the labelled clients at positions ``cv``
    (sorted, in ``load_labelled``'s order; labels ``y[cv]``), the whole store rows of those
    at ``test`` (the test part, float32; None when empty) and the first CV client's store
    row. Memory: the model frame, the test rows and one piece of ``chunk`` store rows; the
    CV clients' store rows are never held at once."""
    builder, done, seen, tests = None, 0, 0, []
    is_cv, is_test = np.zeros(len(y), bool), np.zeros(len(y), bool)
    is_cv[cv], is_test[test] = True, True
    with open_parquet(store_path(store)) as parquet:
        for batch in parquet.iter_batches(batch_size=chunk):
            rows = pl.from_arrow(batch).filter(pl.col(F.DATASET) == "train").with_columns(
                pl.col(pl.Float64).cast(pl.Float32))
            at = slice(seen, seen + rows.height)
            seen += rows.height
            if is_test[at].any():
                tests.append(rows.filter(pl.Series(is_test[at])).to_pandas())
            rows = rows.filter(pl.Series(is_cv[at])).to_pandas()
            if builder is None and len(rows):
                builder, first = FrameBuilder(len(cv), features, rows), rows.head(1)
            if len(rows):
                builder.put(done, rows)
                done += len(rows)
    test_rows = pd.concat(tests, ignore_index=True) if tests else None
    release_memory()  # Arrow's allocator kept 0.4 GiB at 3x
    return builder.split(y[cv].astype(np.int64)), test_rows, first
