"""The service's way to the data and the model: the feature store and the model server.

The model runs only in the model servers; this module reads a client's stored row, sends it
to ``/invocations`` through ``serving.client`` and says which model answered.
"""

from __future__ import annotations

import hashlib
import pickle
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import pandas as pd

from decisions.config import Settings
from serving.client import (
    Score,
    ScoringClient,
    ScoringError,
    UnknownClient,
    score_params,
    to_payload,
)

__all__ = ["Gateway", "ModelDown", "ModelInfo", "Refused", "UnknownClient"]
_DROPPED = ["TARGET", "DATASET"]
_VERSION_TTL = 60.0
#: Stored rows kept in memory: the store only changes when ``scoring features`` rewrites it
#: (its modification time is part of the key), and a Parquet lookup costs tens of ms. Each is
#: kept pickled, about 20 KiB (a live one-row frame of 400 columns holds about 130 KiB), so
#: the cache stays under 25 MiB.
CACHED_CLIENTS = 1024


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
        self._rows: OrderedDict[tuple[int, float], bytes] = OrderedDict()
        self._rows_lock = threading.Lock()
        #: Whether the last call to the model server got an answer (None: no call yet).
        self.model_answered: bool | None = None

    @property
    def client(self) -> ScoringClient:
        """This thread's client (a requests session is not meant to be shared)."""
        if not hasattr(self._local, "client"):
            self._local.client = ScoringClient(self.settings.model_url,
                                               self.settings.model_timeout)
        return self._local.client

    def stored(self, client_id: int) -> pd.DataFrame:
        """The client's stored row (raw application fields, history, TARGET, DATASET)."""
        from scoring.store import read_clients, store_path

        key = (int(client_id), store_path(self.settings.store).stat().st_mtime)
        with self._rows_lock:
            if key in self._rows:
                self._rows.move_to_end(key)
                return pickle.loads(self._rows[key])
        rows = read_clients([key[0]], self.settings.store)
        if rows.empty:
            raise UnknownClient(client_id)
        with self._rows_lock:
            self._rows[key] = pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL)
            while len(self._rows) > CACHED_CLIENTS:
                self._rows.popitem(last=False)
        return rows

    def request_rows(self, client_id: int) -> pd.DataFrame:
        """The client's row as the model takes it."""
        return self.stored(client_id).drop(columns=_DROPPED, errors="ignore")

    def score(self, rows: pd.DataFrame, explain: str = "all") -> tuple[list[Score], str]:
        """Scores of ``rows`` from the model server (all contributions by default), and the
        SHA-256 of the exact request body sent.

        Raises Refused when the server rejects a field, ModelDown when it cannot answer.
        """
        body = to_payload(rows, score_params(explain))
        ids = rows["SK_ID_CURR"].tolist() if "SK_ID_CURR" in rows else None
        try:
            scores = self.client.post(body, ids)
        except ScoringError as err:
            if err.status is not None and 400 <= err.status < 500:
                self.model_answered = True
                raise Refused(str(err)) from err
            self.model_answered = False
            raise ModelDown(f"cannot score now: {err}") from err
        self.model_answered = True
        return scores, hashlib.sha256(body.encode()).hexdigest()

    def model(self, served: str | None = None) -> ModelInfo:
        """The model's name, version and alias. The version is the one the model server
        said it served (``scoring up`` replicas do), else ``DECISIONS_MODEL_VERSION``, else
        the registry's version of the alias (looked up at most once a minute)."""
        s = self.settings
        version = served or s.model_version or self._registry_version()
        return ModelInfo(s.model_name, str(version), s.model_alias)

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

