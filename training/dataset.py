"""The labelled data of a training run: store rows of training clients, their folds and an
optional untouched test part.

Folds and test part are stratified on TARGET and fixed by a seed, so a run can be rebuilt from
the store, the seed and the client ids it logged.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold, train_test_split

from scoring import features as F
from scoring.schema import TARGET
from scoring.store import read_store, store_path
from scoring.tables import DataError
from training.train import Split

#: From this many labelled clients on, ``auto`` keeps ``LARGE_TEST_SHARE`` of them untouched.
LARGE = 100_000
LARGE_TEST_SHARE = 0.1


def load_labelled(store: Path | str) -> pd.DataFrame:
    """Store rows of the training clients (those with a TARGET), floats as float32.

    Raises DataError when the store has no labelled rows or only one class.
    """
    frame = read_store(store_path(store), dataset="train", float32=True)
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


#: Rows turned into model inputs at once by ``model_inputs``: bounds its temporary frames.
CHUNK_ROWS = 100_000


def model_inputs(rows: pd.DataFrame, features: list[str], chunk: int = CHUNK_ROWS) -> Split:
    """The model frame (``to_model_frame``'s, its numbers as float32) and labels of some store
    rows.

    Built ``chunk`` rows at a time into one float32 block: the frame takes 4 bytes per value
    and no float64 copy of all the rows is ever made. LightGBM bins the values (255 bins), so
    float32 inputs give the float64 model's bins unless two values closer than float32's
    precision fall on both sides of a bin edge.
    """
    head = F.to_model_frame(rows.iloc[:1], features)
    categorical = [c for c in head.columns if isinstance(head[c].dtype, pd.CategoricalDtype)]
    numeric = [c for c in head.columns if c not in categorical]
    values = np.empty((len(rows), len(numeric)), dtype=np.float32)
    codes = {c: np.empty(len(rows), dtype=np.int16) for c in categorical}
    for start in range(0, len(rows), chunk):
        part = F.to_model_frame(rows.iloc[start:start + chunk], features)
        values[start:start + len(part)] = part[numeric].to_numpy(dtype=np.float32)
        for c in categorical:
            codes[c][start:start + len(part)] = part[c].cat.codes.to_numpy()
    X = pd.DataFrame(values, columns=numeric, copy=False)
    for c in categorical:  # in the features' order: each goes to its final place
        X.insert(list(head.columns).index(c), c,
                 pd.Categorical.from_codes(codes.pop(c), dtype=head[c].dtype))
    return Split(X, rows[TARGET].to_numpy(dtype=np.int64))
