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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import polars as pl

from scoring.schema import TABLES, TARGET, Column, Table
from scoring.tables import (
    EXTENSIONS,
    DataError,
    conform,
    find_file,
    parse,
    read_text,
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


def _where(rows: pl.Series, path: Path) -> str:
    """Where offending rows are, as file lines for CSV (header = line 1) or row numbers."""
    rows = rows.drop_nulls().unique().sort()
    if rows.is_empty():
        return ""
    csv = path.suffix != ".parquet"
    numbers = (rows.head(SAMPLES) + (2 if csv else 1)).to_list()
    word = ("line" if csv else "row") + ("s" if rows.len() > 1 else "")
    more = ", ..." if rows.len() > SAMPLES else ""
    return f" ({word} {', '.join(f'{n:,}' for n in numbers)}{more})"


def _sample(group: pl.DataFrame) -> str:
    values = group["failure_case"].unique(maintain_order=True)
    return _examples(values.head(SAMPLES).to_list()) + (", ..." if values.len() > SAMPLES else "")


def _describe(check: str, column: str | None, group: pl.DataFrame, spec: Table,
              path: Path) -> Problem:
    """One message for all the failures of one check on one column."""
    n = group.height
    where = _where(group["index"], path) if "index" in group.columns else ""
    if check == MISSING_COLUMN:
        return Problem("error", f"missing column(s): {', '.join(group['failure_case'])}")
    if check == EXTRA_COLUMN:
        return Problem("warning", f"unexpected column(s), ignored: "
                                  f"{', '.join(group['failure_case'])}")
    if check.startswith(PARSES):
        kind = check.removeprefix(PARSES)
        return Problem("error", f"{n:,} value(s) are not {kind} numbers, e.g. "
                                f"{_sample(group)}{where}", column)
    if check == NOT_NULL:
        if column in key_columns(spec) or column == TARGET:
            what = "the target column" if column == TARGET else "a key column"
            return Problem("error", f"{n:,} empty value(s) in {what}{where}", column)
        return Problem("warning", f"{n:,} empty value(s) in a column that the Kaggle files "
                                  f"always fill{where}", column)
    if check.startswith("isin") and column == TARGET:
        return Problem("error", f"{n:,} value(s) are not 0 or 1, e.g. {_sample(group)}{where}",
                       column)
    if check.startswith("isin"):
        return Problem("warning", f"{n:,} value(s) are not a Kaggle level of this column, "
                                  f"e.g. {_sample(group)}{where}", column)
    return Problem("error", f"check {check} failed on {n:,} value(s), e.g. {_sample(group)}"
                            f"{where}", column)


def describe_failures(failures: pl.DataFrame, spec: Table, path: Path) -> Iterator[Problem]:
    """One problem per (check, column) of pandera's failure cases, in schema order."""
    if failures.is_empty():
        return
    for (check, column), group in failures.group_by(["check", "column"], maintain_order=True):
        yield _describe(str(check), column, group, spec, path)


def duplicate_keys(typed: pl.DataFrame, key: list[str]) -> pl.DataFrame:
    """The rows (``index`` and key) whose key another row shares; rows with a null key
    are left out (they are reported as empty keys)."""
    rows = typed.select(key).with_row_index("index").sort(key)
    same = [pl.all_horizontal(pl.col(c) == pl.col(c).shift(step) for c in key)
            for step in (1, -1)]
    return rows.filter(pl.any_horizontal(same)).sort("index")


def check_duplicate_keys(report: TableReport, typed: pl.DataFrame, spec: Table) -> None:
    """An error when rows share a key (checked when all the key columns are usable)."""
    key = list(spec.key)
    if not key or not set(key) <= set(typed.columns):
        return
    dup = duplicate_keys(typed, key)
    if dup.is_empty():
        return
    values = dup.select(key).unique(maintain_order=True).head(SAMPLES)
    examples = _examples(values.to_series() if len(key) == 1 else values.iter_rows())
    where = _where(dup["index"], report.path)
    if len(key) == 1:
        report.add("error", f"{dup.height:,} row(s) share a key value with another row, "
                            f"e.g. {examples}{where}", key[0])
    else:
        report.add("error", f"{dup.height:,} row(s) share their key ({', '.join(key)}) with "
                            f"another row, e.g. {examples}{where}")


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


def _read(path: Path, spec: Table, report: TableReport) -> pl.DataFrame | None:
    """The file as an all-text frame with the schema's names and decimal points, or None
    (with an error) when it cannot be used."""
    try:
        frame = _as_text(read_text(path))
    except (DataError, OSError) as err:
        report.add("error", str(err).removeprefix(f"{path}: "))
        return None
    dialect = sniff(path) if path.suffix != ".parquet" else None
    if dialect and not dialect.plain:
        report.add("warning", f"read as {dialect.describe()} (a spreadsheet's CSV export); "
                              "the Kaggle files use commas and decimal points")
    renames = schema_names(frame.columns, spec)
    if renames:
        pairs = [f"{old!r} as {new}" for old, new in list(renames.items())[:SAMPLES]]
        more = ", ..." if len(renames) > SAMPLES else ""
        report.add("warning", f"{len(renames):,} column name(s) differ from the schema's only "
                              f"in case, read as the schema's: {', '.join(pairs)}{more}")
    frame = conform(frame, spec, dialect) if dialect else frame.rename(renames)
    report.rows = frame.height
    if frame.height == 0:
        report.add("error" if spec.required else "warning", "the file has no data rows")
    return frame


def check_text(text: pl.DataFrame, spec: Table, report: TableReport) -> pl.DataFrame:
    """Columns and parsing, on the all-text frame; returns the usable columns typed."""
    failures = failure_cases(text_schema(spec), text)
    report.problems += describe_failures(failures, spec, report.path)
    present = sum(name in text.columns for name in spec.names)
    if present < len(spec.columns) / 2:
        report.add("error", f"only {present} of the {len(spec.columns)} schema columns are in "
                            f"the header, which holds {text.width} name(s), e.g. "
                            f"{_examples(text.columns[:SAMPLES])}: is this {spec.name}'s "
                            "file, with its header line?")
    unusable = set(failures["column"].drop_nulls()) if not failures.is_empty() else set()
    usable = [c for c in spec.columns if c.name in text.columns and c.name not in unusable]
    return text.select(parse(pl.col(c.name), c.kind).alias(c.name) for c in usable)


def check_values(typed: pl.DataFrame, spec: Table, report: TableReport) -> None:
    """Filled keys, TARGET, levels and unique keys, on the typed frame."""
    failures = failure_cases(value_schema(spec, typed.columns), typed)
    report.problems += describe_failures(failures, spec, report.path)
    check_duplicate_keys(report, typed, spec)


def validate_table(data_dir: Path, spec: Table) -> tuple[TableReport, pl.DataFrame | None]:
    """Check one table; returns its report and its typed, checked columns (None if absent).

    The typed frame holds only the columns that are present and parse.
    """
    report = TableReport(spec.name)
    report.path = _locate(data_dir, spec, report)
    text = _read(report.path, spec, report) if report.path else None
    if text is None:
        return report, None
    typed = check_text(text, spec, report)
    del text  # free the text columns before the value checks (bounded memory)
    check_values(typed, spec, report)
    return report, typed


# --- across tables ------------------------------------------------------------------------
def check_orphans(report: TableReport, typed: pl.DataFrame, spec: Table,
                  known: dict[str, pl.Series | None]) -> None:
    """Warn about rows whose parent key is in none of the parent tables."""
    column, parent = spec.parent
    parents = PARENT_TABLES.get(parent, (parent,))
    keys = [known[p] for p in parents if p in known]
    names = " or ".join(p for p in parents if p in known)
    if not keys or any(k is None for k in keys) or column not in typed.columns:
        report.add("warning", f"orphan check skipped: no usable {' or '.join(parents)} "
                              f"{column} to compare with", column)
        return
    parent_keys = pl.concat(keys).unique().to_frame(column)
    rows = typed.select(column).with_row_index("index").drop_nulls(column)
    orphans = rows.join(parent_keys, on=column, how="anti")
    if orphans.is_empty():
        return
    ids = orphans[column].unique(maintain_order=True)
    report.add("warning", f"{orphans.height:,} row(s) ({ids.len():,} distinct ids) refer to "
                          f"no row of {names}, e.g. {_examples(ids.head(SAMPLES).to_list())}"
                          f"{_where(orphans['index'], report.path)}", column)


def _parent_keys_needed() -> dict[str, str]:
    """Parent table -> the key column its children refer to."""
    needed = {}
    for spec in TABLES.values():
        if spec.parent:
            column, parent = spec.parent
            needed.update({p: column for p in PARENT_TABLES.get(parent, (parent,))})
    return needed


def validate_folder(data_dir: Path | str) -> Report:
    """Check every table of a data folder, then the links between tables.

    Tables are read one at a time (parents first); only the parents' key columns are kept
    for the orphan checks, so memory stays bounded by the largest table.
    """
    data_dir = Path(data_dir)
    report = Report(data_dir)
    needed = _parent_keys_needed()
    known: dict[str, pl.Series | None] = {}  # parent table -> its keys (None: unusable)
    for spec in TABLES.values():
        table_report, typed = validate_table(data_dir, spec)
        report.tables.append(table_report)
        if typed is None:
            continue
        if spec.parent:
            check_orphans(table_report, typed, spec, known)
        if spec.name in needed:
            column = needed[spec.name]
            known[spec.name] = typed[column] if column in typed.columns else None
    return report
