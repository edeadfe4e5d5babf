"""The service's way to the data and the model: the feature store and the model server.

The model runs only in the model servers; this module reads a client's stored row (one Arrow
row lookup, ``scoring.rows.ClientRows``, shared with the dashboard), sends applications to
``/invocations`` through ``serving.client`` and says which model answered.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from decisions.config import Settings
from scoring.request import record_input
from scoring.rows import ClientRows, UnknownClient
from scoring.store import store_path
from serving.client import Score, ScoringClient, ScoringError, score_params

__all__ = ["Gateway", "ModelDown", "ModelInfo", "Refused", "UnknownClient"]
_DROPPED = ("TARGET", "DATASET")
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
        self._rows: tuple[int, ClientRows] | None = None
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

    def rows(self) -> ClientRows:
        """The store's row lookup, opened again (in a thread) when the store file changes;
        rows come from the Parquet file until its row copy is ready."""
        stamp = store_path(self.settings.store).stat().st_mtime_ns
        with self._rows_lock:
            if self._rows is None or self._rows[0] != stamp:
                self._rows = (stamp, ClientRows(self.settings.store).start())
            return self._rows[1]

    def stored(self, client_id: int) -> dict[str, Any]:
        """The client's stored row: raw application fields, history, TARGET, DATASET."""
        return self.rows().record(client_id)

    def application(self, client_id: int) -> dict[str, Any]:
        """The client's stored application as the model takes it (no TARGET, no DATASET)."""
        return {k: v for k, v in self.stored(client_id).items() if k not in _DROPPED}

    def score(self, applications: list[dict[str, Any]], explain: str = "all",
              ) -> tuple[list[Score], str]:
        """Scores of ``applications`` ({field: value}) from the model server (all
        contributions by default), in one request, and the SHA-256 of the exact body sent.

        Raises Refused when the server rejects a field, ModelDown when it cannot answer.
        """
        body = json.dumps({"inputs": [record_input(a) for a in applications],
                           "params": score_params(explain)}, allow_nan=False)
        ids = [a.get("SK_ID_CURR") for a in applications]
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
