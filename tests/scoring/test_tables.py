"""File access: the real samples load typed; every format reads the same; TableWriter round trip."""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from scoring.schema import TABLES
from scoring.tables import (
    POLARS_TYPES,
    DataError,
    Dialect,
    TableWriter,
    find_file,
    read_table,
    read_tables,
    read_text,
    scan_table,
    schema_names,
    sniff,
)

from . import spreadsheet_csv, tiny_frames, write_folder

#: Row counts of the real samples (their README).
REAL_ROWS = {
    "application_train": 24_587, "application_test": 48_744, "bureau": 49_227,
    "bureau_balance": 1_207_059, "previous_application": 49_100,
    "POS_CASH_balance": 287_697, "installments_payments": 20_000,
    "credit_card_balance": 113_392,
}


def schema_of(table: str) -> dict[str, pl.DataType]:
    return {c.name: POLARS_TYPES[c.kind] for c in TABLES[table].columns}


@pytest.fixture(scope="module")
def real_tables(real_data_dir: Path) -> dict[str, pl.DataFrame]:
    return read_tables(real_data_dir)


@pytest.mark.realdata
@pytest.mark.parametrize("table", TABLES)
def test_real_sample_loads_typed(real_tables: dict[str, pl.DataFrame], table: str) -> None:
    frame = real_tables[table]
    assert dict(frame.schema) == schema_of(table)
    assert frame.height == REAL_ROWS[table]
    keys = list(TABLES[table].key)
    if keys:
        assert frame.select(keys).is_unique().all()
        assert frame.select(keys).null_count().sum_horizontal().item() == 0


@pytest.mark.realdata
def test_real_sample_values_look_right(real_tables: dict[str, pl.DataFrame]) -> None:
    train = real_tables["application_train"]
    assert set(train["TARGET"].unique()) == {0, 1}
    assert 0.07 < train["TARGET"].mean() < 0.09  # README: default rate 0.080
    assert train["AMT_CREDIT"].min() > 0
    assert set(train["CODE_GENDER"].unique()) <= set(TABLES["application_train"]
                                                      .column("CODE_GENDER").levels)


def _write(frame: pl.DataFrame, folder: Path, table: str, fmt: str) -> Path:
    """Write ``frame`` as ``folder/<table>.<fmt>``; ``zip`` holds one CSV."""
    if fmt == "zip":
        folder.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(folder / f"{table}.zip", "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(f"{table}.csv", frame.write_csv())
    else:
        write_folder(folder, {table: frame}, fmt)
    path = find_file(folder, table)
    assert path is not None and path.name.endswith(fmt)
    return path


@pytest.mark.parametrize("table", ["application_train", "bureau", "credit_card_balance"])
def test_every_format_reads_the_same(tmp_path: Path, table: str) -> None:
    frame = tiny_frames(rows=30)[table]
    assert frame.null_count().sum_horizontal().item() > 0  # nulls survive every format
    for fmt in ("csv", "csv.gz", "zip", "parquet"):
        _write(frame, tmp_path / fmt, table, fmt)
        assert_frame_equal(read_table(tmp_path / fmt, table), frame)


@pytest.mark.realdata
def test_real_rows_read_the_same_in_every_format(real_data_dir: Path, tmp_path: Path) -> None:
    original = read_table(real_data_dir, "previous_application").head(300)
    for fmt in ("csv", "csv.gz", "zip", "parquet"):
        _write(original, tmp_path / fmt, "previous_application", fmt)
        assert_frame_equal(read_table(tmp_path / fmt, "previous_application"), original)


@pytest.mark.parametrize("fmt", ["csv", "csv.gz", "parquet"])
def test_table_writer_round_trip(tmp_path: Path, fmt: str) -> None:
    frame = tiny_frames(rows=25)["POS_CASH_balance"]
    shuffled = frame.select(reversed(frame.columns))  # the writer restores the schema order
    with TableWriter(tmp_path, "POS_CASH_balance", fmt) as writer:
        writer.write(shuffled.head(10))
        writer.write(shuffled.tail(15))
    assert writer.rows == 25
    assert writer.path == tmp_path / f"POS_CASH_balance.{fmt}"
    assert_frame_equal(read_table(tmp_path, "POS_CASH_balance"), frame)


@pytest.mark.parametrize("fmt", ["csv", "csv.gz", "parquet"])
def test_table_writer_without_chunks_leaves_an_empty_table(tmp_path: Path, fmt: str) -> None:
    with TableWriter(tmp_path, "bureau_balance", fmt):
        pass
    frame = read_table(tmp_path, "bureau_balance")
    assert frame.height == 0
    assert dict(frame.schema) == schema_of("bureau_balance")


def test_whole_floats_read_as_ints(tmp_path: Path) -> None:
    frame = tiny_frames()["bureau"]
    text = frame.with_columns(pl.format("{}.0", pl.col("DAYS_CREDIT")).alias("DAYS_CREDIT"))
    write_folder(tmp_path, {"bureau": text})
    assert_frame_equal(read_table(tmp_path, "bureau"), frame)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_non_whole_int_names_file_and_column(tmp_path: Path, fmt: str) -> None:
    frame = tiny_frames()["bureau"].with_columns(pl.col("DAYS_CREDIT") + 0.5)
    write_folder(tmp_path, {"bureau": frame}, fmt)
    with pytest.raises(DataError, match=rf"bureau\.{fmt}: column DAYS_CREDIT expects int "
                                        r"values; 6 row\(s\) do not parse, e.g. \['?0\.5"):
        read_table(tmp_path, "bureau")


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_scan_table_reads_like_read_table(tmp_path: Path, fmt: str) -> None:
    frame = tiny_frames(rows=20)["bureau"]
    write_folder(tmp_path, {"bureau": frame.with_columns(pl.lit(1).alias("EXTRA"))}, fmt)
    assert_frame_equal(scan_table(tmp_path, "bureau").collect(), frame)
    # A Parquet column of another type goes through read_table's checks; a CSV file is
    # scanned lazily and fails when the query parses the value (build_store then names it).
    write_folder(tmp_path, {"bureau": frame.with_columns(pl.col("DAYS_CREDIT") + 0.5)}, fmt)
    if fmt == "parquet":
        with pytest.raises(DataError, match="column DAYS_CREDIT expects int"):
            scan_table(tmp_path, "bureau")
    else:
        with pytest.raises(pl.exceptions.PolarsError):
            scan_table(tmp_path, "bureau").collect()


def test_missing_table(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no file for table application_train"):
        read_table(tmp_path, "application_train")
    write_folder(tmp_path, {"application_train": tiny_frames()["application_train"]})
    assert list(read_tables(tmp_path)) == ["application_train"]  # optional tables skipped


@pytest.mark.parametrize(("name", "data", "message"), [
    ("bureau.csv", b"", "the file is empty"),
    ("bureau.csv", "SK_ID_CURR\nCafé\n".encode("latin-1"), "not UTF-8 text"),
    ("bureau.csv.gz", b"not gzip", "not a readable gzip file"),
    ("bureau.zip", b"not a zip", "not a readable zip file"),
    ("bureau.parquet", b"not parquet", "not a readable parquet file"),
])
def test_unreadable_files_raise_data_error(tmp_path: Path, name: str, data: bytes,
                                           message: str) -> None:
    (tmp_path / name).write_bytes(data)
    with pytest.raises(DataError, match=message):
        read_text(tmp_path / name)


# --- spreadsheet exports and header case ----------------------------------------------------
@pytest.mark.parametrize(("text", "dialect"), [
    (b"A,B\n1.5,x\n", Dialect()),
    (b"\xef\xbb\xbfA;B\r\n1,5;x\r\n2;y\r\n", Dialect(";", decimal_comma=True)),
    (b"A;B\n1.5;x\n", Dialect(";")),
    (b"A;B\n1;Spouse, partner\n", Dialect(";")),  # a comma inside a text is no decimal comma
    (b"A\tB\n-0,25\tx\n", Dialect("\t", decimal_comma=True)),
    (b"A\n1\n", Dialect()),
])
def test_sniff_finds_separator_and_decimal_mark(tmp_path: Path, text: bytes,
                                                dialect: Dialect) -> None:
    (tmp_path / "t.csv").write_bytes(text)
    assert sniff(tmp_path / "t.csv") == dialect
    (tmp_path / "t.csv.gz").write_bytes(gzip.compress(text))
    assert sniff(tmp_path / "t.csv.gz") == dialect


@pytest.mark.parametrize("table", ["application_train", "bureau", "credit_card_balance"])
def test_a_spreadsheet_export_reads_the_same(tmp_path: Path, table: str) -> None:
    frame = tiny_frames(rows=30)[table]
    data = spreadsheet_csv(frame)
    (tmp_path / f"{table}.csv").write_bytes(data)
    assert_frame_equal(read_table(tmp_path, table), frame)
    assert_frame_equal(scan_table(tmp_path, table).collect(), frame)
    (tmp_path / f"{table}.csv").unlink()
    (tmp_path / f"{table}.csv.gz").write_bytes(gzip.compress(data))
    assert_frame_equal(read_table(tmp_path, table), frame)


def test_a_spreadsheet_export_with_a_bad_value_names_it(tmp_path: Path) -> None:
    frame = tiny_frames()["bureau"].with_columns(pl.col("DAYS_CREDIT") + 0.5)
    (tmp_path / "bureau.csv").write_bytes(spreadsheet_csv(frame))
    with pytest.raises(DataError, match=r"column DAYS_CREDIT expects int values; 6 row\(s\)"):
        read_table(tmp_path, "bureau")


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_names_in_another_case_read_the_same(tmp_path: Path, fmt: str) -> None:
    frame = tiny_frames()["bureau"]
    renamed = frame.rename({c: c.lower() for c in frame.columns} | {"SK_ID_CURR": "Sk_Id_Curr "})
    write_folder(tmp_path, {"bureau": renamed}, fmt)
    assert_frame_equal(read_table(tmp_path, "bureau"), frame)
    assert_frame_equal(scan_table(tmp_path, "bureau").collect(), frame)


def test_schema_names_leave_present_and_unknown_names() -> None:
    spec = TABLES["bureau_balance"]
    assert schema_names(["sk_id_bureau", "MONTHS_BALANCE", "status", "Status", "note"], spec
                        ) == {"sk_id_bureau": "SK_ID_BUREAU", "status": "STATUS"}
    assert schema_names(["SK_ID_BUREAU", "sk_id_bureau"], spec) == {}
