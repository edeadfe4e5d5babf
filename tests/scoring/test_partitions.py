"""The feature build by client partition gives the single build's store, row for row (floats
to their last bits)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from cli import app
from scoring import features as F
from scoring import partitions as P
from scoring.schema import TABLES
from scoring.store import build_store, store_path
from scoring.tables import DataError, convert_table, find_file


def _store(folder: Path) -> pl.DataFrame:
    return pl.read_parquet(store_path(folder))


#: Two builds of the same rows may differ in a float's last bits: polars' streaming engine adds
#: a client's rows in the order its threads meet them (two single builds of the real samples
#: differed in one value by 1.2e-7, one 32-bit float step; a variance may come out 0 or about
#: 1e-9). Everything else must be equal.
FLOAT_STEPS = 4e-7


def _assert_same_store(got: pl.DataFrame, expected: pl.DataFrame) -> None:
    assert got.columns == expected.columns
    floats = [c for c, t in expected.schema.items() if t.is_float()]
    assert_frame_equal(got.drop(floats), expected.drop(floats), check_exact=True)
    assert_frame_equal(got.select(floats), expected.select(floats), rel_tol=FLOAT_STEPS,
                       abs_tol=1e-6)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pl.DataFrame]:
    """3,000 generated clients as Parquet, and their store built in one piece."""
    from synthetic.generator import generate

    root = tmp_path_factory.mktemp("partitions")
    generate(3_000, seed=3, out_dir=root / "raw", fmt="parquet")
    build_store(root / "raw", root / "single")
    return root / "raw", _store(root / "single")


def test_bounds_cover_every_id_in_balanced_ranges():
    ids = list(range(100, 1100, 2))  # 500 ids
    bounds = P.client_bounds(ids, 4)
    assert len(bounds) == 4
    assert bounds[0][0] == -(2**63) and bounds[-1][1] == 2**63 - 1
    assert all(b[1] + 1 == n[0] for b, n in zip(bounds, bounds[1:], strict=False))
    sizes = [sum(first <= i <= last for i in ids) for first, last in bounds]
    assert sizes == [125, 125, 125, 125]
    assert len(P.client_bounds([1, 2], 5)) == 2  # never an empty range of clients
    with pytest.raises(ValueError, match="at least 1"):
        P.client_bounds(ids, 0)


def test_restrict_keeps_the_clients_of_a_range_and_their_credits(tiny_tables):
    whole = F.build_features(tiny_tables)
    for first, last in ((1, 1), (2, 3)):
        cut = P.restrict(tiny_tables, first, last)
        assert cut["bureau_balance"].collect()["SK_ID_BUREAU"].is_in(
            cut["bureau"].collect()["SK_ID_BUREAU"].implode()).all()
        _assert_same_store(F.build_features(cut),
                           whole.filter(pl.col(F.KEY).is_between(first, last)))


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_partitioned_build_of_generated_data_is_the_single_build(generated, tmp_path, fmt):
    """Parquet tables are scanned range by range, CSV ones split first: the same store."""
    raw, single = generated
    if fmt == "csv":
        for path in raw.glob("*.parquet"):
            pl.read_parquet(path).write_csv(tmp_path / f"{path.stem}.csv")
        raw, tmp_path = tmp_path, tmp_path / "store"
    summary = P.build_partitioned(raw, tmp_path, parts=4)
    _assert_same_store(_store(tmp_path), single)
    assert (summary.train + summary.test, summary.missing_tables) == (single.height, [])
    assert not list(tmp_path.glob(".split-*"))  # the split files are removed


def test_dask_build_of_generated_data_is_the_single_build(generated):
    from dask.distributed import Client, LocalCluster

    raw, single = generated
    with (LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                       dashboard_address=None) as cluster,
          Client(cluster)):
        rows = P.dask_store_rows(raw, P.client_bounds(single[F.KEY], 3))
        assert rows.npartitions == 3
        got = pl.from_pandas(rows.compute())
    _assert_same_store(got.cast(single.schema), single)


def test_partitioned_build_of_the_real_samples_is_the_single_build(real_data_dir, tmp_path):
    for table in (t for t in TABLES if find_file(real_data_dir, t)):  # parse the gz once
        convert_table(real_data_dir, table, tmp_path / "raw")
    build_store(tmp_path / "raw", tmp_path / "single")
    P.build_partitioned(tmp_path / "raw", tmp_path / "parts", parts=3)
    _assert_same_store(_store(tmp_path / "parts"), _store(tmp_path / "single"))


def test_a_partition_without_rows_of_a_table_keeps_its_features(tiny_tables, tiny_data_dir,
                                                                tmp_path):
    # client 3 has no history: its partition has no side-table rows, yet counts are 0
    P.build_partitioned(tiny_data_dir, tmp_path, parts=3)
    _assert_same_store(_store(tmp_path), F.build_features(tiny_tables))


def test_cli_convert_then_features_by_partition(tiny_tables, tiny_data_dir, tmp_path):
    runner = CliRunner()
    parquet = tmp_path / "parquet"
    result = runner.invoke(app, ["convert", "-d", str(tiny_data_dir), "--out", str(parquet)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in parquet.iterdir()) == sorted(f"{t}.parquet" for t in TABLES)
    assert pl.read_parquet(parquet / "bureau.parquet").equals(tiny_tables["bureau"])
    result = runner.invoke(app, ["features", "-d", str(parquet), "--out", str(tmp_path / "f"),
                                 "--partitions", "2"])
    assert result.exit_code == 0, result.output
    assert "2 client partition(s)" in result.output
    _assert_same_store(_store(tmp_path / "f"), F.build_features(tiny_tables))


def test_partitioned_build_without_applications_names_the_file(tmp_path):
    with pytest.raises(DataError, match="application_train"):
        P.build_partitioned(tmp_path, tmp_path / "f", parts=2)
