"""The feature store: one Parquet file, one row per client, sorted by ``SK_ID_CURR``.

A row holds the raw application fields as in the Kaggle files (``TARGET`` is missing for test
clients, ``DATASET`` says "train" or "test") followed by the history features of
:mod:`scoring.features`. Application features are not stored: ``to_model_frame`` computes them
from the raw fields, in training and in the served model alike.

Parquet was chosen over DuckDB by ``benchmarks/bench_store.py``: with small row groups sorted by
id, a lookup of one client reads one row group through the footer statistics (20-26 ms warm,
35-41 ms in a fresh process at 356,255 clients, against 70 ms and 120 ms for a DuckDB table
with an index), and training, the dashboard and any tool read it without a
database engine or a file lock. This module holds every read and write of the store file.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import polars as pl

from scoring import features as F
from scoring.names import DEFAULT_STORE
from scoring.tables import find_file, read_table, scan_table

if TYPE_CHECKING:  # the readers return pandas frames; the build never imports pandas
    import pandas as pd

#: File name of the store inside its folder.
STORE_FILE = "clients.parquet"
#: Rows per Parquet row group: small enough that a lookup decodes little (one client: 20-26
#: ms warm at Kaggle scale, as with 5,000), large enough that the footer stays small and the
#: write pays little per column chunk (36 groups at Kaggle scale; 5,000 took 0.15 s longer).
ROW_GROUP_SIZE = 10_000

T = TypeVar("T")


@dataclass
class StoreSummary:
    """What ``build_store`` wrote."""

    path: Path
    train: int
    test: int
    columns: int
    features: int
    seconds: float
    missing_tables: list[str] = field(default_factory=list)


def store_path(path: Path | str) -> Path:
    """The store file: ``path`` itself if it is a file name, else ``path/clients.parquet``."""
    path = Path(path)
    return path if path.suffix == ".parquet" else path / STORE_FILE


def build_store(data_dir: Path | str, out: Path | str = Path(DEFAULT_STORE),
                progress: Callable[[str], None] | None = None) -> StoreSummary:
    """Compute the store rows of every application in ``data_dir`` and write the store.

    Reads one family's tables at a time to bound memory (Parquet and plain CSV files are
    scanned, so only the columns the features use are read); ``progress`` receives one line
    per table. A missing side-table file drops its features with a ``MissingTableWarning``.
    Returns a summary of what was written.
    """
    say = progress or (lambda _: None)
    start = time.perf_counter()
    train = _collect(data_dir, "application_train")
    test = _collect(data_dir, "application_test") \
        if find_file(data_dir, "application_test") else None
    applications = F.application_rows(train, test)
    say(f"applications: {train.height:,} train + {0 if test is None else test.height:,} test")
    del train, test
    aggregates, missing = {}, []
    for table, family in F.FAMILIES.items():
        t0 = time.perf_counter()
        present = [name for name in family.tables if find_file(data_dir, name)]
        missing += [name for name in family.tables if name not in present]
        aggregates[table] = _compute(data_dir, present, partial(F.family_aggregates, table))
        say(_progress_line(table, present, aggregates[table], time.perf_counter() - t0))
    frame = F.client_features(applications, aggregates)
    path = write_store(frame, out)
    n_train = int((frame[F.DATASET] == "train").sum())
    return StoreSummary(path=path, train=n_train, test=frame.height - n_train,
                        columns=frame.width,
                        features=len(F.model_features(frame.columns)),
                        seconds=time.perf_counter() - start, missing_tables=missing)


def _compute(data_dir: Path | str, names: Sequence[str],
             compute: Callable[[dict[str, pl.LazyFrame]], T]) -> T:
    """``compute`` on the tables ``names`` as scanned by ``scan_table``.

    When polars cannot parse a value of a lazily scanned CSV file, computes again on the tables
    as ``read_table`` reads them: it accepts what the schema allows (``3.0`` in an int column)
    and raises a DataError naming the file, the column and sample values otherwise.
    """
    try:
        return compute({name: scan_table(data_dir, name) for name in names})
    except pl.exceptions.PolarsError:
        return compute({name: read_table(data_dir, name).lazy() for name in names})


def _collect(data_dir: Path | str, table: str) -> pl.DataFrame:
    """One whole table, read as ``_compute`` reads."""
    return _compute(data_dir, [table], lambda tables: tables[table].collect())


def _progress_line(table: str, tables: Sequence[str], agg: pl.DataFrame | None,
                   seconds: float) -> str:
    if agg is None:
        return f"{table}: file not found, features left out"
    # The rows the features used, from the first block's counts (counting a CSV file's rows
    # would read it again).
    rows = agg[f"{F.FAMILIES[table].blocks[0].prefix}_COUNT"].sum()
    which = f"{table} rows" if len(tables) > 1 else "rows"
    return (f"{' + '.join(tables)}: {rows:,} {which} -> {agg.height:,} clients, "
            f"{agg.width - 1} features ({seconds:.1f} s)")


def write_store(frame: pl.DataFrame, path: Path | str) -> Path:
    """Write store rows (sorted by id) to the store file; returns its path."""
    target = store_path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".parquet.tmp")
    if not frame[F.KEY].is_sorted():
        frame = frame.sort(F.KEY)
    # lz4 writes and reads about twice as fast as zstd for a fifth more bytes.
    frame.write_parquet(tmp, row_group_size=ROW_GROUP_SIZE, statistics=True,
                        compression="lz4")
    tmp.replace(target)  # readers never see a half-written store
    return target


def read_store(path: Path | str, columns: Sequence[str] | None = None,
               dataset: str | None = None, float32: bool = False) -> pd.DataFrame:
    """Every client of the store (optionally only ``columns``, only the "train" or "test" ones
    with ``dataset``), for training or analysis; the other rows are never converted.

    ``float32``: float columns as float32, half the memory (training: LightGBM bins them)."""
    frame = pl.scan_parquet(store_path(path))
    if dataset is not None:
        frame = frame.filter(pl.col(F.DATASET) == dataset)
    frame = frame.select(columns) if columns else frame
    if float32:
        frame = frame.with_columns(pl.col(pl.Float64).cast(pl.Float32))
    return frame.collect().to_pandas()


def read_clients(ids: Iterable[int], path: Path | str,
                 columns: Sequence[str] | None = None) -> pd.DataFrame:
    """The store rows of the clients ``ids``, in the order asked; unknown ids are left out.

    Only the row groups whose id range holds an asked id are read, so one client takes a few
    milliseconds at Kaggle scale.
    """
    import pyarrow.parquet as pq

    wanted = [int(i) for i in ids]
    if not wanted:
        return read_store_schema(path, columns)
    table = pq.read_table(store_path(path), columns=list(columns) if columns else None,
                          filters=[(F.KEY, "in", wanted)])
    frame = table.to_pandas()
    if F.KEY in frame.columns:
        order = {cid: i for i, cid in enumerate(dict.fromkeys(wanted))}
        frame = frame.iloc[frame[F.KEY].map(order).argsort(kind="stable")]
    return frame.reset_index(drop=True)


def read_store_schema(path: Path | str, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """An empty frame with the store's columns and dtypes."""
    import pyarrow.parquet as pq

    empty = pq.read_schema(store_path(path)).empty_table()
    return (empty.select(list(columns)) if columns else empty).to_pandas()


def client_ids(path: Path | str, dataset: str | None = None) -> list[int]:
    """The client ids of the store, sorted; only "train" or "test" ones with ``dataset``."""
    frame = pl.scan_parquet(store_path(path)).select(F.KEY, F.DATASET)
    if dataset is not None:
        frame = frame.filter(pl.col(F.DATASET) == dataset)
    return frame.collect()[F.KEY].to_list()


def read_id_range(store: Path | str, first: int, last: int) -> pd.DataFrame:
    """The store rows with ``first <= SK_ID_CURR <= last``.

    A range reads only the row groups it overlaps (``read_clients`` with hundreds of ids
    decodes the whole store: 1.8 GB and 2 s at Kaggle size, against 30 ms here).
    """
    return (pl.scan_parquet(store_path(store))
            .filter(pl.col(F.KEY).is_between(int(first), int(last))).collect().to_pandas())
