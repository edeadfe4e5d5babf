"""Data commands: generate a synthetic data set, validate a folder, build the feature store."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from cli.common import DataDir, fail, sub_app
from scoring.names import DEFAULT_STORE

app = sub_app("Data: generate, validate, build features.")

#: polars' allocator (jemalloc) setting for the feature build, read when polars loads (polars
#: puts its own defaults before it). polars hands freed memory back to the OS after 0.5 s; the
#: build frees and allocates gigabytes family after family, and keeping freed memory 60 s saves
#: those page faults: about 9% faster at Kaggle size, for a peak 0.3-0.7 GiB higher.
POLARS_ALLOCATOR = {"_RJEM_MALLOC_CONF": "dirty_decay_ms:60000"}


@app.command()
def generate(
    applications: Annotated[int, typer.Option(
        min=10, help="Number of clients (training + test applications).")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same files.")] = 0,
    out: Annotated[Path, typer.Option(help="Folder to write the eight tables to.")] = Path(
        "data/raw"),
    fmt: Annotated[str, typer.Option("--format", help="File format: csv, csv.gz or parquet.")
                   ] = "csv",
    test_share: Annotated[float, typer.Option(
        min=0.0, max=0.9, help="Share of clients written to application_test (Kaggle: 0.137).")
    ] = 48_744 / 356_255,
) -> None:
    """Write a synthetic data set with the Kaggle schema, calibrated to the real data."""
    from synthetic.generator import generate as run

    counts = run(applications, seed=seed, out_dir=out, fmt=fmt, test_share=test_share)
    for table, rows in counts.items():
        typer.echo(f"{table:<24}{rows:>12,} rows")
    typer.echo(f"wrote {sum(counts.values()):,} rows to {out}/")


@app.command()
def validate(data_dir: DataDir = Path("data/raw")) -> None:
    """Check a data folder against the Kaggle schema and report problems per table.

    Fatal problems (bad file, missing column, bad values or keys, TARGET not 0/1) exit with 1.

    Warnings (optional table absent, extra column, unknown level, orphan rows) do not.

    docs/reference/validation.md lists every message.
    """
    from scoring.validation import validate_folder

    report = validate_folder(data_dir)
    typer.echo(report.render())
    if report.fatal:
        raise typer.Exit(code=1)


@app.command()
def convert(
    data_dir: DataDir = Path("data/raw"),
    out: Annotated[Path, typer.Option(help="Folder to write the Parquet tables to.")] = Path(
        "data/parquet"),
) -> None:
    """Convert every table file of a folder to Parquet, typed by the Kaggle schema.

    CSV files are parsed once here; validate, features and score then read Parquet directly,
    only the columns they use: the fast path for large portfolios.
    """
    from scoring.schema import TABLES
    from scoring.tables import DataError, convert_table, find_file

    try:
        for table in (t for t in TABLES if find_file(data_dir, t)):
            typer.echo(f"wrote {convert_table(data_dir, table, out)}")
    except DataError as err:
        fail(str(err))


@app.command()
def features(
    data_dir: DataDir = Path("data/raw"),
    out: Annotated[Path, typer.Option(help="Folder of the feature store (clients.parquet).")
                   ] = Path(DEFAULT_STORE),
    partitions: Annotated[int | None, typer.Option(
        min=1, help="Build the clients in this many id ranges, one after another: the peak "
        "memory is that of one range. Default: one range per 400,000 clients.")] = None,
) -> None:
    """Build the feature store: one row per client (train and test) with its history features.

    A missing side-table file leaves its features out, with a warning. Above 400,000 clients
    (or with --partitions) the tables are first split by client into Parquet files next to the
    store, then built range by range: the same rows, a bounded peak.
    """
    os.environ.update(POLARS_ALLOCATOR)  # before polars loads
    from scoring.partitions import build_partitioned
    from scoring.tables import DataError

    try:
        summary = build_partitioned(data_dir, out, partitions, progress=typer.echo)
    except DataError as err:
        fail(str(err))
    for table in summary.missing_tables:
        typer.secho(f"warning: {table} not found, its features are left out",
                    fg=typer.colors.YELLOW, err=True)
    typer.echo(f"wrote {summary.train:,} train + {summary.test:,} test clients, "
               f"{summary.features} model features, to {summary.path} "
               f"in {summary.seconds:.1f} s")
