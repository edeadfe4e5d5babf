"""Batch scoring of a whole data folder with a registered model, in-process.

The folder's tables go through the same feature code as the store; the model is the served
pyfunc loaded from the registry, so batch and online scores are the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from scoring import features as F
from scoring.names import CHAMPION_URI
from scoring.request import pack_history
from scoring.schema import KEY
from scoring.tables import read_tables


def score_folder(data_dir: Path | str, model_uri: str = CHAMPION_URI, chunk: int = 20_000,
                 say: Callable[[str], None] = print) -> pd.DataFrame:
    """``SK_ID_CURR, probability, decision`` for every application_test row of the folder
    (every application_train row when the folder has no application_test)."""
    import mlflow

    tables = read_tables(data_dir)
    rows = F.build_features(tables)
    dataset = "test" if "application_test" in tables else "train"
    rows = rows.filter(rows[F.DATASET] == dataset).to_pandas()
    say(f"scoring {len(rows):,} {dataset} applications with {model_uri}")
    model = mlflow.pyfunc.load_model(model_uri)
    parts = []
    for start in range(0, len(rows), chunk):
        part = rows.iloc[start:start + chunk]
        out = model.predict(pack_history(part), params={"explain": "none"})
        parts.append(pd.DataFrame({KEY: part[KEY].to_numpy(),
                                   "probability": out["probability"].to_numpy(),
                                   "decision": out["decision"].to_numpy()}))
        say(f"  {min(start + chunk, len(rows)):,} / {len(rows):,}")
    return pd.concat(parts, ignore_index=True)
