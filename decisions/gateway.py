"""The service's way to the data and the model: the feature store and the model server.

The model runs only in the model servers; this module reads a client's stored row, sends it
to ``/invocations`` through ``serving.client`` and says which model answered.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass

import pandas as pd

from decisions.config import Settings
from serving.client import Score, ScoringClient, ScoringError, UnknownClient, to_payload

__all__ = ["Gateway", "ModelDown", "ModelInfo", "Refused", "UnknownClient"]
_DROPPED = ["TARGET", "DATASET"]
_VERSION_TTL = 60.0


class ModelDown(Exception):
    """The model server cannot be reached or failed; the message says which and why."""


class Refused(ValueError):
    """The model server refused the application (a bad field); the message names it."""


@dataclass(frozen=True)
class ModelInfo:
    name: str
    version: str
    alias: str


class Gateway:
    """Store rows and model-server scores, safe to share between request threads."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._local = threading.local()
        self._version: tuple[float, str] | None = None

    @property
    def client(self) -> ScoringClient:
        """This thread's client (a requests session is not meant to be shared)."""
        if not hasattr(self._local, "client"):
            self._local.client = ScoringClient(self.settings.model_url,
                                               self.settings.model_timeout)
        return self._local.client

    def stored(self, client_id: int) -> pd.DataFrame:
        """The client's stored row (raw application fields, history, TARGET, DATASET)."""
        from scoring.store import read_clients

        rows = read_clients([int(client_id)], self.settings.store)
        if rows.empty:
            raise UnknownClient(client_id)
        return rows

    def request_rows(self, client_id: int) -> pd.DataFrame:
        """The client's row as the model takes it."""
        return self.stored(client_id).drop(columns=_DROPPED, errors="ignore")

    def score(self, rows: pd.DataFrame, explain: str = "all") -> list[Score]:
        """Scores of ``rows`` from the model server (all contributions by default).

        Raises Refused when the server rejects a field, ModelDown when it cannot answer.
        """
        try:
            return self.client.score(rows, explain=explain)
        except ScoringError as err:
            if err.status is not None and 400 <= err.status < 500:
                raise Refused(str(err)) from err
            raise ModelDown(f"the model server at {self.settings.model_url} cannot score: "
                            f"{err}") from err

    def model(self) -> ModelInfo:
        """The served model's name, version and alias (version looked up in the MLflow
        registry at most once a minute unless ``DECISIONS_MODEL_VERSION`` fixes it)."""
        s = self.settings
        return ModelInfo(s.model_name, s.model_version or self._registry_version(), s.model_alias)

    def _registry_version(self) -> str:
        now = time.monotonic()
        if self._version and now - self._version[0] < _VERSION_TTL:
            return self._version[1]
        try:
            from mlflow import MlflowClient

            version = str(MlflowClient().get_model_version_by_alias(
                self.settings.model_name, self.settings.model_alias).version)
        except Exception:  # no registry reachable: say so in the record rather than fail
            version = "unknown"
        self._version = (now, version)
        return version


def inputs_hash(rows: pd.DataFrame) -> str:
    """SHA-256 of the exact ``/invocations`` body of ``rows`` (without params)."""
    return hashlib.sha256(to_payload(rows).encode()).hexdigest()
