"""Tests of the core package; :func:`tiny_frames` builds a small valid data set from the schema.

The tiny data set depends on nothing but :mod:`scoring.schema`, so the bad-input tests run
whether or not the real samples are present.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import polars as pl

from scoring.schema import TABLES, Column, Table
from scoring.tables import POLARS_TYPES

#: Application ids of the tiny data set start here (train first, then test).
FIRST_ID = 100_000


def _values(column: Column, rows: int) -> list:
    """Valid, varied values of a non-key column; nullable floats are empty every third row."""
    if column.kind == "category":
        return [column.levels[i % len(column.levels)] for i in range(rows)]
    if column.kind == "int":
        return [i % 2 for i in range(rows)]  # also valid for TARGET and FLAG_* columns
    return [None if column.nullable and i % 3 == 2 else i * 0.25 for i in range(rows)]


def tiny_table(spec: Table, rows: int, first_id: int, parent_ids: list[int]) -> pl.DataFrame:
    """``rows`` valid rows of a table: unique keys from ``first_id``, parents cycled."""
    data = {}
    for column in spec.columns:
        if spec.parent and column.name == spec.parent[0]:
            data[column.name] = [parent_ids[i % len(parent_ids)] for i in range(rows)]
        elif column.name in spec.key:
            data[column.name] = [first_id + i for i in range(rows)]
        else:
            data[column.name] = _values(column, rows)
    return pl.DataFrame(data, schema={c.name: POLARS_TYPES[c.kind] for c in spec.columns})


def tiny_frames(rows: int = 6) -> dict[str, pl.DataFrame]:
    """A valid data set: every table with ``rows`` rows, every side row linked to a parent."""
    frames: dict[str, pl.DataFrame] = {}
    for n, (name, spec) in enumerate(TABLES.items()):
        if spec.parent is None:
            parent_ids: list[int] = []
        elif spec.parent[1] == "application":
            parent_ids = [*frames["application_train"]["SK_ID_CURR"],
                          *frames["application_test"]["SK_ID_CURR"]]
        else:
            parent_ids = frames[spec.parent[1]][spec.parent[0]].to_list()
        frames[name] = tiny_table(spec, rows, FIRST_ID + 100_000 * n, parent_ids)
    return frames


def write_folder(folder: Path, frames: dict[str, pl.DataFrame], fmt: str = "csv") -> Path:
    """Write each frame to ``folder/<table>.<fmt>`` (csv, csv.gz or parquet)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        path = folder / f"{name}.{fmt}"
        if fmt == "parquet":
            frame.write_parquet(path)
        elif fmt == "csv.gz":
            path.write_bytes(gzip.compress(frame.write_csv().encode()))
        else:
            frame.write_csv(path)
    return folder


def spreadsheet_csv(frame: pl.DataFrame) -> bytes:
    """``frame`` as a French spreadsheet exports it ("CSV UTF-8"): a byte-order mark, ``;``
    between fields, decimal commas, CRLF line ends."""
    text = frame.write_csv(separator=";", decimal_comma=True, line_terminator="\r\n")
    return "\ufeff".encode() + text.encode()


def write_spreadsheets(folder: Path, frames: dict[str, pl.DataFrame]) -> Path:
    """Write each frame to ``folder/<table>.csv`` as :func:`spreadsheet_csv` does."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        (folder / f"{name}.csv").write_bytes(spreadsheet_csv(frame))
    return folder
