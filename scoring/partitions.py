"""The feature build by client partition: the same feature code on a part of the clients.

Every feature is per client (``SK_ID_CURR``): the store rows of the clients in an id range need
only those clients' rows of each table, and bureau_balance's rows through their bureau
credits. ``restrict`` cuts the tables to a range; ``scoring.features.build_features`` then
runs unchanged on the cut tables, and its rows are the single build's rows of those clients.

Two engines use it, with no second implementation of any feature:

- ``build_partitioned`` (``scoring features --partitions N``): one machine, partitions one
  after another, each partition's rows appended to the store in id order: the peak is bounded
  by a partition, not by the portfolio. Parquet tables are scanned range by range; CSV ones
  are first streamed once by ``split_folder`` into Parquet files per partition.
- ``dask_store_rows``: a Dask dataframe whose partitions are the client ranges, each built by
  a task from the data folder (shared storage on a real cluster; Parquet files let each task
  read only its range's row groups when they are sorted by client).
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from scoring import features as F
from scoring.names import DEFAULT_STORE
from scoring.schema import TABLES
from scoring.store import ROW_GROUP_SIZE, StoreSummary, build_store, store_path
from scoring.tables import find_file, polars_schema, scan_table

if TYPE_CHECKING:
    import dask.dataframe as dd

#: Clients per partition when the count is automatic: at Kaggle size (356,255) one partition,
#: the single build; its peak was 2.7 GiB there (benchmarks/README.md), so a partition this
#: size keeps the build far under 12 GiB at any portfolio size.
PARTITION_CLIENTS = 400_000
#: The side table keyed by bureau credit, cut through its ``bureau`` rows.
BY_CREDIT = ("bureau_balance", "bureau", "SK_ID_BUREAU")
#: Column of the partition number in ``split_folder``'s files (a folder level, not a column).
PART = "PART"
Bounds = list[tuple[int, int]]
_LOWEST, _HIGHEST = -(2**63), 2**63 - 1


def client_bounds(ids: Sequence[int] | pl.Series, parts: int) -> Bounds:
    """``parts`` contiguous id ranges ``(first, last)`` holding about as many of ``ids`` each.

    The ranges cover every int64 id, so each table row falls in exactly one of them.
    """
    if parts < 1:
        raise ValueError(f"the number of partitions must be at least 1, got {parts}")
    unique = pl.Series(ids, dtype=pl.Int64).unique().sort()
    parts = max(1, min(parts, len(unique)))
    lasts = [int(unique[(k + 1) * len(unique) // parts - 1]) for k in range(parts - 1)]
    firsts = [_LOWEST] + [last + 1 for last in lasts]
    return list(zip(firsts, lasts + [_HIGHEST], strict=True))


def part_number(bounds: Bounds) -> pl.Expr:
    """The partition number (0 to len(bounds) - 1) of each row, from its ``SK_ID_CURR``."""
    return pl.sum_horizontal([(pl.col(F.KEY) > last).cast(pl.UInt32)
                              for _, last in bounds[:-1]] or [pl.lit(0, pl.UInt32)]).alias(PART)


def restrict(tables: Mapping[str, pl.LazyFrame | pl.DataFrame], first: int, last: int,
             ) -> dict[str, pl.LazyFrame]:
    """Each table's rows of the clients ``first <= SK_ID_CURR <= last``.

    bureau_balance (no ``SK_ID_CURR``) keeps the rows of the kept bureau credits.
    """
    child, parent, link = BY_CREDIT
    in_range = pl.col(F.KEY).is_between(first, last)
    out = {name: frame.lazy().filter(in_range) for name, frame in tables.items()
           if name != child}
    if child in tables:
        frame = tables[child].lazy()
        out[child] = (frame.join(out[parent].select(link), on=link, how="semi")
                      if parent in out else frame)
    return out


_APPLICATIONS = ("application_train", "application_test")


def application_ids(data_dir: Path | str) -> pl.Series:
    """The application ids (train and test) of a data folder; DataError without a train file."""
    names = [t for t in _APPLICATIONS if t == "application_train" or find_file(data_dir, t)]
    return pl.concat([scan_table(data_dir, t).select(F.KEY).collect()[F.KEY] for t in names])


def auto_partitions(data_dir: Path | str) -> int:
    """The number of partitions of an automatic build: one per ``PARTITION_CLIENTS``.

    The applications are counted without parsing them (Parquet footers, CSV line counts);
    compressed files are read.
    """
    clients = 0
    for path in filter(None, (find_file(data_dir, t) for t in _APPLICATIONS)):
        if path.suffix == ".parquet":
            clients += pl.scan_parquet(path).select(pl.len()).collect().item()
        elif path.suffix == ".csv":
            clients += pl.scan_csv(path, infer_schema=False).select(pl.len()).collect().item()
        else:
            clients += len(application_ids(path.parent))
            break  # both tables counted
    return max(1, math.ceil(clients / PARTITION_CLIENTS))


def split_folder(data_dir: Path | str, bounds: Bounds, out_dir: Path | str,
                 say: Callable[[str], None] = lambda _: None) -> list[str]:
    """Stream each table of ``data_dir`` once into ``out_dir/<table>/PART=<k>/`` Parquet files.

    bureau_balance rows take their credit's client from ``bureau`` (rows of unknown credits
    are dropped: no feature uses them). Returns the tables found.
    """
    child, parent, link = BY_CREDIT
    present = [name for name in TABLES if find_file(data_dir, name)]
    for name in present:
        start = time.perf_counter()
        frame = scan_table(data_dir, name)
        if name == child:
            if parent not in present:
                continue
            owners = scan_table(data_dir, parent).select(link, F.KEY)
            frame = frame.join(owners, on=link, how="inner")
        frame.with_columns(part_number(bounds)).sink_parquet(
            pl.PartitionBy(Path(out_dir) / name, key=PART, include_key=False), mkdir=True)
        say(f"  split {name} ({time.perf_counter() - start:.1f} s)")
    return present


def partition_tables(split_dir: Path | str, part: int, present: Sequence[str],
                     ) -> dict[str, pl.LazyFrame]:
    """The tables of partition ``part`` of ``split_folder``'s output (empty where it has no
    rows: a table present in the folder is never taken for absent)."""
    out = {}
    for name in present:
        folder = Path(split_dir) / name / f"{PART}={part}"
        schema = polars_schema(TABLES[name])
        if name == BY_CREDIT[0]:  # split_folder added each credit's client
            schema[F.KEY] = pl.Int64()
        out[name] = (pl.scan_parquet(folder).select(list(schema)) if folder.is_dir()
                     else pl.LazyFrame(schema=schema))
    return out


def _credits_in_range(scans: dict[str, pl.LazyFrame], first: int, last: int,
                      ) -> dict[str, pl.LazyFrame]:
    """``scans`` with bureau_balance cut to the credit ids (``SK_ID_BUREAU``) between the
    lowest and highest of the range's bureau credits: a bound its scan can skip row groups by
    (it has no ``SK_ID_CURR``); ``restrict`` then keeps exactly the range's credits."""
    child, parent, link = BY_CREDIT
    if child not in scans or parent not in scans:
        return scans
    low, high = (scans[parent].filter(pl.col(F.KEY).is_between(first, last))
                 .select(pl.col(link).min().alias("low"), pl.col(link).max().alias("high"))
                 .collect().row(0))
    if low is None:  # no credit in the range
        low, high = 0, -1
    return {**scans, child: scans[child].filter(pl.col(link).is_between(low, high))}


@contextmanager
def _partition_source(data_dir: Path | str, bounds: Bounds, work_dir: Path,
                      say: Callable[[str], None],
                      ) -> Iterator[tuple[list[str], Callable[[int], dict[str, pl.LazyFrame]]]]:
    """(tables present, partition number -> its tables). A folder of Parquet files is read
    range by range (a range's scan skips the row groups outside it); any other is first
    split by ``split_folder`` into ``work_dir`` (each CSV file parsed once)."""
    present = [name for name in TABLES if find_file(data_dir, name)]
    if all(find_file(data_dir, name).suffix == ".parquet" for name in present):
        scans = {name: scan_table(data_dir, name) for name in present}
        yield present, lambda part: restrict(_credits_in_range(scans, *bounds[part]),
                                             *bounds[part])
        return
    with tempfile.TemporaryDirectory(dir=work_dir, prefix=".split-") as split_dir:
        split_folder(data_dir, bounds, split_dir, say)

        def tables(part: int) -> dict[str, pl.LazyFrame]:
            return partition_tables(split_dir, part, present)

        yield present, tables


def partition_frames(data_dir: Path | str, parts: int | None = None,
                     work_dir: Path | str | None = None,
                     say: Callable[[str], None] = lambda _: None,
                     ) -> Iterator[pl.DataFrame]:
    """The store rows of each client range in id order (``parts``: None for
    ``auto_partitions``): memory bounded by one range. A CSV folder in several ranges is
    first split into a temporary folder in ``work_dir`` (default: the system's)."""
    parts = auto_partitions(data_dir) if parts is None else parts
    bounds = client_bounds(application_ids(data_dir), parts)
    say(f"{len(bounds)} client partition(s)")
    if len(bounds) == 1:
        present = [name for name in TABLES if find_file(data_dir, name)]
        yield F.build_features({n: scan_table(data_dir, n) for n in present})
        return
    work = Path(work_dir or tempfile.gettempdir())
    with _partition_source(data_dir, bounds, work, say) as (_, tables_of):
        for part in range(len(bounds)):
            t0 = time.perf_counter()
            frame = F.build_features(tables_of(part))
            say(f"  partition {part + 1}/{len(bounds)}: {frame.height:,} clients "
                f"({time.perf_counter() - t0:.1f} s)")
            yield frame


def build_partitioned(data_dir: Path | str, out: Path | str = Path(DEFAULT_STORE),
                      parts: int | None = None,
                      progress: Callable[[str], None] | None = None) -> StoreSummary:
    """Build the store partition by partition (``parts``: None for ``auto_partitions``).

    The store is the single build's, row for row; each partition's rows are appended in id
    order, so the peak is that of one partition (plus the split's streaming buffers). One
    partition is ``build_store`` itself.
    """
    parts = auto_partitions(data_dir) if parts is None else parts
    if parts == 1:
        return build_store(data_dir, out, progress)
    import pyarrow.parquet as pq  # (pyarrow loads numpy: not on the one-piece path)

    say = progress or (lambda _: None)
    start = time.perf_counter()
    target = store_path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".parquet.tmp")
    train = test = 0
    writer, schema, frame = None, None, None
    for frame in partition_frames(data_dir, parts, target.parent, say):
        arrow = frame.to_arrow()
        if writer is None:
            schema = arrow.schema
            writer = pq.ParquetWriter(tmp, schema, compression="lz4")
        writer.write_table(arrow.cast(schema), row_group_size=ROW_GROUP_SIZE)
        n_train = int((frame[F.DATASET] == "train").sum())
        train, test = train + n_train, test + frame.height - n_train
    writer.close()
    tmp.replace(target)
    present = [name for name in TABLES if find_file(data_dir, name)]
    missing = [t for f in F.FAMILIES.values() for t in f.tables if t not in present]
    return StoreSummary(path=target, train=train, test=test, columns=frame.width,
                        features=len(F.model_features(frame.columns)),
                        seconds=time.perf_counter() - start, missing_tables=missing)


def partition_rows(data_dir: str, first: int, last: int) -> pl.DataFrame:
    """The store rows of the clients ``first`` to ``last``, read from ``data_dir`` (one task)."""
    present = [name for name in TABLES if find_file(data_dir, name)]
    return F.build_features(restrict({n: scan_table(data_dir, n) for n in present}, first, last))


def dask_store_rows(data_dir: Path | str, bounds: Bounds) -> dd.DataFrame:
    """The store rows as a Dask dataframe: one partition per client range, built by one task.

    ``data_dir`` must be readable by every worker (shared storage on a real cluster). The
    pandas partitions keep the Arrow types (``TARGET`` stays an integer with missing values).
    """
    import dask.dataframe as dd

    def task(bound: tuple[int, int]):
        return partition_rows(str(data_dir), *bound).to_pandas(use_pyarrow_extension_array=True)

    present = [name for name in TABLES if find_file(data_dir, name)]
    empty = {name: pl.LazyFrame(schema=polars_schema(TABLES[name])) for name in present}
    meta = F.build_features(empty).to_pandas(use_pyarrow_extension_array=True)
    return dd.from_map(task, bounds, meta=meta, enforce_metadata=False)
