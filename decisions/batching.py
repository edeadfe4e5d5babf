"""Concurrent scores share model requests: what the service asks while the model servers are
busy goes in one ``/invocations`` request.

Each model request costs the scoring server a fixed ~2.5 ms of CPU (HTTP, MLflow's parse
and checks) and LightGBM a fixed part per call; under load most of a score's CPU was that
fixed part. A few sender threads take what is waiting: one application alone goes as today
(its score with recourse in one request), several go together and their refused ones ask
their recourse after. Nothing waits for a batch to fill: an application waits only while
every sender is busy, so one client at a time is scored as before.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

Result = TypeVar("Result")


@dataclass
class _Waiting(Generic[Result]):
    application: dict[str, Any]
    changes: list[dict[str, float]]
    done: Future[Result]


class Batcher(Generic[Result]):
    """``senders`` threads sending what waits, at most ``most`` applications a request:
    ``alone(application, changes)`` for one, ``together(waiting)`` for several (a result or
    an exception per application, in order)."""

    def __init__(self, alone: Callable[[dict[str, Any], list[dict[str, float]]], Result],
                 together: Callable[[list[tuple[dict[str, Any], list[dict[str, float]]]]],
                                    list[Result | Exception]],
                 senders: int, most: int) -> None:
        self.alone, self.together, self.most = alone, together, most
        self._queue: queue.SimpleQueue[_Waiting[Result] | None] = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._send, name=f"model-sender-{i}",
                                          daemon=True) for i in range(senders)]
        for thread in self._threads:
            thread.start()

    def submit(self, application: dict[str, Any], changes: list[dict[str, float]],
               timeout: float) -> Result:
        """The application's result once a sender has it (its exception, raised)."""
        waiting: _Waiting[Result] = _Waiting(application, changes, Future())
        self._queue.put(waiting)
        return waiting.done.result(timeout)

    def close(self) -> None:
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=5)

    def _send(self) -> None:
        while (first := self._queue.get()) is not None:
            batch = [first]
            while len(batch) < self.most:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:  # closing: this sender stops after this batch
                    self._queue.put(None)
                    break
                batch.append(item)
            _answer(batch, self._results(batch))

    def _results(self, batch: list[_Waiting[Result]]) -> list[Result | Exception]:
        try:
            if len(batch) == 1:
                return [self.alone(batch[0].application, batch[0].changes)]
            results = self.together([(w.application, w.changes) for w in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"{len(results)} results for {len(batch)} applications")
            return results
        except Exception as err:  # noqa: BLE001 - handed to every waiting request
            return [err] * len(batch)


def _answer(batch: list[_Waiting[Result]], results: list[Result | Exception]) -> None:
    for waiting, result in zip(batch, results, strict=True):
        if isinstance(result, Exception):
            waiting.done.set_exception(result)
        else:
            waiting.done.set_result(result)
