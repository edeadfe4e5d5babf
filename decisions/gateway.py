"""The service's way to the data and the model: the feature store and the model server.

The model runs only in the model servers; this module reads a client's stored row (one Arrow
row lookup, ``scoring.rows.ClientRows``, shared with the dashboard), sends applications to
``/invocations`` through ``serving.client`` (scores asked at the same time share a request:
``decisions.batching``) and says which model answered.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from decisions.batching import Batcher
from decisions.config import Settings
from scoring.features import NOT_INPUTS
from scoring.request import RequestError, record_input
from scoring.rows import ClientRows, UnknownClient
from scoring.schema import KEY
from scoring.store import store_path
from serving.client import Score, ScoringClient, ScoringError, score_params

__all__ = ["Assessed", "Gateway", "ModelDown", "ModelInfo", "Refused", "UnknownClient"]
_VERSION_TTL = 60.0
#: The reasons' shape asked with recourse: JSON text, which MLflow's pure-Python encoder
#: writes in one call (``serving.client.reason_records`` reads every shape).
REASONS_SHAPE = "json"
#: Stored rows kept in memory (forgotten when the store file changes): about 25 KiB each as
#: a dict of 421 values.
CACHED_CLIENTS = 1024


class ModelDown(Exception):
    """The model server cannot be reached or failed; the message says which and why."""


class Refused(ValueError):
    """The model server refused the application (a bad field); the message names it, and
    ``error`` holds the model's refusal as data when it gave one."""

    def __init__(self, message: str, error: RequestError | None = None) -> None:
        super().__init__(message)
        self.error = error


@dataclass(frozen=True)
class ModelInfo:
    name: str
    version: str
    alias: str


def score_body(applications: list[dict[str, Any]], explain: str) -> str:
    """The ``/invocations`` body scoring ``applications`` ({field: value}), one row each."""
    return _body(inputs_text(applications), score_params(explain))


def variants_body(application: dict[str, Any], changes: list[dict[str, float]],
                  explain: str) -> str:
    """The ``/invocations`` body scoring ``application`` with each of ``changes``: the
    application once, the changes in ``params.variants`` (one result per change). Sent as
    rows, ~30 variants of a ~400-field application made a ~270 KB body that the model server
    parsed twice and checked field by field."""
    return _body(inputs_text([application]), score_params(explain, variants=changes))


def recourse_body(inputs: str, changes: list[dict[str, float]], explain: str) -> str:
    """The ``/invocations`` body scoring the one application of ``inputs``
    (``inputs_text``; its reasons per ``explain``, as JSON text) and, only when it is
    refused, each of ``changes`` (``params.recourse``): the one request of a score with
    recourse."""
    return _body(inputs, score_params(explain, variants=changes, recourse=True,
                                      reasons_shape=REASONS_SHAPE))


def inputs_text(applications: list[dict[str, Any]]) -> str:
    """The JSON text of a body's ``inputs``: one object per application."""
    return json.dumps([record_input(a) for a in applications], allow_nan=False)


def _body(inputs: str, params: dict[str, Any]) -> str:
    """``json.dumps({"inputs": ..., "params": params})``, the inputs' JSON text given: the
    body sent and the one hashed for the record share it."""
    return f'{{"inputs": {inputs}, "params": {json.dumps(params, allow_nan=False)}}}'


def inputs_digest(inputs: str, explain: str) -> str:
    """The SHA-256 of ``score_body`` of the applications of ``inputs`` (``inputs_text``):
    what a decision records as its inputs, the same whether recourse travelled with them."""
    return hashlib.sha256(_body(inputs, score_params(explain)).encode()).hexdigest()


def _positive_unknown(err: Refused, explain: str) -> bool:
    """Whether ``err`` is a model logged before ``explain=positive`` refusing it: the request
    is then asked again with ``all`` (a superset the reasons read the same way)."""
    return explain == "positive" and err.error is not None and err.error.field == "params.explain"


def _outcome(assess: Any, *args: Any) -> Any:
    """``assess(*args)``, or the exception it raised."""
    try:
        return assess(*args)
    except Exception as err:  # noqa: BLE001 - the one application's own answer
        return err


@dataclass
class Assessed:
    """A score with recourse: the application's score, its changes' scores when it is
    refused (else None), and ``inputs_digest``."""

    score: Score
    variants: list[Score] | None
    inputs_hash: str


class Gateway:
    """Store rows and model-server scores, safe to share between request threads."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._local = threading.local()
        self._version: tuple[float, str] | None = None
        self._version_lock = threading.Lock()  # one lookup at a time, not one per thread
        self._rows: tuple[int, ClientRows] | None = None
        self._rows_lock = threading.Lock()
        self._cache: OrderedDict[int, dict[str, Any]] = OrderedDict()  # emptied with _rows
        #: Whether the last call to the model server got an answer (None: no call yet).
        self.model_answered: bool | None = None
        self._batcher: Batcher[Assessed] | None = None

    def start_sharing(self) -> None:
        """Let concurrent scores share model requests (``decisions.batching``):
        ``settings.model_senders`` threads, ``settings.model_batch`` applications at most a
        request; ``stop_sharing`` ends them."""
        if self.settings.model_batch > 1 and self._batcher is None:
            self._batcher = Batcher(self.score_with_recourse, self._score_together,
                                    self.settings.model_senders, self.settings.model_batch)

    def stop_sharing(self) -> None:
        if self._batcher is not None:
            self._batcher.close()
            self._batcher = None

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
                self._cache.clear()
            return self._rows[1]

    def stored(self, client_id: int) -> dict[str, Any]:
        """The client's stored row: raw application fields, history, TARGET, DATASET (a
        copy: the last ``CACHED_CLIENTS`` rows are kept, a lookup costs ~3 ms of CPU)."""
        return dict(self._record(client_id))

    def application(self, client_id: int) -> dict[str, Any]:
        """The client's stored application as the model takes it (no TARGET, no DATASET)."""
        return {k: v for k, v in self._record(client_id).items() if k not in NOT_INPUTS}

    def _record(self, client_id: int) -> dict[str, Any]:
        """The kept row itself (not to be changed: ``stored`` and ``application`` copy it)."""
        rows = self.rows()
        key = int(client_id)
        with self._rows_lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        record = rows.record(client_id)
        with self._rows_lock:
            self._cache[key] = record
            while len(self._cache) > CACHED_CLIENTS:
                self._cache.popitem(last=False)
        return record

    def score(self, applications: list[dict[str, Any]], explain: str = "positive",
              ) -> tuple[list[Score], str]:
        """Scores of ``applications`` ({field: value}) from the model server (by default
        every contribution toward default: what the principal reasons read), in one request,
        and the SHA-256 of the exact body sent.

        Raises Refused when the server rejects a field, ModelDown when it cannot answer. A
        model logged before ``explain=positive`` existed refuses it: asked again with
        ``all`` (a superset the reasons read the same way).
        """
        body = score_body(applications, explain)
        try:
            return (self._post(body, [a.get(KEY) for a in applications]),
                    hashlib.sha256(body.encode()).hexdigest())
        except Refused as err:
            if not _positive_unknown(err, explain):
                raise
        return self.score(applications, explain="all")

    def score_variants(self, application: dict[str, Any], changes: list[dict[str, float]],
                       explain: str = "none") -> list[Score]:
        """Scores of ``application`` with each of ``changes`` ({field: new value}), in one
        request (``variants_body``); raises as ``score``.

        A model logged before ``params.variants`` existed ignores it and answers for the
        application alone: the variants then go as rows.
        """
        key = application.get(KEY)
        if len(changes) > 1:
            # no ids given: an older model's one-row answer must not fail the parse
            scores = self._post(variants_body(application, changes, explain), None)
            if len(scores) == len(changes):
                for score in scores:
                    score.client_id = key
                return scores
        rows = [{**application, **change} for change in changes]
        return self._post(score_body(rows, explain), [key] * len(changes))

    def score_with_recourse(self, application: dict[str, Any], changes: list[dict[str, float]],
                            explain: str = "positive") -> Assessed:
        """The application's score (reasons per ``explain``) and, when it is refused, the
        scores of ``changes``: one request (``recourse_body``) for two changes or more; as
        ``score``.

        Older models: one logged before ``params.recourse`` ignores it and answers one result
        per change (its own score is then asked apart); one before ``params.variants``
        answers the application alone (its changes then go through ``score_variants``).
        """
        key, n = application.get(KEY), len(changes)
        if n < 2:  # an older model's answer to one change could not be told from a score
            scores, digest = self.score([application], explain)
            return Assessed(scores[0], self._recourse_after(scores[0], application, changes),
                            digest)
        inputs = inputs_text([application])
        try:
            scores = self._post(recourse_body(inputs, changes, explain), None)
        except Refused as err:
            if not _positive_unknown(err, explain):
                raise
            return self.score_with_recourse(application, changes, explain="all")
        for score in scores:
            score.client_id = key
        if len(scores) == 1 + n:
            score, variants = scores[0], scores[1:]
        elif len(scores) == 1:  # granted, or a model before params.variants
            score = scores[0]
            variants = self._recourse_after(score, application, changes)
        elif len(scores) == n:  # a model before params.recourse: the changes only
            score = self.score([application], explain)[0][0]
            variants = scores if score.decision == "refused" else None
        else:
            self.model_answered = False
            raise ModelDown(f"cannot score now: the model server answered {len(scores)} "
                            f"results for one application and {n} changes")
        return Assessed(score, variants, inputs_digest(inputs, explain))

    def score_shared(self, application: dict[str, Any], changes: list[dict[str, float]],
                     ) -> Assessed:
        """``score_with_recourse``, in a model request shared with the scores asked at the
        same time once ``start_sharing`` ran: a refused application then asks its changes'
        scores after (``score_variants``)."""
        if self._batcher is None:
            return self.score_with_recourse(application, changes)
        try:
            assessed = self._batcher.submit(application, changes, 2 * self.settings.model_timeout)
        except TimeoutError:
            raise ModelDown("cannot score now: no answer from the model server in "
                            f"{2 * self.settings.model_timeout:g} s") from None
        if assessed.variants is None:
            assessed.variants = self._recourse_after(assessed.score, application, changes)
        return assessed

    def _recourse_after(self, score: Score, application: dict[str, Any],
                        changes: list[dict[str, float]]) -> list[Score] | None:
        """The scores of ``changes`` asked apart when ``score`` refuses (else None)."""
        if changes and score.decision == "refused":
            return self.score_variants(application, changes)
        return None

    def _score_together(self, waiting: list[tuple[dict[str, Any], list[dict[str, float]]]],
                        ) -> list[Assessed | Exception]:
        """Several applications scored in one request (reasons toward default, as JSON
        text), without their changes; the body's inputs are each application's
        ``inputs_text``, so each keeps its own ``inputs_digest``. A refusal (one bad field,
        or a model before ``explain=positive``) sends each application alone."""
        inputs = [inputs_text([application]) for application, _ in waiting]
        body = _body(f"[{', '.join(text[1:-1] for text in inputs)}]",
                     score_params("positive", reasons_shape=REASONS_SHAPE))
        try:
            scores = self._post(body, [application.get(KEY) for application, _ in waiting])
        except Refused:
            return [_outcome(self.score_with_recourse, application, changes)
                    for application, changes in waiting]
        if len(scores) != len(waiting):
            self.model_answered = False
            raise ModelDown(f"cannot score now: the model server answered {len(scores)} "
                            f"results for {len(waiting)} applications")
        return [Assessed(score, None, inputs_digest(text, "positive"))
                for score, text in zip(scores, inputs, strict=True)]

    def _post(self, body: str, ids: list[Any] | None) -> list[Score]:
        try:
            scores = self.client.post(body, ids)
        except ScoringError as err:
            if err.status is not None and 400 <= err.status < 500:
                self.model_answered = True
                raise Refused(str(err), err.error) from err
            self.model_answered = False
            raise ModelDown(f"cannot score now: {err}") from err
        self.model_answered = True
        return scores

    def model(self, served: str | None = None) -> ModelInfo:
        """The model's name, version and alias. The version is the one the model server
        said it served (``scoring up`` replicas do), else ``DECISIONS_MODEL_VERSION``, else
        the registry's version of the alias (looked up at most once a minute)."""
        s = self.settings
        version = served or s.model_version or self._registry_version()
        return ModelInfo(s.model_name, str(version), s.model_alias)

    def _registry_version(self) -> str:
        with self._version_lock:
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
