"""The prediction log: every scored application, appended to Parquet files in a folder.

The served model hands each scored batch to ``PredictionLog.append``, which only puts it on a
bounded queue; a background thread gathers what arrived in the last ``interval`` seconds and
writes it as one Parquet file (``part-<time>-<pid>-<n>.parquet``), so serving never waits for
disk. A record holds the request's inputs as sent, ``probability``, ``decision``,
``threshold``, ``model_version`` and ``scored_at`` (UTC). Several server processes can write
to the same folder: file names carry the process id.

When the queue is full (the disk cannot keep up) batches are dropped and counted, rather than
slowing serving down; at most one interval of records is lost if the process is killed.
``read_log(folder)`` returns every record, for ``scoring drift --current log``.
"""

from __future__ import annotations

import atexit
import os
import queue
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from scoring.names import MODEL_VERSION_ENV, PREDICTION_LOG_ENV

#: Environment variable naming the log folder; logging is off when it is unset or empty.
LOG_ENV = PREDICTION_LOG_ENV
#: Environment variable giving the served model version (set by ``scoring up``).
VERSION_ENV = MODEL_VERSION_ENV
#: Output columns copied from the model's answer into the log.
OUTPUT_COLUMNS = ("probability", "decision", "threshold")


class PredictionLog:
    """Append scored batches to Parquet files from a background thread."""

    def __init__(self, folder: Path | str, model_version: str | None = None,
                 interval: float = 1.0, max_pending: int = 10_000) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.model_version = model_version or "unknown"
        self.interval = interval
        self.dropped = 0
        self.written = 0
        self._queue: queue.Queue = queue.Queue(maxsize=max_pending)
        self._files = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def append(self, inputs: pd.DataFrame | list[dict],
               outputs: pd.DataFrame | list[dict]) -> None:
        """Queue one scored batch; never blocks (a full queue drops the batch and counts it)."""
        try:
            self._queue.put_nowait((time.time(), inputs, outputs))
        except queue.Full:
            self.dropped += len(inputs)

    def flush(self) -> None:
        """Write everything queued so far (called by the thread, and at exit)."""
        batches = []
        while True:
            try:
                batches.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if batches:
            self._write(batches)

    def close(self) -> None:
        """Stop the thread and write what is left."""
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.flush()
            except Exception as err:  # a full disk must not kill the thread or the server
                print(f"prediction log: write failed: {err}", flush=True)

    def _write(self, batches: list[tuple[float, pd.DataFrame, pd.DataFrame]]) -> None:
        frame = pd.concat([_records(t, i, o, self.model_version) for t, i, o in batches],
                          ignore_index=True)
        self._files += 1
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        name = f"part-{stamp}-{os.getpid()}-{self._files:05d}.parquet"
        tmp = self.folder / f".{name}.tmp"
        frame.to_parquet(tmp, index=False)
        tmp.replace(self.folder / name)  # readers never see a half-written file
        self.written += len(frame)


def _records(when: float, inputs: pd.DataFrame | list[dict],
             outputs: pd.DataFrame | list[dict],
             version: str) -> pd.DataFrame:
    """One batch as log records: inputs (history features as columns, as in the store),
    chosen outputs and metadata, one row per application."""
    from scoring.features import HISTORY_FEATURES
    from scoring.request import unpack_history
    from scoring.schema import APPLICATION_TEST

    if isinstance(inputs, list):  # an HTTP request's objects: a frame here, in the thread
        inputs, outputs = pd.DataFrame(inputs), pd.DataFrame(outputs)
    # Every application field, absent optional ones included: one schema for every file.
    out = unpack_history(inputs.reset_index(drop=True)).reindex(
        columns=[*APPLICATION_TEST.names, *HISTORY_FEATURES])
    for column in OUTPUT_COLUMNS:
        out[column] = outputs[column].to_numpy()
    out["scored_at"] = pd.Timestamp(when, unit="s", tz="UTC")
    out["model_version"] = version
    return out


def from_environment() -> PredictionLog | None:
    """The log configured by ``SCORING_PREDICTION_LOG``, or None when logging is off."""
    folder = os.environ.get(LOG_ENV, "").strip()
    if not folder:
        return None
    return PredictionLog(folder, model_version=os.environ.get(VERSION_ENV))


def read_log(folder: Path | str, since: datetime | None = None) -> pd.DataFrame:
    """Every logged record in ``folder`` (optionally only those scored at or after ``since``).

    Raises FileNotFoundError when the folder holds no log file.
    """
    files = sorted(Path(folder).glob("part-*.parquet"))
    if not files:
        raise FileNotFoundError(f"no prediction log files in {folder} "
                                f"(is {LOG_ENV} set for the model server?)")
    frame = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    if since is not None:
        frame = frame[frame["scored_at"] >= pd.Timestamp(since)]
    return frame.reset_index(drop=True)
