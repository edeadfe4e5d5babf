"""The row copy of the feature store: the same rows as the Parquet store, rebuilt when it
changes."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from scoring.rows import BATCH, ClientRows, UnknownClient, copy_path


def _store(folder, n: int = 250, shift: float = 0.0):
    """A store file of ``n`` clients in row groups of 100 (groups end inside a batch)."""
    rng = np.random.default_rng(0)
    frame = pl.DataFrame({
        "SK_ID_CURR": np.arange(100_000, 100_000 + 3 * n, 3),
        "TARGET": pl.Series([None if i % 7 == 0 else i % 2 for i in range(n)], dtype=pl.Int64),
        "DATASET": ["train" if i % 7 else "test" for i in range(n)],
        "AMT_CREDIT": rng.uniform(1e4, 1e6, n) + shift,
        "BUREAU_COUNT": pl.Series([None if i % 5 == 0 else float(i) for i in range(n)],
                                  dtype=pl.Float32),
    })
    path = folder / "clients.parquet"
    frame.write_parquet(path, row_group_size=100)
    return path


def test_copy_gives_the_rows_of_the_store(tmp_path):
    path = _store(tmp_path)
    scanned = ClientRows(path)
    rows = ClientRows(path)
    rows.open()
    assert rows.ready and not scanned.ready and copy_path(path).is_file()
    assert 100 % BATCH  # a row group ends inside a batch: the position arithmetic is tested
    for position in (0, 1, 63, 64, 99, 100, 163, 164, 199, 200, 249):  # batch and group ends
        client_id = 100_000 + 3 * position
        got, want = rows(client_id), scanned(client_id)
        assert got.equals(want), client_id
    for unknown in (99_999, 100_001, 100_750, 200_000, -1, 10**23):
        for lookup in (rows, scanned, rows.record, scanned.record):
            with pytest.raises(UnknownClient):
                lookup(unknown)


def test_record_is_the_row_as_plain_values(tmp_path):
    """``record`` (the decision service's lookup): the frame's row, None where missing,
    from the copy and from the Parquet store alike."""
    path = _store(tmp_path)
    scanned, rows = ClientRows(path), ClientRows(path)
    rows.open()
    for position in (0, 5, 64, 249):
        client_id = 100_000 + 3 * position
        frame = rows(client_id).iloc[0]
        for record in (rows.record(client_id), scanned.record(client_id)):
            assert list(record) == list(frame.index)
            for name, value in record.items():
                if value is None:
                    assert frame[name] is None or frame[name] != frame[name]
                else:
                    assert value == frame[name] and type(value) in (int, float, str)


def test_copy_is_written_again_when_the_store_changes(tmp_path):
    path = _store(tmp_path)
    ClientRows(path).open()
    written = copy_path(path).stat().st_mtime_ns
    ClientRows(path).open()  # up to date: kept
    assert copy_path(path).stat().st_mtime_ns == written
    _store(tmp_path, shift=1.0)
    rows = ClientRows(path)
    rows.open()
    assert rows(100_003)["AMT_CREDIT"].item() == ClientRows(path)._scan(100_003)[
        "AMT_CREDIT"].item()


def test_store_is_read_without_a_copy_when_none_can_be_written(tmp_path, caplog):
    path = _store(tmp_path)
    copy_path(path).mkdir()  # the copy's name is taken (as by a read-only folder for root)
    rows = ClientRows(path)
    rows.open()
    assert not rows.ready and rows(100_003)["SK_ID_CURR"].item() == 100_003
    assert "no row copy" in caplog.text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clients.parquet",
                                                          "clients.rows.arrow"]
