"""Check a data folder against the Kaggle schema and report the problems per table.

Each table is checked in four steps:

1. **file**: the file exists (``application_train`` is required, the others are optional), is
   readable, non-empty and UTF-8. Every column is read as text. A spreadsheet's CSV dialect
   (``;`` between fields, decimal commas) and names in another case are accepted, with a
   warning.
2. **text** (pandera): the schema's columns are present, no unexpected column, every value
   parses as the column's kind (int or float).
3. **values** (pandera, on the typed frame): key and TARGET columns are filled, TARGET is 0
   or 1, categories use the Kaggle levels, columns that the Kaggle files always fill are
   filled.
4. **keys** (plain polars): no two rows share a key. A sort finds them: pandera's hash-based
   uniqueness check took 11 s and 7 GB more on a 44-million-row ``bureau_balance``, the sort
   1.6 s and 1.7 GB.

Then the cross-table check (plain polars anti-joins): every ``SK_ID_CURR`` of a side table is
an application of ``application_train`` or ``application_test``, every ``SK_ID_BUREAU`` of
``bureau_balance`` is a ``bureau`` record.

Fatal problems (``error``) make the data unusable; the rest (``warning``) are reported with
counts. The pandera schemas are built from :mod:`scoring.schema`, never restated here.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import polars as pl

from scoring.schema import TABLES, TARGET, Column, Table
from scoring.tables import (
    BATCH_CELLS,
    EXTENSIONS,
    DataError,
    Dialect,
    conform,
    estimate_rows,
    find_file,
    parse,
    read_text_batches,
    schema_names,
    sniff,
)

# pandera imports pyspark.pandas whenever pyspark is installed (the `spark` extra), which prints
# a FutureWarning on every `scoring validate` (then fails to import with pandas 3). Nothing
# here needs it: pandera is imported while pyspark.pandas reads as absent (an ImportError,
# which pandera ignores), then un-hidden for the Spark path.
_HIDE_SPARK = sys.modules.setdefault("pyspark.pandas", None) is None
try:
    import pandera.polars as pa
    from pandera.api.polars.types import PolarsData
    from pandera.errors import SchemaErrors
finally:
    if _HIDE_SPARK:
        del sys.modules["pyspark.pandas"]


Severity = Literal["error", "warning"]

#: How many offending values and row numbers a message shows.
SAMPLES = 5
#: Parent names in the schema that stand for several tables.
PARENT_TABLES: dict[str, tuple[str, ...]] = {
    "application": ("application_train", "application_test"),
}
#: pandera check names that mean a column is absent or unexpected.
MISSING_COLUMN, EXTRA_COLUMN = "column_in_dataframe", "column_in_schema"
NOT_NULL = "not_nullable"
#: Rows whose keys are checked for duplicates at once; a larger table's keys are spread over
#: files of about this many rows (about 0.5 GiB for a two-column key).
KEY_ROWS = 30_000_000
PARSES = "parses_as_"


# --- the report ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    """One finding: fatal (``error``) or not (``warning``), about a column when known."""

    severity: Severity
    message: str
    column: str | None = None

    def render(self) -> str:
        head = "ERROR" if self.severity == "error" else "warning"
        where = f" column {self.column}" if self.column else ""
        return f"{head}{where}: {self.message}"


@dataclass
class TableReport:
    """The findings for one table: its file, its row count and its problems."""

    table: str
    path: Path | None = None
    rows: int | None = None
    problems: list[Problem] = field(default_factory=list)

    def add(self, severity: Severity, message: str, column: str | None = None) -> None:
        self.problems.append(Problem(severity, message, column))

    def count(self, severity: Severity) -> int:
        return sum(p.severity == severity for p in self.problems)

    @property
    def file(self) -> str:
        return self.path.name if self.path else f"{self.table}.*"

    def status(self) -> str:
        parts = [f"{n} {word}{'s' if n > 1 else ''}"
                 for word, n in (("error", self.count("error")),
                                 ("warning", self.count("warning"))) if n]
        return ", ".join(parts) or "ok"

    def render(self) -> str:
        """The table's line (file, rows, status), then its problems, errors first."""
        if self.rows is not None:
            rows = f"{self.rows:,} rows"
        else:
            rows = "unreadable" if self.path else "absent"
        lines = [f"{self.file:<32}{rows:>16}  {self.status()}"]
        problems = sorted(self.problems, key=lambda p: p.severity != "error")
        lines += [f"    {p.render()}" for p in problems]
        return "\n".join(lines)


@dataclass
class Report:
    """The findings for a whole data folder."""

    data_dir: Path
    tables: list[TableReport] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return sum(t.count("error") for t in self.tables)

    @property
    def warnings(self) -> int:
        return sum(t.count("warning") for t in self.tables)

    @property
    def fatal(self) -> bool:
        """True when at least one problem makes the data unusable."""
        return self.errors > 0

    def table(self, name: str) -> TableReport:
        return next(t for t in self.tables if t.table == name)

    def render(self) -> str:
        rows = sum(t.rows or 0 for t in self.tables)
        verdict = "FAILED" if self.fatal else "OK"
        return "\n".join([
            f"Validating {self.data_dir}",
            *(t.render() for t in self.tables),
            f"{verdict}: {self.errors} error(s), {self.warnings} warning(s); "
            f"{rows:,} rows in {sum(t.rows is not None for t in self.tables)} table(s)",
        ])


# --- pandera schemas built from scoring.schema --------------------------------------------
def _parses_as(column: Column) -> pa.Check:
    """A check that every non-empty text value parses as the column's kind."""

    def check(data: PolarsData) -> pl.LazyFrame:
        text = pl.col(data.key)
        return data.lazyframe.select(text.is_null() | parse(text, column.kind).is_not_null())

    return pa.Check(check, name=PARSES + column.kind)


def text_schema(spec: Table) -> pa.DataFrameSchema:
    """Columns present, no extra column, every value parses (on the all-text frame)."""
    columns = {c.name: pa.Column(checks=[] if c.kind == "category" else [_parses_as(c)],
                                 nullable=True)  # empty values are checked on typed data
               for c in spec.columns}
    return pa.DataFrameSchema(columns, strict=True, name=spec.name)


def key_columns(spec: Table) -> tuple[str, ...]:
    """The columns that identify a row or its parent: never empty."""
    return spec.key + ((spec.parent[0],) if spec.parent else ())


def _value_column(spec: Table, column: Column) -> pa.Column | None:
    """The checks of one typed column, or None when there is nothing to check."""
    checks = []
    if column.name == TARGET:
        checks.append(pa.Check.isin([0, 1]))
    elif column.levels:
        checks.append(pa.Check.isin(list(column.levels)))
    must_fill = column.name in key_columns(spec) or column.name == TARGET
    nullable = column.nullable and not must_fill
    if not checks and nullable:
        return None
    return pa.Column(checks=checks, nullable=nullable)


def value_schema(spec: Table, columns: Iterable[str]) -> pa.DataFrameSchema:
    """Filled keys, TARGET in {0, 1}, known levels (on the typed frame).

    Only ``columns`` (those present and parsed) are checked.
    """
    present = set(columns)
    checked = {c.name: _value_column(spec, c) for c in spec.columns if c.name in present}
    return pa.DataFrameSchema(
        {name: column for name, column in checked.items() if column is not None},
        name=spec.name,
    )


def failure_cases(schema: pa.DataFrameSchema, frame: pl.DataFrame) -> pl.DataFrame:
    """pandera's failure cases (one row per failing value) of a lazy validation."""
    try:
        schema.validate(frame, lazy=True)
    except SchemaErrors as err:
        return pl.DataFrame(err.failure_cases)
    return pl.DataFrame()


# --- turning failure cases into messages --------------------------------------------------
def _quote(value: object) -> str:
    text = repr(value) if isinstance(value, str) or value is None else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _examples(values: Iterable[object]) -> str:
    return ", ".join(_quote(v) for v in values)


@dataclass
class Rows:
    """Offending rows (0-based numbers in the file), merged over batches: the first
    :data:`SAMPLES` + 1 in file order and how many there are."""

    first: list[int] = field(default_factory=list)
    count: int = 0

    def add(self, rows: pl.Series, offset: int = 0) -> None:
        """Add the rows ``rows`` (batch numbers) of the batch that starts at ``offset``."""
        rows = rows.drop_nulls().unique().sort()
        self.first = (self.first + (rows.head(SAMPLES + 1) + offset).to_list())[:SAMPLES + 1]
        self.count += rows.len()


def _where(rows: Rows, path: Path) -> str:
    """Where offending rows are, as file lines for CSV (header = line 1) or row numbers."""
    if not rows.count:
        return ""
    csv = path.suffix != ".parquet"
    numbers = [n + (2 if csv else 1) for n in rows.first[:SAMPLES]]
    word = ("line" if csv else "row") + ("s" if rows.count > 1 else "")
    more = ", ..." if rows.count > SAMPLES else ""
    return f" ({word} {', '.join(f'{n:,}' for n in numbers)}{more})"


@dataclass
class Failures:
    """pandera's failure cases of one check on one column, merged over batches: how many,
    the first distinct values (all of them for column names) and the rows."""

    keep_all: bool = False
    n: int = 0
    values: list[object] = field(default_factory=list)
    rows: Rows = field(default_factory=Rows)

    def add(self, group: pl.DataFrame, offset: int) -> None:
        """Add one batch's failure cases (``group``) of the batch that starts at ``offset``."""
        self.n += group.height
        values = group["failure_case"].unique(maintain_order=True).to_list()
        merged = list(dict.fromkeys(self.values + values))
        self.values = merged if self.keep_all else merged[:SAMPLES + 1]
        if "index" in group.columns:
            self.rows.add(group["index"], offset)


def _sample(failures: Failures) -> str:
    values = failures.values
    return _examples(values[:SAMPLES]) + (", ..." if len(values) > SAMPLES else "")


def _describe(check: str, column: str | None, f: Failures, spec: Table, path: Path) -> Problem:
    """One message for all the failures of one check on one column."""
    n = f.n
    where = _where(f.rows, path)
    if check == MISSING_COLUMN:
        return Problem("error", f"missing column(s): {', '.join(map(str, f.values))}")
    if check == EXTRA_COLUMN:
        return Problem("warning", f"unexpected column(s), ignored: "
                                  f"{', '.join(map(str, f.values))}")
    if check.startswith(PARSES):
        kind = check.removeprefix(PARSES)
        return Problem("error", f"{n:,} value(s) are not {kind} numbers, e.g. "
                                f"{_sample(f)}{where}", column)
    if check == NOT_NULL:
        if column in key_columns(spec) or column == TARGET:
            what = "the target column" if column == TARGET else "a key column"
            return Problem("error", f"{n:,} empty value(s) in {what}{where}", column)
        return Problem("warning", f"{n:,} empty value(s) in a column that the Kaggle files "
                                  f"always fill{where}", column)
    if check.startswith("isin") and column == TARGET:
        return Problem("error", f"{n:,} value(s) are not 0 or 1, e.g. {_sample(f)}{where}",
                       column)
    if check.startswith("isin"):
        return Problem("warning", f"{n:,} value(s) are not a Kaggle level of this column, "
                                  f"e.g. {_sample(f)}{where}", column)
    return Problem("error", f"check {check} failed on {n:,} value(s), e.g. {_sample(f)}"
                            f"{where}", column)


FailureLog = dict[tuple[str, str | None], Failures]


def log_failures(log: FailureLog, failures: pl.DataFrame, offset: int = 0) -> None:
    """Merge one batch's pandera failure cases into ``log``, per (check, column), in order."""
    if failures.is_empty():
        return
    for (check, column), group in failures.group_by(["check", "column"], maintain_order=True):
        key = (str(check), column)
        if key not in log:
            log[key] = Failures(keep_all=key[0] in (MISSING_COLUMN, EXTRA_COLUMN))
        log[key].add(group, offset)


def describe_failures(log: FailureLog, spec: Table, path: Path,
                      skip: set[str] = frozenset()) -> Iterator[Problem]:
    """One problem per (check, column) of the log, in the order first met; columns in
    ``skip`` are left out."""
    for (check, column), failures in log.items():
        if column not in skip:
            yield _describe(check, column, failures, spec, path)


def duplicate_keys(rows: pl.DataFrame, key: list[str]) -> pl.DataFrame:
    """The rows (``index`` and key) whose key another row shares, by ``index``; ``rows``
    holds ``index`` and the key columns. Rows with a null key are left out (they are
    reported as empty keys)."""
    rows = rows.select("index", *key).sort(key)
    same = [pl.all_horizontal(pl.col(c) == pl.col(c).shift(step) for c in key)
            for step in (1, -1)]
    return rows.filter(pl.any_horizontal(same)).sort("index")


class KeyLog:
    """Every row's key (with its row number), gathered batch by batch, then checked for
    duplicates. Above :data:`KEY_ROWS` rows the keys are spread by the hash of their first
    column over Parquet files in a temporary folder and checked file by file: a key's rows
    share a file, and memory is bounded by one file."""

    def __init__(self, key: list[str], expected_rows: int) -> None:
        self.key = key
        self.buckets = max(1, -(-expected_rows // KEY_ROWS))
        self._frames: list[pl.DataFrame] = []
        self._tmp = tempfile.TemporaryDirectory(prefix="validate-keys-") if (
            self.buckets > 1) else None
        self._writers: dict[int, object] = {}

    def add(self, typed: pl.DataFrame, offset: int) -> None:
        rows = typed.select(self.key).with_row_index("index", offset)
        if self._tmp is None:
            self._frames.append(rows)
            return
        import pyarrow.parquet as pq

        bucket = (pl.col(self.key[0]).hash(seed=0) % self.buckets).alias("bucket")
        for (b,), part in rows.with_columns(bucket).partition_by(
                "bucket", as_dict=True, include_key=False).items():
            table = part.to_arrow()
            if b not in self._writers:
                self._writers[b] = pq.ParquetWriter(f"{self._tmp.name}/{b}.parquet",
                                                    table.schema)
            self._writers[b].write_table(table)

    def _parts(self) -> Iterator[pl.DataFrame]:
        if self._tmp is None:
            yield pl.concat(self._frames) if self._frames else pl.DataFrame()
            self._frames = []
            return
        for writer in self._writers.values():
            writer.close()
        with self._tmp as folder:
            for b in sorted(self._writers):
                yield pl.read_parquet(f"{folder}/{b}.parquet")

    def duplicates(self) -> tuple[int, list[object], Rows]:
        """How many rows share their key, the first distinct such keys, and the rows."""
        count, rows, firsts = 0, Rows(), []
        for part in self._parts():
            if part.is_empty():
                continue
            dup = duplicate_keys(part, self.key)
            count += dup.height
            firsts.append(dup.group_by(self.key, maintain_order=True)
                          .agg(pl.col("index").first()).head(SAMPLES))
            rows.first = sorted(rows.first + dup["index"].head(SAMPLES + 1).to_list())
            rows.first, rows.count = rows.first[:SAMPLES + 1], rows.count + dup.height
        if not count:
            return 0, [], rows
        values = pl.concat(firsts).sort("index").head(SAMPLES).select(self.key)
        return count, list(values.to_series() if len(self.key) == 1 else values.iter_rows()), rows


def report_duplicate_keys(report: TableReport, keys: KeyLog) -> None:
    """An error when rows share a key."""
    count, values, rows = keys.duplicates()
    if not count:
        return
    examples, where, key = _examples(values), _where(rows, report.path), keys.key
    if len(key) == 1:
        report.add("error", f"{count:,} row(s) share a key value with another row, "
                            f"e.g. {examples}{where}", key[0])
    else:
        report.add("error", f"{count:,} row(s) share their key ({', '.join(key)}) with "
                            f"another row, e.g. {examples}{where}")


@dataclass
class Orphans:
    """Rows whose parent key is in no parent table, merged over batches."""

    rows: Rows = field(default_factory=Rows)
    ids: list[pl.Series] = field(default_factory=list)

    def add(self, typed: pl.DataFrame, column: str, parent_keys: pl.DataFrame,
            offset: int) -> None:
        rows = typed.select(column).with_row_index("index").drop_nulls(column)
        orphans = rows.join(parent_keys, on=column, how="anti")
        if not orphans.is_empty():
            self.rows.add(orphans["index"], offset)
            self.ids.append(orphans[column].unique(maintain_order=True))


# --- one table ----------------------------------------------------------------------------
def _as_text(frame: pl.DataFrame) -> pl.DataFrame:
    """Every column as text (parquet files keep their types when read)."""
    return frame.with_columns(pl.col(c).cast(pl.String) for c, t in frame.schema.items()
                              if t != pl.String)


def _locate(data_dir: Path, spec: Table, report: TableReport) -> Path | None:
    """The table's file, with a problem when it is absent or present in several formats."""
    path = find_file(data_dir, spec.name)
    if path is None:
        looked = ", ".join(spec.name + e for e in EXTENSIONS)
        where = str(data_dir) + ("" if data_dir.is_dir() else " (no such folder)")
        if spec.required:
            report.add("error", f"required table {spec.name} not found in {where}; "
                                f"looked for {looked}")
        else:
            report.add("warning", f"optional table {spec.name} not found in {where}: "
                                  "not checked, its features will be missing")
        return None
    others = [p.name for e in EXTENSIONS if (p := data_dir / f"{spec.name}{e}") != path
              and p.is_file()]
    if others:
        report.add("warning", f"also found {', '.join(others)}; using {path.name}")
    return path


def check_header(raw: pl.DataFrame, dialect: Dialect | None, spec: Table,
                 report: TableReport) -> None:
    """Warnings about a spreadsheet's dialect and names in another case (first batch)."""
    if dialect and not dialect.plain:
        report.add("warning", f"read as {dialect.describe()} (a spreadsheet's CSV export); "
                              "the Kaggle files use commas and decimal points")
    renames = schema_names(raw.columns, spec)
    if renames:
        pairs = [f"{old!r} as {new}" for old, new in list(renames.items())[:SAMPLES]]
        more = ", ..." if len(renames) > SAMPLES else ""
        report.add("warning", f"{len(renames):,} column name(s) differ from the schema's only "
                              f"in case, read as the schema's: {', '.join(pairs)}{more}")


def _text(raw: pl.DataFrame, dialect: Dialect | None, spec: Table) -> pl.DataFrame:
    """A batch as read as an all-text frame with the schema's names and decimal points."""
    raw = _as_text(raw)
    return conform(raw, spec, dialect) if dialect else raw.rename(schema_names(raw.columns,
                                                                                spec))


def check_columns(text: pl.DataFrame, spec: Table, report: TableReport) -> None:
    """An error when fewer than half the schema's columns are in the header."""
    present = sum(name in text.columns for name in spec.names)
    if present < len(spec.columns) / 2:
        report.add("error", f"only {present} of the {len(spec.columns)} schema columns are in "
                            f"the header, which holds {text.width} name(s), e.g. "
                            f"{_examples(text.columns[:SAMPLES])}: is this {spec.name}'s "
                            "file, with its header line?")


@dataclass
class TableCheck:
    """The checks of one table, batch by batch; :meth:`finish` writes the report."""

    spec: Table
    report: TableReport
    parent_keys: pl.DataFrame | None = None  # the parent's keys, None: orphans not checked
    text_log: FailureLog = field(default_factory=dict)
    value_log: FailureLog = field(default_factory=dict)
    unusable: set[str] = field(default_factory=set)
    keys: KeyLog | None = None
    orphans: Orphans = field(default_factory=Orphans)
    own_keys: list[pl.Series] = field(default_factory=list)  # for the children's orphans
    header: pl.DataFrame | None = None
    rows: int = 0

    def add(self, text: pl.DataFrame, own_key: str | None) -> None:
        """Check one all-text batch (with the schema's names) that follows the previous."""
        spec, offset = self.spec, self.rows
        self.header = text.head(0) if self.header is None else self.header
        self.rows += text.height
        failures = failure_cases(text_schema(spec), text)
        log_failures(self.text_log, failures, offset)
        if not failures.is_empty():
            self.unusable |= set(failures["column"].drop_nulls())
        usable = [c for c in spec.columns if c.name in text.columns
                  and c.name not in self.unusable]
        typed = text.select(parse(pl.col(c.name), c.kind).alias(c.name)
                                      for c in usable)
        del text
        log_failures(self.value_log, failure_cases(value_schema(spec, typed.columns), typed),
                     offset)
        if self.keys is not None and set(self.keys.key) <= set(typed.columns):
            self.keys.add(typed, offset)
        if spec.parent and self.parent_keys is not None and spec.parent[0] in typed.columns:
            self.orphans.add(typed, spec.parent[0], self.parent_keys, offset)
        if own_key and own_key in typed.columns:
            self.own_keys.append(typed[own_key])

    def finish(self, known_parents: str) -> pl.Series | None:
        """Write the problems into the report, in the order of the steps; returns the
        table's own key column for its children (None if unusable)."""
        report, spec = self.report, self.spec
        report.rows = self.rows
        if self.rows == 0:
            report.add("error" if spec.required else "warning", "the file has no data rows")
        report.problems += describe_failures(self.text_log, spec, report.path)
        check_columns(self.header, spec, report)
        report.problems += describe_failures(self.value_log, spec, report.path,
                                             skip=self.unusable)
        if self.keys is not None and not set(self.keys.key) & self.unusable and (
                set(self.keys.key) <= set(self.header.columns)):
            report_duplicate_keys(report, self.keys)
        if spec.parent:
            self.report_orphans(known_parents)
        own = [k for k in self.own_keys if k.name not in self.unusable]
        return pl.concat(own) if own else None

    def report_orphans(self, names: str) -> None:
        column = self.spec.parent[0]
        parents = PARENT_TABLES.get(self.spec.parent[1], (self.spec.parent[1],))
        if self.parent_keys is None or column not in self.header.columns or (
                column in self.unusable):
            self.report.add("warning", f"orphan check skipped: no usable "
                                       f"{' or '.join(parents)} {column} to compare with",
                            column)
            return
        if not self.orphans.rows.count:
            return
        ids = pl.concat(self.orphans.ids).unique(maintain_order=True)
        self.report.add("warning", f"{self.orphans.rows.count:,} row(s) ({ids.len():,} "
                                   f"distinct ids) refer to no row of {names}, e.g. "
                                   f"{_examples(ids.head(SAMPLES).to_list())}"
                                   f"{_where(self.orphans.rows, self.report.path)}", column)


def validate_table(data_dir: Path, spec: Table, known: dict[str, pl.Series | None],
                   own_key: str | None = None, cells: int = BATCH_CELLS,
                   ) -> tuple[TableReport, pl.Series | None]:
    """Check one table batch by batch (about ``cells`` values each); returns its report and
    its ``own_key`` column (None if absent or unusable) for its children's orphan check.

    ``known``: parent table -> its key column (None: unusable), for this table's orphans.
    """
    report = TableReport(spec.name)
    report.path = _locate(data_dir, spec, report)
    if report.path is None:
        return report, None
    check = TableCheck(spec, report, _parent_keys(spec, known))
    names = ""
    if spec.parent:
        parents = PARENT_TABLES.get(spec.parent[1], (spec.parent[1],))
        names = " or ".join(p for p in parents if p in known)
    dialect = sniff(report.path) if report.path.suffix != ".parquet" else None
    try:
        for raw in read_text_batches(report.path, cells=cells):
            text = _text(raw, dialect, spec)
            if check.header is None:
                check_header(raw, dialect, spec, report)
                if spec.key and set(spec.key) <= set(text.columns):
                    check.keys = KeyLog(list(spec.key), estimate_rows(report.path))
            del raw
            check.add(text, own_key)
    except (DataError, OSError) as err:
        report.add("error", str(err).removeprefix(f"{report.path}: "))
        report.rows = None
        return report, None
    return report, check.finish(names)


# --- across tables ------------------------------------------------------------------------
def _parent_keys(spec: Table, known: dict[str, pl.Series | None]) -> pl.DataFrame | None:
    """The keys of ``spec``'s parent tables as a one-column frame; None when one is
    unusable or none has been read."""
    if not spec.parent:
        return None
    column, parent = spec.parent
    keys = [known[p] for p in PARENT_TABLES.get(parent, (parent,)) if p in known]
    if not keys or any(k is None for k in keys):
        return None
    return pl.concat(keys).unique().to_frame(column)


def _parent_keys_needed() -> dict[str, str]:
    """Parent table -> the key column its children refer to."""
    needed = {}
    for spec in TABLES.values():
        if spec.parent:
            column, parent = spec.parent
            needed.update({p: column for p in PARENT_TABLES.get(parent, (parent,))})
    return needed


def validate_folder(data_dir: Path | str, cells: int = BATCH_CELLS) -> Report:
    """Check every table of a data folder, then the links between tables.

    Tables are read one at a time (parents first) in batches of about ``cells`` values;
    only the parents' key columns are kept for the orphan checks, and the keys of a table
    with many rows are checked part by part on disk: memory stays bounded by a batch.
    """
    data_dir = Path(data_dir)
    report = Report(data_dir)
    needed = _parent_keys_needed()
    known: dict[str, pl.Series | None] = {}  # parent table -> its keys (None: unusable)
    for spec in TABLES.values():
        table_report, own = validate_table(data_dir, spec, known, needed.get(spec.name), cells)
        report.tables.append(table_report)
        if spec.name in needed and table_report.rows is not None:
            known[spec.name] = own
    return report
