"""Every read and write of a Kaggle-format table file.

A data folder holds one file per table, named after it, in any of the formats Kaggle users
have: ``application_train.csv``, ``.csv.gz``, ``.csv.zip`` / ``.zip`` (one CSV inside) or
``.parquet``. Reading returns polars frames typed by :mod:`scoring.schema`.

CSV files may also come from a spreadsheet: fields separated by ``;`` (or a tab, or ``|``),
decimal commas, a UTF-8 byte-order mark, column names in another case. :func:`sniff` finds the
separator and decimal mark from the file's first lines, :func:`schema_names` maps the header
to the schema's names, and every reader below applies both.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import polars as pl

from scoring.schema import TABLES, Kind, Table

#: Accepted file endings, in the order they are looked for.
EXTENSIONS = (".parquet", ".csv", ".csv.gz", ".csv.zip", ".zip")

POLARS_TYPES: dict[str, pl.DataType] = {"int": pl.Int64(), "float": pl.Float64(),
                                        "category": pl.String()}


def polars_schema(spec: Table) -> dict[str, pl.DataType]:
    """The polars type of each column of a table, in the schema's order."""
    return {c.name: POLARS_TYPES[c.kind] for c in spec.columns}


class DataError(Exception):
    """A data file that cannot be used; the message names the file and, if known, the column."""


def find_file(data_dir: Path | str, table: str) -> Path | None:
    """The file holding ``table`` in ``data_dir``, or None if there is none."""
    for ext in EXTENSIONS:
        path = Path(data_dir) / f"{table}{ext}"
        if path.is_file():
            return path
    return None


def _source(path: Path) -> bytes | Path:
    """Something polars can read a CSV from: the path, or the decompressed bytes."""
    name = path.name.lower()
    if name.endswith(".zip"):
        try:
            with zipfile.ZipFile(path) as zf:
                members = [m for m in zf.namelist() if m.lower().endswith(".csv")]
                if len(members) != 1:
                    raise DataError(f"{path}: a .zip must hold exactly one .csv file, "
                                    f"found {len(members)}")
                return zf.read(members[0])
        except (zipfile.BadZipFile, OSError, EOFError) as err:
            raise DataError(f"{path}: not a readable zip file ({err})") from err
    if name.endswith(".gz"):
        try:
            with gzip.open(path) as fh:
                return fh.read()
        except (OSError, EOFError) as err:
            raise DataError(f"{path}: not a readable gzip file ({err})") from err
    return path


#: Field separators a CSV file may use, the Kaggle files' first.
SEPARATORS = (",", ";", "\t", "|")
#: How much of a file :func:`sniff` looks at.
SNIFF_BYTES = 1 << 16


@dataclass(frozen=True)
class Dialect:
    """How a CSV file is written: its field separator and decimal mark."""

    separator: str = ","
    decimal_comma: bool = False

    @property
    def plain(self) -> bool:
        """True for the Kaggle files' own dialect (commas between fields, decimal points)."""
        return self == Dialect()

    def describe(self) -> str:
        """E.g. ``';'-separated with decimal commas``."""
        name = {"\t": "tab"}.get(self.separator, repr(self.separator))
        return f"{name}-separated" + (" with decimal commas" if self.decimal_comma else "")


def _head(path: Path) -> bytes:
    """The first bytes of a CSV file's text, decompressed; empty if it cannot be read."""
    try:
        name = path.name.lower()
        if name.endswith(".zip"):
            with zipfile.ZipFile(path) as zf:
                members = [m for m in zf.namelist() if m.lower().endswith(".csv")]
                if len(members) != 1:
                    return b""
                with zf.open(members[0]) as fh:
                    return fh.read(SNIFF_BYTES)
        opener = gzip.open if name.endswith(".gz") else open
        with opener(path, "rb") as fh:
            return fh.read(SNIFF_BYTES)
    except (zipfile.BadZipFile, OSError, EOFError):
        return b""


def sniff(path: Path | str) -> Dialect:
    """The dialect of a CSV file, from its first lines.

    The separator is the candidate of :data:`SEPARATORS` found most often in the header (a
    comma when none is); a file not separated by commas has decimal commas when a field of its
    first lines is a number written with one (``-0,25``).
    """
    lines = _head(Path(path)).decode("utf-8", errors="replace").splitlines()
    if not lines:
        return Dialect()
    header = lines[0]
    separator = max(SEPARATORS, key=header.count) if any(map(header.count, SEPARATORS)) else ","
    if separator == ",":
        return Dialect()
    sep = re.escape(separator)
    number = re.compile(rf'(?:^|{sep})"?-?\d*,\d+"?(?:{sep}|$)')
    return Dialect(separator, any(number.search(line) for line in lines[1:-1] or lines[1:]))


def schema_names(columns: Iterable[str], spec: Table) -> dict[str, str]:
    """Header names that are a schema column's name in another case (or with spaces around
    it) -> that name; names already right, unknown, or whose column is also present are left
    out."""
    columns = list(columns)
    wanted = {name.casefold(): name for name in spec.names}
    renames = {}
    for column in columns:
        name = wanted.get(column.strip().casefold())
        if name and name != column and name not in columns and name not in renames.values():
            renames[column] = name
    return renames


def conform(frame: pl.DataFrame, spec: Table, dialect: Dialect) -> pl.DataFrame:
    """An all-text frame with the schema's column names and decimal points."""
    frame = frame.rename(schema_names(frame.columns, spec))
    if dialect.plain:
        return frame
    numeric = [c.name for c in spec.columns if c.kind != "category" and c.name in frame.columns]
    return frame.with_columns(pl.col(c).str.replace(",", ".", literal=True) for c in numeric
                              if frame.schema[c] == pl.String)


def _check_utf8(path: Path, data: bytes | Path) -> None:
    raw = data if isinstance(data, bytes) else data.read_bytes()
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise DataError(
            f"{path}: not UTF-8 text (byte 0x{raw[err.start]:02x} on line {line}); "
            "re-save the file as UTF-8") from err


def read_text(path: Path | str, spec: Table | None = None) -> pl.DataFrame:
    """Read a table file with every CSV column as text, for validation.

    The CSV dialect is sniffed. Given the table's ``spec``, column names that differ from the
    schema's only in case take the schema's, and decimal commas of its numeric columns become
    points. Parquet files keep their stored types. Raises DataError for an empty, undecodable
    or unreadable file.
    """
    path = Path(path)
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty")
    if path.suffix == ".parquet":
        try:
            frame = pl.read_parquet(path)
        except Exception as err:  # polars raises several error types for bad parquet
            raise DataError(f"{path}: not a readable parquet file ({err})") from err
        return frame.rename(schema_names(frame.columns, spec)) if spec else frame
    data = _source(path)
    dialect = sniff(path)
    try:
        frame = pl.read_csv(data, infer_schema=False, encoding="utf8",
                            separator=dialect.separator)
    except pl.exceptions.NoDataError as err:
        raise DataError(f"{path}: the file is empty") from err
    except pl.exceptions.ComputeError as err:
        _check_utf8(path, data)
        raise DataError(f"{path}: not a readable CSV file ({err})") from err
    if frame.width == 0:
        raise DataError(f"{path}: the file is empty")
    return conform(frame, spec, dialect) if spec else frame


#: Cells (rows x columns) per batch of :func:`read_text_batches`: bounds validation's memory
#: (about 1 GiB of text) whatever the number of rows.
BATCH_CELLS = 20_000_000
#: A plain CSV file larger than this is streamed in batches; a smaller or compressed one is
#: read at once by :func:`read_text` (which names an undecodable byte's line).
STREAM_CSV_BYTES = 1 << 27


def read_text_batches(path: Path | str, spec: Table | None = None, cells: int = BATCH_CELLS,
                      ) -> Iterator[pl.DataFrame]:
    """:func:`read_text` in consecutive batches of about ``cells`` values, in file order.

    A Parquet file (its row groups) and a large plain CSV file are streamed, so memory is
    bounded by one batch; a file with no data rows gives one empty frame with its columns.
    Raises DataError as :func:`read_text` does (a streamed CSV file: when a batch fails).
    """
    path = Path(path)
    streamed = path.suffix == ".parquet" or (
        path.suffix == ".csv" and path.stat().st_size > STREAM_CSV_BYTES)
    if not streamed or path.stat().st_size == 0:
        yield read_text(path, spec)
        return
    if path.suffix == ".parquet":
        yield from _parquet_batches(path, spec, cells)
        return
    dialect = sniff(path)
    lazy = pl.scan_csv(path, infer_schema=False, separator=dialect.separator)
    rows = 0
    try:
        size = max(1, cells // max(1, len(_csv_header(path))))
        for batch in lazy.collect_batches(chunk_size=size):
            if batch.height:
                rows += batch.height
                yield _named(batch, spec, dialect)
        if not rows:
            yield _named(lazy.head(0).collect(), spec, dialect)
    except pl.exceptions.PolarsError as err:
        raise DataError(f"{path}: not a readable CSV file ({err})") from err


def open_parquet(path: Path | str):  # -> pyarrow.parquet.ParquetFile
    """A Parquet file to read in batches (``iter_batches``) in bounded memory.

    pyarrow's default ``pre_buffer`` keeps the bytes of every row group read so far until the
    file is closed: 14 MB more per 20,000 store rows read, 5 GB over a 10x Kaggle store."""
    import pyarrow.parquet as pq

    return pq.ParquetFile(path, pre_buffer=False)


def _parquet_batches(path: Path, spec: Table | None, cells: int) -> Iterator[pl.DataFrame]:
    """A Parquet file in batches of about ``cells`` values (pyarrow reads the row groups
    as it goes); an empty file gives one empty frame with its columns."""
    try:
        with open_parquet(path) as parquet:
            size = max(1, cells // max(1, len(parquet.schema_arrow.names)))
            empty = pl.from_arrow(parquet.schema_arrow.empty_table())
            rows = 0
            for batch in parquet.iter_batches(batch_size=size):
                rows += batch.num_rows
                yield _named(pl.from_arrow(batch), spec, None)
            if not rows:
                yield _named(empty, spec, None)
    except (OSError, ValueError) as err:  # pyarrow's errors for a bad file (ArrowException)
        raise DataError(f"{path}: not a readable parquet file ({err})") from err


def estimate_rows(path: Path | str) -> int:
    """A table file's number of data rows: exact for Parquet, estimated from the size and
    the first lines for a plain CSV file; 0 for a compressed or unreadable one."""
    path = Path(path)
    try:
        if path.suffix == ".parquet":
            return pl.scan_parquet(path).select(pl.len()).collect().item()
        head = _head(path)
    except Exception:  # an unreadable file: the readers report it
        return 0
    lines = head.count(b"\n")
    if path.suffix != ".csv" or lines < 2:
        return 0
    return int(path.stat().st_size / (len(head) / lines))


def _named(frame: pl.DataFrame, spec: Table | None, dialect: Dialect | None) -> pl.DataFrame:
    """``frame`` with the schema's names (and decimal points for a CSV ``dialect``)."""
    if spec is None:
        return frame
    return conform(frame, spec, dialect) if dialect else frame.rename(
        schema_names(frame.columns, spec))


def parse(text: pl.Expr, kind: Kind) -> pl.Expr:
    """``text`` (a String expression) parsed as a schema kind; null where it does not parse.

    Int columns accept whole floats such as ``3.0`` (pandas writes int columns holding NaN
    that way); ``3.5``, ``abc``, ``inf`` or values beyond Int64 do not parse.
    """
    if kind == "category":
        return text
    as_float = text.cast(pl.Float64, strict=False)
    if kind == "float":
        return as_float
    whole = pl.when(as_float == as_float.round(0)).then(as_float)
    return pl.coalesce(text.cast(pl.Int64, strict=False), whole.cast(pl.Int64, strict=False))


def _typed(frame: pl.DataFrame, column: str, kind: Kind) -> pl.Expr:
    """The expression that turns ``frame[column]`` into the schema's type for ``kind``."""
    if frame.schema[column] == POLARS_TYPES[kind]:
        return pl.col(column)
    return parse(pl.col(column).cast(pl.String), kind).cast(POLARS_TYPES[kind]).alias(column)


def cast(frame: pl.DataFrame, spec: Table, path: Path | str) -> pl.DataFrame:
    """Cast the schema's columns of ``frame`` to their types; extra columns are dropped.

    Raises DataError naming the file, the column and sample values that do not parse.
    """
    missing = [c for c in spec.names if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}")
    out = frame.select(_typed(frame, c.name, c.kind) for c in spec.columns)
    for col in spec.columns:
        bad = frame[col.name].is_not_null() & out[col.name].is_null()
        if bad.any():
            samples = frame[col.name].filter(bad).unique(maintain_order=True).head(5).to_list()
            raise DataError(f"{path}: column {col.name} expects {col.kind} values; "
                            f"{int(bad.sum())} row(s) do not parse, e.g. {samples}")
    return out


def read_table(data_dir: Path | str, table: str) -> pl.DataFrame:
    """Read one table from a data folder, typed by the schema.

    Raises DataError when the file is missing, unreadable or has a bad column.
    """
    spec = TABLES[table]
    path = find_file(data_dir, table)
    if path is None:
        raise DataError(f"{data_dir}: no file for table {table} "
                        f"(looked for {', '.join(table + e for e in EXTENSIONS)})")
    if path.suffix != ".parquet":
        # Fast path: let the CSV reader parse the types; fall back on a text read for a
        # message that names the bad column, or for names in another case.
        dialect = sniff(path)
        try:
            frame = pl.read_csv(_source(path), schema_overrides=polars_schema(spec),
                                separator=dialect.separator,
                                decimal_comma=dialect.decimal_comma)
            if set(spec.names) <= set(frame.columns):
                return frame.select(spec.names)
        except (pl.exceptions.PolarsError, UnicodeDecodeError):
            pass
    return cast(read_text(path, spec), spec, path)


def scan_table(data_dir: Path | str, table: str) -> pl.LazyFrame:
    """One table of a data folder as a lazy frame, typed by the schema.

    A Parquet file whose columns already have the schema's types, or a plain CSV file with the
    schema's columns, is scanned lazily: a query reads only the columns it uses, as it goes.
    A CSV value that does not parse then fails the query with a polars error, and
    ``read_table`` on the file names the column (``scoring.store.build_store`` does so).
    Any other file (compressed, in a spreadsheet's dialect, with names in another case) is
    read (and checked) by ``read_table``; raises DataError as it does.
    """
    spec = TABLES[table]
    path = find_file(data_dir, table)
    if path is not None and path.suffix == ".parquet":
        try:
            stored = pl.read_parquet_schema(path)
        except Exception:  # unreadable: read_table raises the DataError
            stored = {}
        if all(stored.get(name) == kind for name, kind in polars_schema(spec).items()):
            return pl.scan_parquet(path).select(spec.names)
    if (path is not None and path.suffix == ".csv" and sniff(path).plain
            and set(spec.names) <= _csv_header(path)):
        return pl.scan_csv(path, schema_overrides=polars_schema(spec)).select(spec.names)
    return read_table(data_dir, table).lazy()


def _csv_header(path: Path) -> set[str]:
    """The column names on a CSV file's first line (empty if it cannot be read as UTF-8)."""
    with open(path, "rb") as fh:
        line = fh.readline()
    try:
        return set(next(csv.reader([line.decode("utf-8-sig").rstrip("\r\n")]), []))
    except UnicodeDecodeError:
        return set()


def convert_table(data_dir: Path | str, table: str, out_dir: Path | str) -> Path:
    """Write one table of ``data_dir`` to ``out_dir/<table>.parquet``, typed by the schema.

    A plain CSV file is parsed once and streamed (memory bounded by polars' buffers); any
    other file is read (and checked) by ``read_table``. Raises DataError as it does.
    """
    target = Path(out_dir) / f"{table}.parquet"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".parquet.tmp")
    try:
        scan_table(data_dir, table).sink_parquet(tmp, compression="lz4")
    except pl.exceptions.PolarsError:  # a CSV value that does not parse: name it
        read_table(data_dir, table).write_parquet(tmp, compression="lz4")
    tmp.replace(target)
    return target


def read_tables(data_dir: Path | str, tables: Iterable[str] | None = None,
                ) -> dict[str, pl.DataFrame]:
    """Read the tables of a data folder that are present; a missing optional table is skipped.

    Raises DataError if ``application_train`` is missing.
    """
    out = {}
    for name in tables or TABLES:
        if find_file(data_dir, name) is None and not TABLES[name].required:
            continue
        out[name] = read_table(data_dir, name)
    return out


class TableWriter:
    """Write a table in chunks to ``out_dir/<table>.<fmt>`` (``csv``, ``csv.gz`` or ``parquet``).

    Columns are written in the schema's order; memory stays bounded by one chunk.
    """

    def __init__(self, out_dir: Path | str, table: str, fmt: str = "csv") -> None:
        if fmt not in ("csv", "csv.gz", "parquet"):
            raise ValueError(f"unknown format {fmt!r} (csv, csv.gz or parquet)")
        self.spec = TABLES[table]
        self.path = Path(out_dir) / f"{table}.{fmt}"
        self.fmt = fmt
        self.rows = 0
        self._fh: io.IOBase | None = None
        self._parquet = None
        self._started = False

    def __enter__(self) -> TableWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.fmt == "csv":
            self._fh = open(self.path, "wb")  # noqa: SIM115 - closed in __exit__
        elif self.fmt == "csv.gz":
            self._fh = gzip.open(self.path, "wb", compresslevel=3)
        return self

    def write(self, chunk: pl.DataFrame) -> None:
        """Append a chunk (a polars frame holding at least the schema's columns)."""
        chunk = chunk.select(self.spec.names).cast(polars_schema(self.spec))
        if self.fmt == "parquet":
            import pyarrow.parquet as pq

            arrow = chunk.to_arrow()
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(self.path, arrow.schema)
            self._parquet.write_table(arrow)
        else:
            chunk.write_csv(self._fh, include_header=not self._started)
        self._started = True
        self.rows += chunk.height

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.fmt == "parquet":
            if self._parquet is None:  # nothing written: still leave a valid empty file
                pl.DataFrame(schema=polars_schema(self.spec)).write_parquet(self.path)
            else:
                self._parquet.close()
        else:
            if not self._started:
                self._fh.write((",".join(self.spec.names) + "\n").encode())
            self._fh.close()
