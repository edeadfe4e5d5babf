"""The labelled data of a training run: store rows of training clients, split three ways.

The split is stratified on TARGET and fixed by a seed, so promotion can rebuild the same
test part from the store and the client ids a run logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from scoring import features as F
from scoring.schema import TARGET
from scoring.store import read_store, store_path
from scoring.tables import DataError
from training.train import Split


@dataclass
class Parts:
    """Store rows of the train, validation and test parts (raw fields + history)."""

    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame

    def sizes(self) -> dict[str, int]:
        return {"train_rows": len(self.train), "valid_rows": len(self.valid),
                "test_rows": len(self.test)}


def load_labelled(store: Path | str) -> pd.DataFrame:
    """Store rows of the training clients (those with a TARGET).

    Raises DataError when the store has no labelled rows or only one class.
    """
    frame = read_store(store_path(store))
    frame = frame[frame[F.DATASET] == "train"].reset_index(drop=True)
    if frame.empty:
        raise DataError(f"{store}: no training clients (rows with a TARGET) in the store")
    classes = set(frame[TARGET].dropna().astype(int))
    if classes != {0, 1}:
        raise DataError(f"{store}: TARGET must hold both 0 and 1, found {sorted(classes)}")
    return frame


def split(frame: pd.DataFrame, seed: int = 0, valid_share: float = 0.15,
          test_share: float = 0.15) -> Parts:
    """Stratified train / validation / test parts of labelled store rows."""
    rest, test = train_test_split(frame, test_size=test_share, stratify=frame[TARGET],
                                  random_state=seed)
    train, valid = train_test_split(rest, test_size=valid_share / (1 - test_share),
                                    stratify=rest[TARGET], random_state=seed)
    return Parts(train, valid, test)


def model_inputs(rows: pd.DataFrame, features: list[str]) -> Split:
    """The model frame and labels of some store rows."""
    return Split(F.to_model_frame(rows, features), rows[TARGET].to_numpy(dtype=np.int64))
