"""A client's stored row by id, as a client switch or a score needs it: about a millisecond
to read. One lookup for the dashboard and the decision service.

The feature store is compressed Parquet in row groups of 10,000 clients, so one row costs a
decode of 421 column chunks (80-150 ms at Kaggle size). ``ClientRows`` reads from a copy of
the store beside it, ``clients.rows.arrow``: an uncompressed Arrow IPC file in batches of
``BATCH`` rows, where one row is one read of its batch (~200 kB at Kaggle size) and a pandas
conversion. The copy is written once in a background thread, again when the store file
changes; until it is ready (or when the store's folder is read-only), rows come from the
Parquet file as before. A row comes as a one-row pandas frame (``rows(id)``) or as a plain
``{column: value}`` object, missing values None (``rows.record(id)``: no pandas at all).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from scoring.schema import KEY
from scoring.store import store_path

#: Rows per batch of the copy: one lookup reads one batch (64 x 421 columns: ~200 kB).
BATCH = 64
log = logging.getLogger(__name__)
#: Ids are Parquet int64: a larger number names no client (and would not fit the lookup).
MAX_ID = 2**63 - 1


class UnknownClient(KeyError):
    """No application with this SK_ID_CURR in the feature store."""

    def __str__(self) -> str:
        return f"no client with SK_ID_CURR {str(self.args[0])[:40]} in the feature store"


def copy_path(store: Path | str) -> Path:
    """Where the row copy of ``store`` lives: beside the store file."""
    return store_path(store).with_suffix(".rows.arrow")


def _source_tag(source: Path) -> dict[str, str]:
    """What identifies the store file's version (kept in the copy's schema metadata)."""
    stat = source.stat()
    return {"source_size": str(stat.st_size), "source_mtime_ns": str(stat.st_mtime_ns)}


def _fresh(copy: Path, tag: dict[str, str]) -> bool:
    try:
        with pa.OSFile(str(copy)) as file:
            metadata = pa.ipc.open_file(file).schema.metadata or {}
    except (OSError, pa.ArrowInvalid):
        return False
    return all(metadata.get(k.encode()) == v.encode() for k, v in tag.items())


def write_copy(store: Path | str) -> Path:
    """Write the row copy of ``store`` unless it is up to date; returns its path.

    One row group of the store in memory at a time, each written as batches of ``BATCH``
    rows (the last one of a group shorter); written to a temporary name, then renamed.
    """
    source, copy = store_path(store), copy_path(store)
    tag = _source_tag(source)
    if _fresh(copy, tag):
        return copy
    parquet = pq.ParquetFile(source)
    schema = parquet.schema_arrow.with_metadata({**(parquet.schema_arrow.metadata or {}),
                                                 **tag})
    partial = copy.with_suffix(f".{os.getpid()}.partial")
    try:
        with pa.output_stream(str(partial), buffer_size=1 << 20) as sink, \
                pa.ipc.new_file(sink, schema) as writer:
            for group in range(parquet.num_row_groups):
                rows = parquet.read_row_group(group).combine_chunks()
                writer.write_table(rows.replace_schema_metadata(schema.metadata),
                                   max_chunksize=BATCH)
        os.replace(partial, copy)
    finally:
        partial.unlink(missing_ok=True)
    return copy


class ClientRows:
    """The stored row of a client id (a one-row pandas frame with the store's columns).

    ``start()`` writes or opens the row copy in a background thread; lookups read the
    Parquet store until the copy is ready.
    """

    def __init__(self, store: Path | str) -> None:
        self.store = store
        self.path = store_path(store)
        self._reader: pa.ipc.RecordBatchFileReader | None = None
        self._keys = np.empty(0, dtype="int64")
        self._groups = np.zeros(1, dtype="int64")  # first row of each row group, then total
        self._first_batch = np.zeros(1, dtype="int64")
        self._lock = threading.Lock()

    @property
    def ready(self) -> bool:
        """True once rows come from the copy."""
        return self._reader is not None

    def start(self) -> ClientRows:
        """Prepare the copy in a daemon thread; returns self."""
        threading.Thread(target=self.open, daemon=True, name="client-rows").start()
        return self

    def open(self) -> None:
        """Write the copy if needed, then read from it (logs and keeps reading the store
        when the copy cannot be written)."""
        try:
            copy = write_copy(self.store)
        except OSError as err:
            log.warning("client rows read from %s: no row copy (%s)", self.path, err)
            return
        metadata = pq.ParquetFile(self.path).metadata
        sizes = np.array([metadata.row_group(g).num_rows
                          for g in range(metadata.num_row_groups)], dtype="int64")
        self._groups = np.r_[0, np.cumsum(sizes)]
        self._first_batch = np.r_[0, np.cumsum(-(-sizes // BATCH))]
        self._keys = pq.read_table(self.path, columns=[KEY])[KEY].to_numpy()
        self._reader = pa.ipc.open_file(pa.OSFile(str(copy)))

    def __call__(self, client_id: int) -> pd.DataFrame:
        """The row of ``client_id``; raises ``UnknownClient`` when the store has none."""
        if self._reader is None:
            return self._scan(client_id).to_pandas()
        return self._slice(client_id).to_pandas()

    def record(self, client_id: int) -> dict[str, Any]:
        """The row of ``client_id`` as ``{column: value}`` (missing: None); raises
        ``UnknownClient`` when the store has none."""
        if self._reader is None:
            return self._scan(client_id).row(0, named=True)
        return self._slice(client_id).to_pylist()[0]

    def _slice(self, client_id: int) -> pa.RecordBatch:
        if not 0 <= int(client_id) <= MAX_ID:
            raise UnknownClient(client_id)
        position = int(np.searchsorted(self._keys, client_id))
        if position == len(self._keys) or self._keys[position] != client_id:
            raise UnknownClient(client_id)
        group = int(np.searchsorted(self._groups, position, side="right")) - 1
        offset = position - int(self._groups[group])
        with self._lock:
            batch = self._reader.get_batch(int(self._first_batch[group]) + offset // BATCH)
        return batch.slice(offset % BATCH, 1)

    def _scan(self, client_id: int) -> pl.DataFrame:
        # polars decodes the id column, then the other columns of the matching row only.
        if not 0 <= int(client_id) <= MAX_ID:
            raise UnknownClient(client_id)
        rows = (pl.scan_parquet(self.path, parallel="prefiltered")
                .filter(pl.col(KEY) == int(client_id)).collect())
        if rows.is_empty():
            raise UnknownClient(client_id)
        return rows
