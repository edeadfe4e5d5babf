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
from scoring.tables import find_file


def score_folder(data_dir: Path | str, model_uri: str = CHAMPION_URI, chunk: int = 20_000,
                 say: Callable[[str], None] = print) -> pd.DataFrame:
    """``SK_ID_CURR, probability, decision`` for every application_test row of the folder
    (every application_train row when the folder has no application_test).

    The features are built by client range (``scoring.partitions``, one range per 400,000
    clients) and each range scored in chunks: memory is bounded by a range, not the folder.
    """
    import mlflow

    from scoring.partitions import partition_frames

    dataset = "test" if find_file(data_dir, "application_test") else "train"
    say(f"scoring the {dataset} applications with {model_uri}")
    model = mlflow.pyfunc.load_model(model_uri)
    parts, done = [], 0
    for frame in partition_frames(data_dir, say=say):
        rows = frame.filter(frame[F.DATASET] == dataset)
        del frame
        for start in range(0, rows.height, chunk):
            part = rows.slice(start, chunk).to_pandas()
            out = model.predict(pack_history(part), params={"explain": "none"})
            parts.append(pd.DataFrame({KEY: part[KEY].to_numpy(),
                                       "probability": out["probability"].to_numpy(),
                                       "decision": out["decision"].to_numpy()}))
        done += rows.height
        say(f"  {done:,} scored")
    if not parts:
        return pd.DataFrame({KEY: [], "probability": [], "decision": []})
    return pd.concat(parts, ignore_index=True)
