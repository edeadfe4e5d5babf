"""Batch scoring of a whole data folder with a registered model, in-process.

The folder's tables go through the same feature code as the store; the model is the served
pyfunc loaded from the registry, so batch and online scores are the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from scoring import features as F
from scoring.names import CHAMPION_URI
from scoring.request import RequestError, pack_history
from scoring.schema import KEY
from scoring.tables import find_file


@dataclass
class BatchScores:
    """What a batch run gives: ``scores`` (``SK_ID_CURR, probability, decision``) and the
    applications the model refused, set aside (``SK_ID_CURR, field, problem``)."""

    scores: pd.DataFrame
    not_scored: pd.DataFrame


def score_folder(data_dir: Path | str, model_uri: str = CHAMPION_URI, chunk: int = 20_000,
                 say: Callable[[str], None] = print) -> BatchScores:
    """Scores of every application_test row of the folder (every application_train row when
    the folder has no application_test).

    The features are built by client range (``scoring.partitions``, one range per 400,000
    clients) and each range scored in chunks: memory is bounded by a range, not the folder.
    An application the model refuses (a value outside its plausible range) is set aside with
    the model's reason, and the rest of its chunk is scored.
    """
    import mlflow

    from scoring.partitions import partition_frames

    dataset = "test" if find_file(data_dir, "application_test") else "train"
    say(f"scoring the {dataset} applications with {model_uri}")
    model = mlflow.pyfunc.load_model(model_uri)
    parts: list[pd.DataFrame] = []
    refused: list[dict[str, object]] = []
    done = 0
    for frame in partition_frames(data_dir, say=say):
        rows = frame.filter(frame[F.DATASET] == dataset)
        del frame
        for start in range(0, rows.height, chunk):
            _score(model, rows.slice(start, chunk).to_pandas(), parts, refused)
        done += rows.height
        say(f"  {done:,} scored")
    scores = (pd.concat(parts, ignore_index=True) if parts
              else pd.DataFrame({KEY: [], "probability": [], "decision": []}))
    return BatchScores(scores, pd.DataFrame(refused, columns=[KEY, "field", "problem"]))


def _score(model, part: pd.DataFrame, parts: list[pd.DataFrame],
           refused: list[dict[str, object]]) -> None:
    """Score ``part`` into ``parts``; a refused part is halved until each refused application
    is alone, and that one goes to ``refused`` with the model's reason."""
    from mlflow.exceptions import MlflowException

    try:
        out = model.predict(pack_history(part), params={"explain": "none"})
    except MlflowException as err:
        error = RequestError.from_json(err.message)
        if error is None:  # not a refusal of the input: a failure of the run
            raise
        if len(part) == 1:
            refused.append({KEY: int(part[KEY].iloc[0]), "field": error.field,
                            "problem": error.message})
            return
        half = len(part) // 2
        _score(model, part.iloc[:half], parts, refused)
        _score(model, part.iloc[half:], parts, refused)
        return
    parts.append(pd.DataFrame({KEY: part[KEY].to_numpy(),
                               "probability": out["probability"].to_numpy(),
                               "decision": out["decision"].to_numpy()}))
