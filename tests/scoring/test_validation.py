"""``scoring validate``: a valid folder passes; each kind of bad input gets its documented message.

Each case starts from the tiny valid folder built from the schema, breaks one thing, and checks
both :func:`scoring.validation.validate_folder` and the CLI (message and exit status).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

import scoring.tables
import scoring.validation
from cli import app
from scoring.validation import Report, validate_folder

from . import spreadsheet_csv, tiny_frames, write_folder, write_spreadsheets

Breakage = Callable[[Path], None]


# --- ways to break a valid folder ----------------------------------------------------------
def _edit(table: str, change: Callable[[pl.DataFrame], pl.DataFrame]) -> Breakage:
    """Rewrite ``table``'s CSV file (read as text) through ``change``."""

    def breaks(folder: Path) -> None:
        path = folder / f"{table}.csv"
        change(pl.read_csv(path, infer_schema=False)).write_csv(path)

    return breaks


def set_cell(table: str, column: str, row: int, value: str | None) -> Breakage:
    """Put ``value`` (text, or None for an empty cell) in one cell."""
    at_row = pl.int_range(pl.len()) == row
    return _edit(table, lambda f: f.with_columns(
        pl.when(at_row).then(pl.lit(value, pl.String)).otherwise(pl.col(column)).alias(column)))


def copy_row(table: str, columns: list[str], source: int, target: int) -> Breakage:
    """Copy the ``columns`` of row ``source`` into row ``target`` (to duplicate a key)."""
    at_row = pl.int_range(pl.len()) == target
    return _edit(table, lambda f: f.with_columns(
        pl.when(at_row).then(pl.col(c).get(source)).otherwise(pl.col(c)).alias(c)
        for c in columns))


def drop_column(table: str, column: str) -> Breakage:
    return _edit(table, lambda f: f.drop(column))


def add_column(table: str, column: str) -> Breakage:
    return _edit(table, lambda f: f.with_columns(pl.lit("1").alias(column)))


def keep_rows(table: str, rows: int) -> Breakage:
    return _edit(table, lambda f: f.head(rows))


def remove(table: str) -> Breakage:
    return lambda folder: (folder / f"{table}.csv").unlink()


def write_bytes(table: str, data: bytes) -> Breakage:
    return lambda folder: (folder / f"{table}.csv").write_bytes(data)


def latin1_cell(table: str, column: str) -> Breakage:
    """Re-encode the file as Latin-1 with an accented value in ``column``."""

    def breaks(folder: Path) -> None:
        set_cell(table, column, 1, "Café")(folder)
        path = folder / f"{table}.csv"
        path.write_bytes(path.read_text(encoding="utf-8").encode("latin-1"))

    return breaks


def as_spreadsheet(table: str) -> Breakage:
    """Rewrite the table as a French spreadsheet exports it (``;``, decimal commas, BOM)."""
    return write_bytes(table, spreadsheet_csv(tiny_frames()[table]))


def lower_case_names(table: str) -> Breakage:
    return _edit(table, lambda f: f.rename(str.lower))


def also_parquet(table: str) -> Breakage:
    def breaks(folder: Path) -> None:
        pl.read_csv(folder / f"{table}.csv").write_parquet(folder / f"{table}.parquet")

    return breaks


# --- the cases -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """One breakage and the problem it must produce (``exit_code`` 1 = fatal)."""

    breaks: Breakage
    table: str
    severity: str
    column: str | None
    message: str
    exit_code: int


CASES = {
    "missing required file": Case(
        remove("application_train"), "application_train", "error", None,
        "required table application_train not found", 1),
    "missing optional file": Case(
        remove("bureau"), "bureau", "warning", None,
        "optional table bureau not found", 0),
    "missing column": Case(
        drop_column("application_train", "AMT_CREDIT"), "application_train", "error", None,
        "missing column(s): AMT_CREDIT", 1),
    "wrong type": Case(
        set_cell("application_train", "AMT_CREDIT", 2, "abc"), "application_train", "error",
        "AMT_CREDIT", "1 value(s) are not float numbers, e.g. 'abc' (line 4)", 1),
    "int that is not whole": Case(
        set_cell("bureau", "DAYS_CREDIT", 0, "-12.5"), "bureau", "error",
        "DAYS_CREDIT", "1 value(s) are not int numbers, e.g. '-12.5' (line 2)", 1),
    "duplicate key": Case(
        copy_row("application_test", ["SK_ID_CURR"], 0, 3), "application_test", "error",
        "SK_ID_CURR", "2 row(s) share a key value with another row, e.g. 200000 "
        "(lines 2, 5)", 1),
    "duplicate compound key": Case(
        copy_row("bureau_balance", ["SK_ID_BUREAU", "MONTHS_BALANCE"], 0, 1), "bureau_balance",
        "error", None, "2 row(s) share their key (SK_ID_BUREAU, MONTHS_BALANCE) with another "
        "row, e.g. (300000, 400000) (lines 2, 3)", 1),
    "null key": Case(
        set_cell("bureau", "SK_ID_BUREAU", 3, None), "bureau", "error", "SK_ID_BUREAU",
        "1 empty value(s) in a key column (line 5)", 1),
    "null parent key": Case(
        set_cell("installments_payments", "SK_ID_CURR", 0, None), "installments_payments",
        "error", "SK_ID_CURR", "1 empty value(s) in a key column (line 2)", 1),
    "bad TARGET": Case(
        set_cell("application_train", "TARGET", 0, "2"), "application_train", "error",
        "TARGET", "1 value(s) are not 0 or 1, e.g. '2' (line 2)", 1),
    "empty TARGET": Case(
        set_cell("application_train", "TARGET", 1, None), "application_train", "error",
        "TARGET", "1 empty value(s) in the target column (line 3)", 1),
    "orphan application id": Case(
        set_cell("bureau", "SK_ID_CURR", 0, "999999"), "bureau", "warning", "SK_ID_CURR",
        "1 row(s) (1 distinct ids) refer to no row of application_train or application_test, "
        "e.g. 999999 (line 2)", 0),
    "orphan bureau id": Case(
        set_cell("bureau_balance", "SK_ID_BUREAU", 4, "7"), "bureau_balance", "warning",
        "SK_ID_BUREAU", "1 row(s) (1 distinct ids) refer to no row of bureau, e.g. 7 "
        "(line 6)", 0),
    "orphan check without parent": Case(
        remove("bureau"), "bureau_balance", "warning", "SK_ID_BUREAU",
        "orphan check skipped: no usable bureau SK_ID_BUREAU", 0),
    "empty file": Case(
        write_bytes("application_train", b""), "application_train", "error", None,
        "the file is empty", 1),
    "header only, required": Case(
        keep_rows("application_train", 0), "application_train", "error", None,
        "the file has no data rows", 1),
    "header only, optional": Case(
        keep_rows("credit_card_balance", 0), "credit_card_balance", "warning", None,
        "the file has no data rows", 0),
    "wrong encoding": Case(
        latin1_cell("application_train", "ORGANIZATION_TYPE"), "application_train", "error",
        None, "not UTF-8 text (byte 0xe9 on line 3)", 1),
    "unknown category level": Case(
        set_cell("application_train", "CODE_GENDER", 0, "Q"), "application_train", "warning",
        "CODE_GENDER", "1 value(s) are not a Kaggle level of this column, e.g. 'Q' (line 2)",
        0),
    "unexpected column": Case(
        add_column("previous_application", "MY_NOTE"), "previous_application", "warning",
        None, "unexpected column(s), ignored: MY_NOTE", 0),
    "empty value the Kaggle files always fill": Case(
        set_cell("POS_CASH_balance", "SK_DPD", 2, None), "POS_CASH_balance", "warning",
        "SK_DPD", "1 empty value(s) in a column that the Kaggle files always fill (line 4)", 0),
    "spreadsheet export": Case(
        as_spreadsheet("application_train"), "application_train", "warning", None,
        "read as ';'-separated with decimal commas (a spreadsheet's CSV export)", 0),
    "names in another case": Case(
        lower_case_names("bureau"), "bureau", "warning", None,
        "17 column name(s) differ from the schema's only in case, read as the schema's: "
        "'sk_id_curr' as SK_ID_CURR, 'sk_id_bureau' as SK_ID_BUREAU,", 0),
    "header of something else": Case(
        write_bytes("application_train", b"first name last name\nAnn Lee\n"),
        "application_train", "error", None,
        "only 0 of the 122 schema columns are in the header, which holds 1 name(s), e.g. "
        "'first name last name': is this application_train's file, with its header line?", 1),
    "two files for one table": Case(
        also_parquet("bureau"), "bureau", "warning", None,
        "also found bureau.csv; using bureau.parquet", 0),
}


# --- helpers -------------------------------------------------------------------------------
@pytest.fixture
def valid_dir(tmp_path: Path) -> Path:
    """A tiny valid data folder (CSV) built from the schema alone."""
    return write_folder(tmp_path / "raw", tiny_frames())


def run_cli(data_dir: Path) -> tuple[int, str]:
    """``scoring validate --data-dir data_dir``: exit code and output."""
    result = CliRunner().invoke(app, ["validate", "--data-dir", str(data_dir)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


def run_cli_keeping_report(data_dir: Path, monkeypatch: pytest.MonkeyPatch,
                           ) -> tuple[int, str, Report]:
    """Run the CLI and also return the report its validate_folder call built (one run)."""
    reports: list[Report] = []

    def spy(folder: Path | str) -> Report:
        reports.append(validate_folder(folder))
        return reports[-1]

    monkeypatch.setattr(scoring.validation, "validate_folder", spy)
    code, output = run_cli(data_dir)
    (report,) = reports
    return code, output, report


def messages(report: Report, table: str) -> list[tuple[str, str | None, str]]:
    return [(p.severity, p.column, p.message) for p in report.table(table).problems]


# --- tests ---------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["csv", "csv.gz", "parquet"])
def test_valid_folder_passes(tmp_path: Path, fmt: str) -> None:
    folder = write_folder(tmp_path / fmt, tiny_frames(), fmt)
    report = validate_folder(folder)
    assert [p for t in report.tables for p in t.problems] == []
    assert [t.rows for t in report.tables] == [6] * 8
    code, output = run_cli(folder)
    assert code == 0, output
    assert f"application_train.{fmt}" in output
    assert output.strip().endswith("OK: 0 error(s), 0 warning(s); 48 rows in 8 table(s)")


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_bad_input_is_reported(valid_dir: Path, case: Case,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    case.breaks(valid_dir)
    code, output, report = run_cli_keeping_report(valid_dir, monkeypatch)
    found = messages(report, case.table)
    assert any(severity == case.severity and column == case.column and case.message in message
               for severity, column, message in found), found
    assert report.fatal == (case.exit_code == 1)

    assert code == case.exit_code, output
    head = "ERROR" if case.severity == "error" else "warning"
    where = f" column {case.column}" if case.column else ""
    assert f"    {head}{where}: " in output
    assert case.message in output
    table_line = next(line for line in output.splitlines() if line.startswith(case.table))
    assert ("error" if case.exit_code else "warning") in table_line
    assert output.splitlines()[-1].startswith("FAILED" if case.exit_code else "OK")


def test_a_folder_of_spreadsheet_exports_validates(tmp_path: Path) -> None:
    """Values read from ``;``-separated, decimal-comma files pass every check; each table
    only gets the warning that says how it was read."""
    frames = tiny_frames()
    frames["application_train"] = frames["application_train"].rename(str.lower)
    report = validate_folder(write_spreadsheets(tmp_path, frames))
    assert report.errors == 0, report.render()
    assert [t.rows for t in report.tables] == [6] * 8
    for table in report.tables:
        found = [p.message for p in table.problems]
        # bureau_balance holds no decimal number: it is only ';'-separated
        expected = ["read as ';'-separated" + ("" if table.table == "bureau_balance" else
                                               " with decimal commas (a spreadsheet's")]
        if table.table == "application_train":
            expected.append("122 column name(s) differ from the schema's only in case, read "
                            "as the schema's: 'sk_id_curr' as SK_ID_CURR, 'target' as TARGET,")
        assert [m[:len(e)] for m, e in zip(found, expected, strict=True)] == expected


@pytest.mark.skipif(importlib.util.find_spec("pyspark") is None, reason="pyspark not installed")
def test_validation_leaves_spark_alone(valid_dir: Path) -> None:
    """pandera imports pyspark.pandas when it can, which printed a FutureWarning on every run."""
    code = ("import sys\nfrom cli import app\n"
            "try:\n    app(['validate', '--data-dir', sys.argv[1]])\n"
            "except SystemExit as done:\n    assert not done.code, done.code\n"
            "print(sorted(m for m in sys.modules if m.startswith('pyspark.pandas')))")
    run = subprocess.run([sys.executable, "-W", "default", "-c", code, str(valid_dir)],
                         capture_output=True, text=True, check=True)
    assert run.stdout.splitlines()[-1] == "[]"
    assert "Warning" not in run.stderr, run.stderr


def test_only_the_broken_table_is_flagged(valid_dir: Path) -> None:
    CASES["wrong type"].breaks(valid_dir)
    report = validate_folder(valid_dir)
    flagged = [t.table for t in report.tables if t.problems]
    assert flagged == ["application_train"]
    assert report.errors == 1 and report.warnings == 0


def test_unparseable_key_skips_orphan_checks(valid_dir: Path) -> None:
    set_cell("application_train", "SK_ID_CURR", 0, "x1")(valid_dir)
    report = validate_folder(valid_dir)
    assert ("error", "SK_ID_CURR", "1 value(s) are not int numbers, e.g. 'x1' (line 2)"
            ) in messages(report, "application_train")
    skipped = messages(report, "bureau")
    assert [s for s, _, m in skipped if "orphan check skipped" in m] == ["warning"]


def test_whole_floats_are_valid_ints(valid_dir: Path) -> None:
    set_cell("application_train", "CNT_CHILDREN", 0, "3.0")(valid_dir)
    assert messages(validate_folder(valid_dir), "application_train") == []


def test_parquet_float_in_int_column_is_reported(tmp_path: Path) -> None:
    frames = tiny_frames()
    frames["bureau"] = frames["bureau"].with_columns(pl.col("DAYS_CREDIT") - 0.5)
    report = validate_folder(write_folder(tmp_path, frames, "parquet"))
    ((severity, column, message),) = messages(report, "bureau")
    assert (severity, column) == ("error", "DAYS_CREDIT")
    assert message.startswith("6 value(s) are not int numbers, e.g. '-0.5', '0.5'")
    assert "(rows 1, 2, 3, 4, 5, ...)" in message


def test_missing_folder_is_fatal(tmp_path: Path) -> None:
    code, output = run_cli(tmp_path / "nowhere")
    assert code == 1
    assert "(no such folder)" in output


def test_samples_are_capped(valid_dir: Path) -> None:
    frames = tiny_frames(rows=20)
    frames["application_test"] = frames["application_test"].with_columns(
        pl.format("bad{}", pl.int_range(pl.len())).alias("AMT_CREDIT"))
    report = validate_folder(write_folder(valid_dir, frames))
    ((_, _, message),) = messages(report, "application_test")
    assert message == ("20 value(s) are not float numbers, e.g. 'bad0', 'bad1', 'bad2', "
                       "'bad3', 'bad4', ... (lines 2, 3, 4, 5, 6, ...)")


@pytest.mark.realdata
def test_real_samples_validate(real_data_dir: Path) -> None:
    """The real Kaggle samples pass; the random installments sample has orphan rows."""
    report = validate_folder(real_data_dir)
    assert report.errors == 0, report.render()
    assert [t.rows for t in report.tables] == [24_587, 48_744, 49_227, 1_207_059, 49_100,
                                               287_697, 20_000, 113_392]
    warnings = [(t.table, p.column, p.message) for t in report.tables for p in t.problems]
    assert [(t, c) for t, c, _ in warnings] == [("installments_payments", "SK_ID_CURR")]
    assert "refer to no row of application_train or application_test" in warnings[0][2]
    code, output = run_cli(real_data_dir)
    assert code == 0
    assert output.splitlines()[-1].startswith("OK: 0 error(s), 1 warning(s)")


def test_report_layout(valid_dir: Path) -> None:
    """One line per table (file, rows, status), its problems indented, errors first."""
    add_column("application_train", "MY_NOTE")(valid_dir)  # found first: a warning
    drop_column("application_train", "AMT_ANNUITY")(valid_dir)  # then an error
    remove("credit_card_balance")(valid_dir)
    code, output = run_cli(valid_dir)
    lines = output.splitlines()
    assert code == 1
    assert lines[0] == f"Validating {valid_dir}"
    assert lines[1].split() == ["application_train.csv", "6", "rows", "1", "error,", "1",
                                "warning"]
    assert lines[2] == "    ERROR: missing column(s): AMT_ANNUITY"
    assert lines[3] == "    warning: unexpected column(s), ignored: MY_NOTE"
    assert lines[4].split() == ["application_test.csv", "6", "rows", "ok"]
    assert lines[-3].split() == ["credit_card_balance.*", "absent", "1", "warning"]
    assert lines[-1] == "FAILED: 1 error(s), 2 warning(s); 42 rows in 7 table(s)"


# --- batches: large tables are checked in bounded memory, with the same report ---------------
def _broken_folder(folder: Path, fmt: str) -> Path:
    """Problems spread over the rows (bad values, empty and duplicate keys, orphans), in
    ``fmt``: csv or parquet (the text as read)."""
    write_folder(folder, tiny_frames(rows=12))
    for breaks in (set_cell("application_train", "AMT_CREDIT", 3, "abc"),
                   set_cell("application_train", "AMT_CREDIT", 10, "x1"),
                   set_cell("application_train", "CODE_GENDER", 7, "Q"),
                   set_cell("application_train", "TARGET", 5, "3"),
                   copy_row("bureau", ["SK_ID_BUREAU"], 2, 9),
                   copy_row("bureau_balance", ["SK_ID_BUREAU", "MONTHS_BALANCE"], 1, 11),
                   set_cell("previous_application", "SK_ID_PREV", 6, None),
                   set_cell("POS_CASH_balance", "SK_ID_CURR", 4, "999999999"),
                   set_cell("POS_CASH_balance", "SK_ID_CURR", 10, "888888888"),
                   set_cell("installments_payments", "SK_ID_CURR", 8, "abc")):
        breaks(folder)
    if fmt == "parquet":
        for path in folder.glob("*.csv"):
            pl.read_csv(path, infer_schema=False).write_parquet(path.with_suffix(".parquet"),
                                                             row_group_size=3)
            path.unlink()
    return folder


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_batches_give_the_same_report(tmp_path: Path, fmt: str,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables read in batches of a few rows, their keys checked bucket by bucket on disk:
    the same problems, counts, examples and row numbers as in one piece."""
    folder = _broken_folder(tmp_path / "data", fmt)
    whole = validate_folder(folder)
    assert whole.errors >= 5 and whole.warnings >= 2, whole.render()
    monkeypatch.setattr(scoring.tables, "STREAM_CSV_BYTES", 0)  # stream the CSV files too
    monkeypatch.setattr(scoring.validation, "KEY_ROWS", 4)
    batched = validate_folder(folder, cells=250)  # 2 rows per batch of an application
    assert batched.render() == whole.render()
