"""The synthetic data generator: determinism, schema, structure and calibration."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from cli import app
from scoring.schema import DAYS_EMPLOYED_PLACEHOLDER, DAYS_PLACEHOLDER, TABLES, TARGET
from scoring.tables import read_table
from synthetic.calibrate import calibrate
from synthetic.calibration import CALIBRATION_PATH, Calibration
from synthetic.generator import FIRST_CLIENT_ID, generate

CLIENTS = 4000
TEST_SHARE = 0.2


@pytest.fixture(scope="session")
def calibration() -> Calibration:
    return Calibration.load()


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synthetic")
    generate(CLIENTS, seed=11, out_dir=out, fmt="csv", test_share=TEST_SHARE)
    return out


@pytest.fixture(scope="session")
def tables(synthetic_dir: Path) -> dict[str, pl.DataFrame]:
    return {name: read_table(synthetic_dir, name) for name in TABLES}


def small(tmp_path: Path, name: str, seed: int, fmt: str = "csv") -> tuple[Path, dict]:
    out = tmp_path / name
    return out, generate(300, seed=seed, out_dir=out, fmt=fmt)


# --- determinism -------------------------------------------------------------------------------

def test_same_seed_gives_identical_files_and_other_seed_differs(tmp_path: Path) -> None:
    a, counts_a = small(tmp_path, "a", seed=5)
    b, counts_b = small(tmp_path, "b", seed=5)
    c, _ = small(tmp_path, "c", seed=6)
    assert counts_a == counts_b
    for table in TABLES:
        name = f"{table}.csv"
        assert (a / name).read_bytes() == (b / name).read_bytes(), table
    for table in TABLES:
        name = f"{table}.csv"
        assert (a / name).read_bytes() != (c / name).read_bytes(), table


# --- schema ------------------------------------------------------------------------------------

def test_tables_follow_the_schema(tables: dict[str, pl.DataFrame]) -> None:
    for name, frame in tables.items():
        spec = TABLES[name]
        assert frame.columns == spec.names, name
        for col in spec.columns:
            values = frame[col.name]
            if col.kind == "category":
                present = set(values.drop_nulls().unique().to_list())
                assert present <= set(col.levels), (name, col.name, present - set(col.levels))
            if not col.nullable:
                assert values.null_count() == 0, (name, col.name)


def test_files_match_the_real_files(synthetic_dir: Path, real_data_dir: Path,
                                    tables: dict[str, pl.DataFrame]) -> None:
    for name, frame in tables.items():
        with gzip.open(real_data_dir / f"{name}.csv.gz", "rt") as fh:
            real_header = fh.readline().strip()
        synthetic_header = (synthetic_dir / f"{name}.csv").open().readline().strip()
        assert synthetic_header == real_header, name
        real = read_table(real_data_dir, name)
        assert frame.schema == real.schema, name


def test_parquet_output_reads_back_with_the_same_types(
        tmp_path: Path, tables: dict[str, pl.DataFrame]) -> None:
    out, counts = small(tmp_path, "parquet", seed=5, fmt="parquet")
    for name, frame in tables.items():
        back = read_table(out, name)
        assert back.schema == frame.schema, name
        assert back.height == counts[name]


# --- keys and structure --------------------------------------------------------------------

def unique(frame: pl.DataFrame, *cols: str) -> bool:
    return frame.select(cols).is_unique().all()


def within(child: pl.DataFrame, key: str, parent: pl.DataFrame, parent_key: str = "") -> bool:
    return child[key].is_in(parent[parent_key or key].implode()).all()


def test_keys_are_unique_and_parents_exist(tables: dict[str, pl.DataFrame]) -> None:
    apps = pl.concat([tables["application_train"].drop(TARGET), tables["application_test"]])
    assert apps.height == CLIENTS and unique(apps, "SK_ID_CURR")
    assert apps["SK_ID_CURR"].min() == FIRST_CLIENT_ID
    assert tables["application_test"].height == round(CLIENTS * TEST_SHARE)
    prev = tables["previous_application"]
    assert unique(tables["bureau"], "SK_ID_BUREAU") and unique(prev, "SK_ID_PREV")
    for name in ("bureau", "previous_application", "POS_CASH_balance",
                 "installments_payments", "credit_card_balance"):
        assert within(tables[name], "SK_ID_CURR", apps), name
    assert unique(tables["bureau_balance"], "SK_ID_BUREAU", "MONTHS_BALANCE")
    assert within(tables["bureau_balance"], "SK_ID_BUREAU", tables["bureau"])
    for name in ("POS_CASH_balance", "credit_card_balance", "installments_payments"):
        # SK_ID_PREV and SK_ID_CURR agree with the previous application they point to
        pairs = tables[name].select("SK_ID_PREV", "SK_ID_CURR").unique()
        assert pairs.join(prev, on=["SK_ID_PREV", "SK_ID_CURR"], how="anti").height == 0, name
    for name in ("POS_CASH_balance", "credit_card_balance"):
        assert unique(tables[name], "SK_ID_PREV", "MONTHS_BALANCE"), name


def linked_contracts(tables: dict[str, pl.DataFrame], name: str) -> set[tuple[str, str]]:
    ids = tables[name]["SK_ID_PREV"].unique().implode()
    linked = tables["previous_application"].filter(pl.col("SK_ID_PREV").is_in(ids))
    return set(linked.select("NAME_CONTRACT_TYPE", "NAME_CONTRACT_STATUS").unique().iter_rows())


def test_histories_belong_to_approved_loans_of_the_right_kind(
        tables: dict[str, pl.DataFrame]) -> None:
    assert linked_contracts(tables, "POS_CASH_balance") <= {
        ("Cash loans", "Approved"), ("Consumer loans", "Approved")}
    assert linked_contracts(tables, "credit_card_balance") == {("Revolving loans", "Approved")}
    assert linked_contracts(tables, "installments_payments") <= {
        ("Cash loans", "Approved"), ("Consumer loans", "Approved"), ("Revolving loans", "Approved")}


@pytest.mark.parametrize(("name", "key", "latest"), [
    ("POS_CASH_balance", "SK_ID_PREV", -1), ("credit_card_balance", "SK_ID_PREV", -1),
    ("bureau_balance", "SK_ID_BUREAU", 0)])
def test_monthly_rows_are_consecutive_and_not_after_the_application(
        tables: dict[str, pl.DataFrame], name: str, key: str, latest: int) -> None:
    runs = tables[name].group_by(key).agg(
        pl.len().alias("n"), pl.col("MONTHS_BALANCE").min().alias("lo"),
        pl.col("MONTHS_BALANCE").max().alias("hi"))
    assert runs.height > 100
    assert (runs["hi"] - runs["lo"] + 1 == runs["n"]).all()
    assert runs["hi"].max() <= latest
    assert runs["lo"].min() >= -96


def test_no_history_is_dated_after_the_application(tables: dict[str, pl.DataFrame]) -> None:
    bureau, prev = tables["bureau"], tables["previous_application"]
    inst = tables["installments_payments"]
    assert bureau["DAYS_CREDIT"].max() <= 0
    assert bureau["DAYS_ENDDATE_FACT"].max() <= 0
    assert bureau["DAYS_CREDIT_UPDATE"].max() <= 0
    assert (bureau["DAYS_CREDIT_ENDDATE"] > 0).any()  # planned end dates may be in the future
    assert (bureau["DAYS_ENDDATE_FACT"].drop_nulls() >= bureau.filter(
        pl.col("DAYS_ENDDATE_FACT").is_not_null())["DAYS_CREDIT"]).all()
    assert prev["DAYS_DECISION"].max() <= -1
    for col in ("DAYS_FIRST_DUE", "DAYS_LAST_DUE", "DAYS_TERMINATION", "DAYS_FIRST_DRAWING"):
        dates = prev[col].drop_nulls()
        assert ((dates <= -1) | (dates == DAYS_PLACEHOLDER)).all(), col
    assert inst["DAYS_INSTALMENT"].max() <= -1
    assert inst["DAYS_ENTRY_PAYMENT"].max() <= -1


def test_instalments_show_late_and_short_payments(tables: dict[str, pl.DataFrame]) -> None:
    inst = tables["installments_payments"].drop_nulls()
    late = (inst["DAYS_ENTRY_PAYMENT"] > inst["DAYS_INSTALMENT"]).mean()
    short = (inst["AMT_PAYMENT"] < inst["AMT_INSTALMENT"] - 1).mean()
    assert 0.03 < late < 0.3
    assert 0.02 < short < 0.3


# --- calibration ---------------------------------------------------------------------------------

def test_rows_per_client_follow_the_calibration(tables: dict[str, pl.DataFrame],
                                                calibration: Calibration) -> None:
    expected = calibration.history.rows_per_client_train_only
    tolerance = {"credit_card_balance": 0.35}  # card histories without a previous application
    for name in ("bureau", "previous_application", "POS_CASH_balance",
                 "installments_payments", "credit_card_balance"):
        ratio = tables[name].height / CLIENTS / expected[name]
        assert abs(ratio - 1) < tolerance.get(name, 0.15), (name, ratio)
    per_record = tables["bureau_balance"].height / tables["bureau"].height
    target = calibration.history.bureau_balance_per_bureau.mean
    assert abs(per_record / target - 1) < 0.15


def test_default_rate_and_placeholder_share(tables: dict[str, pl.DataFrame],
                                            calibration: Calibration) -> None:
    train = tables["application_train"]
    rate, expected = train[TARGET].mean(), calibration.application.default_rate
    assert abs(rate - expected) < 4 * np.sqrt(expected * (1 - expected) / train.height)
    apps = pl.concat([train.drop(TARGET), tables["application_test"]])
    share = (apps["DAYS_EMPLOYED"] == DAYS_EMPLOYED_PLACEHOLDER).mean()
    assert abs(share - calibration.application.employment.placeholder_share) < 0.03
    placeholder = apps.filter(pl.col("DAYS_EMPLOYED") == DAYS_EMPLOYED_PLACEHOLDER)
    assert set(placeholder["ORGANIZATION_TYPE"].unique()) == {"XNA"}


def test_copula_and_comissing_groups(tables: dict[str, pl.DataFrame],
                                     calibration: Calibration) -> None:
    apps = tables["application_train"]
    corr = apps.select(pl.corr("AMT_CREDIT", "AMT_ANNUITY", method="spearman")).item()
    assert corr > 0.6
    age_ext = apps.select(pl.corr("DAYS_BIRTH", "EXT_SOURCE_1", method="spearman")).item()
    assert age_ext < -0.3
    group = calibration.application.comissing["building"]
    all_missing = apps.select(pl.all_horizontal(pl.col(c).is_null() for c in group.columns))
    assert abs(all_missing.to_series().mean() - group.all_missing) < 0.05
    # a building statistic's average, mode and median are missing together
    assert (apps["APARTMENTS_AVG"].is_null() == apps["APARTMENTS_MEDI"].is_null()).mean() > 0.95


def auc(score: np.ndarray, target: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(target, score))


def test_target_depends_on_application_and_history(tables: dict[str, pl.DataFrame]) -> None:
    train = tables["application_train"]
    ext = train.select(pl.mean_horizontal("EXT_SOURCE_1", "EXT_SOURCE_2", "EXT_SOURCE_3"))
    assert auc(-ext.to_series().fill_null(0.5).to_numpy(), train[TARGET].to_numpy()) > 0.65
    inst = tables["installments_payments"].group_by("SK_ID_CURR").agg(
        (pl.col("DAYS_ENTRY_PAYMENT") - pl.col("DAYS_INSTALMENT")).mean().alias("delay"))
    joined = train.join(inst, on="SK_ID_CURR").drop_nulls("delay")
    assert auc(joined["delay"].to_numpy(), joined[TARGET].to_numpy()) > 0.55
    refused = tables["previous_application"].group_by("SK_ID_CURR").agg(
        (pl.col("NAME_CONTRACT_STATUS") == "Refused").mean().alias("refused"))
    joined = train.join(refused, on="SK_ID_CURR")
    assert auc(joined["refused"].to_numpy(), joined[TARGET].to_numpy()) > 0.53


def test_calibration_file_is_small_and_holds_summaries(calibration: Calibration) -> None:
    assert CALIBRATION_PATH.stat().st_size < 300 * 1024
    assert 0.06 < calibration.application.default_rate < 0.10

    def longest_list(node: object) -> int:
        if isinstance(node, dict):
            return max((longest_list(v) for v in node.values()), default=0)
        if isinstance(node, list):
            return max([len(node), *(longest_list(v) for v in node)])
        return 0

    # quantile grids and frequency lists only: nothing row-sized
    assert longest_list(json.loads(calibration.to_json())) < 120


def test_calibration_is_reproduced_from_the_real_samples(real_data_dir: Path,
                                                         calibration: Calibration) -> None:
    fresh = calibrate(real_data_dir)
    app_cal, hist = fresh.application, fresh.history
    assert app_cal.default_rate == pytest.approx(calibration.application.default_rate)
    assert hist.rows_per_client == pytest.approx(calibration.history.rows_per_client)
    # the README's facts about the samples, and full Kaggle's per-client figures
    assert 0.07 < app_cal.default_rate < 0.09
    assert 0.16 < app_cal.employment.placeholder_share < 0.20
    assert 0.4 < app_cal.columns["EXT_SOURCE_1"].missing < 0.6  # train and test
    assert 4.2 < hist.rows_per_client_train_only["bureau"] < 5.2
    assert 4.2 < hist.rows_per_client_train_only["previous_application"] < 5.2
    building = app_cal.comissing["building"]
    assert len(building.columns) == 47 and 0.4 < building.all_missing < 0.55


# --- command line ----------------------------------------------------------------------------

def test_cli_generate_writes_all_tables(tmp_path: Path) -> None:
    out = tmp_path / "cli"
    result = CliRunner().invoke(app, ["generate", "--applications", "200", "--seed", "3",
                                      "--out", str(out), "--format", "csv.gz"])
    assert result.exit_code == 0, result.output
    for name in TABLES:
        assert (out / f"{name}.csv.gz").is_file()
        assert name in result.output
    train = read_table(out, "application_train")
    assert f"{train.height:,} rows" in result.output
