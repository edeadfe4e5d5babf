"""Tests of scoring/features/ on the tiny handmade tables of conftest.py."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from scoring import features as F
from scoring.schema import TABLES


@pytest.fixture
def store_rows(tiny_tables) -> pd.DataFrame:
    """Store rows of the tiny tables, indexed by client id."""
    return F.build_features(tiny_tables).to_pandas().set_index(F.KEY)


def _row(frame: pd.DataFrame, cid: int) -> pd.Series:
    return frame.loc[cid]


# --- application features -------------------------------------------------------------------

def test_application_features_by_hand(tiny_tables):
    app = pl.concat([tiny_tables["application_train"].drop("TARGET"),
                     tiny_tables["application_test"]]).to_pandas().set_index(F.KEY)
    got = F.application_features(app)
    one, two, three = got.loc[1], got.loc[2], got.loc[3]
    assert one["CREDIT_INCOME_RATIO"] == 2.0
    assert one["ANNUITY_INCOME_RATIO"] == 0.2
    assert one["ANNUITY_CREDIT_RATIO"] == 0.1
    assert one["GOODS_CREDIT_RATIO"] == 0.9
    assert one["INCOME_PER_PERSON"] == 25_000
    assert one["CHILDREN_RATIO"] == 0.5
    assert one["EMPLOYED_AGE_RATIO"] == 0.1
    assert one["DAYS_EMPLOYED_CLEAN"] == -1_000 and one["NOT_EMPLOYED_FLAG"] == 0
    assert one["EXT_SOURCE_MEAN"] == pytest.approx(0.55)
    assert (one["EXT_SOURCE_MIN"], one["EXT_SOURCE_MAX"]) == (0.5, 0.6)
    assert math.isnan(one["EXT_SOURCE_PROD"]) and one["EXT_SOURCE_MISSING"] == 1
    # Scores 0.5 and 0.6 (score 3 missing): weights 2 and 1.
    assert one["EXT_SOURCE_WEIGHTED"] == pytest.approx((2 * 0.5 + 0.6) / 3)
    assert one["EXT_SOURCE_STD"] == pytest.approx(0.05)
    assert one["EXT_SOURCE_PROD_12"] == pytest.approx(0.3)
    assert math.isnan(one["EXT_SOURCE_PROD_13"]) and math.isnan(one["EXT_SOURCE_PROD_23"])
    assert one["EXT_SOURCE_2_AGE_RATIO"] == pytest.approx(-0.6 / 10_000)
    assert one["DOCUMENT_COUNT"] == 2 and one["BUREAU_ENQUIRIES"] == 3
    # 100,000 credit repaid by 10,000 a month: 10 months; goods of 90,000: -10,000 down.
    assert one["CREDIT_TERM"] == 10 and one["DOWN_PAYMENT"] == -10_000
    assert one["AGE_AT_END"] == pytest.approx(10_000 / 365.25 + 10 / 12)
    # The 365243 placeholder is "not employed", not a number of days.
    assert math.isnan(two["DAYS_EMPLOYED_CLEAN"]) and two["NOT_EMPLOYED_FLAG"] == 1
    assert math.isnan(two["EMPLOYED_AGE_RATIO"])
    assert two["EXT_SOURCE_MEAN"] == 0.6 and two["EXT_SOURCE_MISSING"] == 2
    assert two["EXT_SOURCE_WEIGHTED"] == pytest.approx(0.6) and two["EXT_SOURCE_STD"] == 0
    # Zero or missing denominators give missing values, never inf.
    assert math.isnan(three["CREDIT_INCOME_RATIO"]) and math.isnan(three["INCOME_PER_PERSON"])
    assert list(got.columns) == list(F.APPLICATION_FEATURES)


def test_external_score_combinations_without_any_score_are_missing():
    x = {c: np.full(1, np.nan) for c in F.APPLICATION_INPUTS}
    got = F.derive_application_features(x)
    for name in ("EXT_SOURCE_WEIGHTED", "EXT_SOURCE_STD", "EXT_SOURCE_PROD_12"):
        assert np.isnan(got[name]).all(), name


def test_loan_term_down_payment_and_age_at_end():
    """A 12-month term from a 1,200 annuity on 14,400; no annuity: no term, no end age."""
    x = {c: np.full(2, np.nan) for c in F.APPLICATION_INPUTS}
    x |= {"AMT_CREDIT": np.array([14_400.0, 5_000.0]), "AMT_ANNUITY": np.array([1_200.0, 0.0]),
          "AMT_GOODS_PRICE": np.array([16_000.0, np.nan]),
          "DAYS_BIRTH": np.array([-365.25 * 30, -365.25 * 40])}
    got = F.derive_application_features(x)
    np.testing.assert_array_equal(got["CREDIT_TERM"], [12.0, np.nan])
    np.testing.assert_array_equal(got["DOWN_PAYMENT"], [1_600.0, np.nan])
    np.testing.assert_allclose(got["AGE_AT_END"], [31.0, np.nan])


def test_single_row_equals_batch(tiny_tables):
    app = F.application_rows(tiny_tables["application_train"],
                             tiny_tables["application_test"]).to_pandas()
    batch = F.application_features(app)
    for i in range(len(app)):
        one = F.application_features(app.iloc[[i]])
        pd.testing.assert_frame_equal(one, batch.iloc[[i]])


@pytest.mark.realdata
def test_single_row_equals_batch_on_real_rows(real_data_dir):
    from scoring.tables import read_table

    app = read_table(real_data_dir, "application_train").head(2_000).to_pandas()
    batch = F.application_features(app)
    for i in range(0, len(app), 97):
        pd.testing.assert_frame_equal(F.application_features(app.iloc[[i]]), batch.iloc[[i]])


def test_application_features_accept_json_like_values():
    """The served model gets plain Python values (None, ints) in object columns."""
    spec = TABLES["application_test"]
    row = {c: None for c in spec.names} | dict(AMT_CREDIT=100.0, AMT_INCOME_TOTAL=50,
                                                 DAYS_EMPLOYED=365_243)
    got = F.application_features(pd.DataFrame([row], dtype=object))
    assert got.loc[0, "CREDIT_INCOME_RATIO"] == 2.0
    assert got.loc[0, "NOT_EMPLOYED_FLAG"] == 1.0


# --- history features -------------------------------------------------------------------------

def test_bureau_features_by_hand(store_rows):
    one = _row(store_rows, 1)
    assert one["BURO_COUNT"] == 2
    assert (one["BURO_ACTIVE_COUNT"], one["BURO_CLOSED_COUNT"]) == (1, 1)
    assert one["BURO_AMT_CREDIT_SUM_SUM"] == 4_000 and one["BURO_AMT_CREDIT_SUM_MEAN"] == 2_000
    assert one["BURO_DEBT_CREDIT_RATIO_MEAN"] == 0.25
    assert one["BURO_DAYS_CREDIT_MIN"] == -300
    assert one["BURO_IS_ACTIVE_MEAN"] == 0.5 and one["BURO_IS_CREDIT_CARD_MEAN"] == 0.5
    assert one["BURO_ACTIVE_AMT_CREDIT_SUM_SUM"] == 1_000
    assert one["BURO_CLOSED_DAYS_ENDDATE_FACT_MAX"] == -50
    # bureau_balance: credit 10 has months 0, -1, -2, -13 with statuses 0, 1, 0, 2;
    # credit 11 has C and X.
    assert one["BURO_BB_MONTHS_SUM"] == 6 and one["BURO_BB_MONTHS_MEAN"] == 3
    assert one["BURO_BB_MONTHS_BALANCE_MIN_MIN"] == -13
    assert one["BURO_BB_SHARE_LATE_MEAN"] == pytest.approx((0.5 + 0) / 2)
    assert one["BURO_BB_SHARE_LATE_12M_MAX"] == pytest.approx(1 / 3)
    assert one["BURO_BB_SHARE_LATE_6M_MEAN"] == pytest.approx((1 / 3 + 0) / 2)
    assert one["BURO_BB_SHARE_C_MEAN"] == 0.25
    assert one["BURO_BB_WORST_STATUS_MAX"] == 2
    assert one["BURO_ACTIVE_BB_WORST_STATUS_MAX"] == 2
    assert one["BURO_CLOSED_BB_WORST_STATUS_MAX"] == 0


def test_bureau_balance_statuses_per_credit():
    """An unknown status is a known month in no class; a missing one is left out of shares."""
    months = pl.LazyFrame({"SK_ID_BUREAU": [1] * 6, "MONTHS_BALANCE": [0, -1, -2, -3, -4, 1],
                           "STATUS": ["0", "3", "Z", None, "C", "5"]})
    got = F.bureau_balance_per_credit(months).collect().row(0, named=True)
    assert got["BB_MONTHS"] == 5 and got["BB_MONTHS_BALANCE_MIN"] == -4
    assert got["BB_SHARE_0"] == got["BB_SHARE_LATE"] == got["BB_SHARE_C"] == 0.25
    assert got["BB_SHARE_X"] == 0
    assert got["BB_WORST_STATUS"] == 3  # month 1 (status 5) is after the application


def test_previous_features_by_hand(store_rows):
    one, two = _row(store_rows, 1), _row(store_rows, 2)
    assert one["PREV_COUNT"] == 2
    assert (one["PREV_APPROVED_COUNT"], one["PREV_REFUSED_COUNT"]) == (1, 1)
    assert one["PREV_INTEREST_RATE_MEAN"] == pytest.approx(0.24, abs=1e-9)
    assert one["PREV_APP_CREDIT_RATIO_MAX"] == 1.2
    assert one["PREV_IS_REFUSED_MEAN"] == 0.5
    assert one["PREV_APPROVED_AMT_CREDIT_MEAN"] == 10_000
    assert one["PREV_REFUSED_AMT_CREDIT_MEAN"] == 5_000
    assert math.isnan(one["PREV_REFUSED_INTEREST_RATE_MEAN"])  # no annuity: no rate
    assert one["PREV_IS_RUNNING_SUM"] == 1
    # Repaying no more than the credit: a 0 rate.
    assert two["PREV_INTEREST_RATE_MAX"] == 0
    assert two["PREV_REFUSED_COUNT"] == 0 and math.isnan(two["PREV_REFUSED_AMT_CREDIT_MEAN"])


def test_latest_previous_applications_by_hand(store_rows):
    # Client 1: approved 10,000 over 12 months at day -100 (asked 12,000), refused 5,000 at
    # day -200 (asked 5,000, no term).
    one, three = _row(store_rows, 1), _row(store_rows, 3)
    assert one["PREV_LAST1_COUNT"] == 1 and one["PREV_LAST3_COUNT"] == 2
    assert one["PREV_LAST1_IS_APPROVED_MEAN"] == 1 and one["PREV_LAST1_IS_REFUSED_MEAN"] == 0
    assert one["PREV_LAST1_AMT_CREDIT_MEAN"] == 10_000
    assert one["PREV_LAST1_DAYS_DECISION_MIN"] == -100
    assert one["PREV_LAST3_IS_REFUSED_MEAN"] == 0.5
    assert one["PREV_LAST3_AMT_CREDIT_MEAN"] == 7_500
    assert one["PREV_LAST5_CNT_PAYMENT_MEAN"] == 12  # the refused one has no term
    assert one["PREV_LAST5_APP_CREDIT_RATIO_MEAN"] == pytest.approx(1.1)
    assert one["PREV_LAST3_DAYS_DECISION_MIN"] == -200
    assert three["PREV_LAST1_COUNT"] == 0 and math.isnan(three["PREV_LAST1_AMT_CREDIT_MEAN"])
    assert F.describe("PREV_LAST3_IS_REFUSED_MEAN") == (
        "Share of the client's 3 latest previous applications where the application was refused")


def test_latest_previous_application_on_a_tied_day_is_the_higher_id(table_maker):
    rows = [dict(SK_ID_PREV=7, SK_ID_CURR=1, NAME_CONTRACT_STATUS="Refused", DAYS_DECISION=-5),
            dict(SK_ID_PREV=9, SK_ID_CURR=1, NAME_CONTRACT_STATUS="Approved", DAYS_DECISION=-5)]
    for order in (rows, rows[::-1]):
        got = F.previous_features(table_maker("previous_application", order).lazy()).collect()
        assert got["PREV_LAST1_IS_APPROVED_MEAN"].to_list() == [1.0]


def test_interest_rate_solves_the_annuity_formula():
    credit, payments = 20_000.0, np.array([6.0, 12.0, 24.0, 60.0])
    monthly = np.array([0.005, 0.01, 0.03, 0.08])
    annuity = credit * monthly / (1 - (1 + monthly) ** -payments)
    frame = pl.LazyFrame({"c": [credit] * 4, "a": annuity, "n": payments})
    for expr in F.interest_rate(pl.col("c"), pl.col("a"), pl.col("n")):
        frame = frame.with_columns(expr)
    got = frame.collect()["INTEREST_RATE"].to_numpy()
    np.testing.assert_allclose(got, np.clip(12 * monthly, *F.RATE_BOUNDS), rtol=1e-9)


def test_pos_installments_and_card_features_by_hand(store_rows):
    one, two = _row(store_rows, 1), _row(store_rows, 2)
    assert one["POS_COUNT"] == 8 and one["POS_SK_DPD_MAX"] == 5
    assert one["POS_IS_LATE_MEAN"] == 1 / 8
    assert one["POS_6M_COUNT"] == 6 and one["POS_6M_SK_DPD_MAX"] == 0
    assert one["POS_12M_SK_DPD_MAX"] == 5
    assert one["INST_COUNT"] == 3 and one["INST_12M_COUNT"] == 2 and one["INST_6M_COUNT"] == 2
    assert one["INST_DPD_MAX"] == 5 and one["INST_DBD_MAX"] == 2
    assert one["INST_PAYMENT_PERC_MEAN"] == pytest.approx(2.5 / 3)
    assert one["INST_PAYMENT_DIFF_SUM"] == 50 and one["INST_6M_PAYMENT_DIFF_SUM"] == 50
    assert one["INST_AMT_PAYMENT_SUM"] == 350 and one["INST_12M_AMT_PAYMENT_SUM"] == 150
    assert one["INST_IS_LATE_MEAN"] == pytest.approx(1 / 3)
    assert one["INST_NUM_INSTALMENT_VERSION_MAX"] == 2
    # A zero card limit gives a missing utilisation, not inf.
    assert two["CC_COUNT"] == 2 and two["CC_UTILISATION_MEAN"] == 0.5
    assert two["CC_SK_DPD_MAX"] == 3 and two["CC_IS_LATE_MEAN"] == 0.5
    assert one["CC_COUNT"] == 0 and math.isnan(one["CC_AMT_BALANCE_MEAN"])


def test_client_without_history_gets_missing_values_and_zero_counts(store_rows):
    three = _row(store_rows, 3)
    history = three[list(F.HISTORY_FEATURES)]
    counts = [f for f in F.HISTORY_FEATURES if f.endswith("_COUNT")]
    assert (history[counts] == 0).all()
    assert history.drop(counts).isna().all()


def test_missing_side_table_drops_its_features(tiny_tables):
    tables = {k: v for k, v in tiny_tables.items() if k != "credit_card_balance"}
    with pytest.warns(F.MissingTableWarning, match="credit_card_balance"):
        rows = F.build_features(tables)
    assert not [c for c in rows.columns if c.startswith("CC_")]
    assert "INST_COUNT" in rows.columns


def test_missing_bureau_balance_keeps_bureau_features(tiny_tables):
    tables = {k: v for k, v in tiny_tables.items() if k != "bureau_balance"}
    with pytest.warns(F.MissingTableWarning, match="bureau_balance"):
        rows = F.build_features(tables)
    assert "BURO_AMT_CREDIT_SUM_SUM" in rows.columns
    assert not [c for c in rows.columns if "_BB_" in c]
    bureau_columns = [c for c in rows.columns if c.startswith("BURO_")]
    assert bureau_columns == F.family_features("bureau", provided=["bureau"])


def test_only_train_applications(tiny_tables):
    tables = {k: v for k, v in tiny_tables.items() if k != "application_test"}
    rows = F.build_features(tables)
    assert rows[F.KEY].to_list() == [1, 2]


# --- leakage ----------------------------------------------------------------------------------

def _future_rows(make_table) -> dict[str, pl.DataFrame]:
    """Rows dated after the application, for client 1 (whose history is otherwise known)."""
    return {
        "bureau": make_table("bureau", [
            dict(SK_ID_CURR=1, SK_ID_BUREAU=99, CREDIT_ACTIVE="Active", DAYS_CREDIT=10,
                 AMT_CREDIT_SUM=9e6, CREDIT_DAY_OVERDUE=0),
            dict(SK_ID_CURR=1, SK_ID_BUREAU=98, CREDIT_ACTIVE="Closed", DAYS_CREDIT=-10,
                 DAYS_ENDDATE_FACT=5.0, AMT_CREDIT_SUM=9e6, CREDIT_DAY_OVERDUE=0)]),
        "bureau_balance": make_table("bureau_balance", [
            dict(SK_ID_BUREAU=10, MONTHS_BALANCE=1, STATUS="5"),
            dict(SK_ID_BUREAU=99, MONTHS_BALANCE=0, STATUS="5")]),
        "previous_application": make_table("previous_application", [
            dict(SK_ID_PREV=90, SK_ID_CURR=1, NAME_CONTRACT_STATUS="Refused", DAYS_DECISION=3,
                 AMT_CREDIT=9e6),
            dict(SK_ID_PREV=91, SK_ID_CURR=1, NAME_CONTRACT_STATUS="Approved",
                 DAYS_DECISION=-3, DAYS_FIRST_DUE=20.0, AMT_CREDIT=9e6)]),
        "POS_CASH_balance": make_table("POS_CASH_balance", [
            dict(SK_ID_PREV=1, SK_ID_CURR=1, MONTHS_BALANCE=1, SK_DPD=99, SK_DPD_DEF=99)]),
        "installments_payments": make_table("installments_payments", [
            dict(SK_ID_PREV=1, SK_ID_CURR=1, DAYS_INSTALMENT=-5.0, DAYS_ENTRY_PAYMENT=30.0,
                 AMT_INSTALMENT=1.0, AMT_PAYMENT=9e6),
            dict(SK_ID_PREV=1, SK_ID_CURR=1, DAYS_INSTALMENT=15.0, DAYS_ENTRY_PAYMENT=15.0,
                 AMT_INSTALMENT=1.0, AMT_PAYMENT=9e6)]),
        "credit_card_balance": make_table("credit_card_balance", [
            dict(SK_ID_PREV=7, SK_ID_CURR=1, MONTHS_BALANCE=2, AMT_BALANCE=9e6, SK_DPD=99,
                 SK_DPD_DEF=9)]),
    }


def test_rows_after_the_application_change_nothing(tiny_tables, table_maker):
    before = F.build_features(tiny_tables)
    future = _future_rows(table_maker)
    leaky = {name: pl.concat([frame, future[name]]) if name in future else frame
             for name, frame in tiny_tables.items()}
    after = F.build_features(leaky)
    assert_frame_equal(after, before, rel_tol=1e-12)


def test_target_changes_no_feature(tiny_tables):
    flipped = dict(tiny_tables)
    flipped["application_train"] = tiny_tables["application_train"].with_columns(
        (1 - pl.col("TARGET")).alias("TARGET"))
    before = F.build_features(tiny_tables).drop("TARGET")
    after = F.build_features(flipped).drop("TARGET")
    assert_frame_equal(after, before, rel_tol=1e-12)
    model = F.to_model_frame(F.build_features(flipped).to_pandas())
    assert "TARGET" not in model.columns


# --- contract ---------------------------------------------------------------------------------

def test_every_family_returns_one_row_per_client_and_listed_features(tiny_tables):
    raw = TABLES["application_train"].names
    for table in F.FAMILIES:
        agg = F.family_aggregates(table, tiny_tables)
        assert agg[F.KEY].is_unique().all()
        assert set(agg.columns) - {F.KEY} <= set(F.HISTORY_FEATURES)
        assert list(agg.columns) == [F.KEY] + F.family_features(table)
    rows = F.build_features(tiny_tables)
    assert rows[F.KEY].is_unique().all() and rows.height == 3
    assert set(rows.columns) <= {F.KEY, F.DATASET, *raw, *F.HISTORY_FEATURES}
    assert rows[F.DATASET].to_list() == ["train", "train", "test"]
    assert rows["TARGET"].to_list() == [0, 1, None]


def test_feature_list_is_unique_described_and_a_few_hundred():
    assert len(set(F.FEATURES)) == len(F.FEATURES)
    assert 150 <= len(F.FEATURES) <= 400
    for f in F.FEATURES:
        text = F.describe(f)
        assert text and f not in text
    assert "TARGET" not in F.FEATURES and F.KEY not in F.FEATURES
    with pytest.raises(KeyError):
        F.describe("NO_SUCH_FEATURE")


def test_to_model_frame_orders_and_types_the_model_inputs(tiny_tables):
    rows = F.build_features(tiny_tables).to_pandas()
    model = F.to_model_frame(rows)
    assert list(model.columns) == list(F.FEATURES)
    for col, levels in F.CATEGORIES.items():
        assert isinstance(model[col].dtype, pd.CategoricalDtype)
        assert tuple(model[col].cat.categories) == levels
    numeric = [c for c in F.FEATURES if c not in F.CATEGORIES]
    assert (model[numeric].dtypes == "float64").all()
    # One row at a time (the served model) gives the same frame.
    for i in range(len(rows)):
        pd.testing.assert_frame_equal(F.to_model_frame(rows.iloc[[i]]), model.iloc[[i]])


def test_to_model_frame_without_a_family(tiny_tables):
    tables = {k: v for k, v in tiny_tables.items() if k != "POS_CASH_balance"}
    with pytest.warns(F.MissingTableWarning):
        rows = F.build_features(tables).to_pandas()
    features = F.model_features(rows.columns)
    assert not [f for f in features if f.startswith("POS_")]
    assert list(F.to_model_frame(rows, features).columns) == features
    with pytest.raises(KeyError, match="POS_COUNT"):
        F.to_model_frame(rows)


def test_unknown_categories_are_listed(tiny_tables):
    rows = F.build_features(tiny_tables).to_pandas()
    assert F.unknown_categories(rows) == {}
    rows.loc[0, "CODE_GENDER"] = "Z"
    rows.loc[1, "ORGANIZATION_TYPE"] = "Space agency"
    assert F.unknown_categories(rows) == {"CODE_GENDER": ["Z"],
                                          "ORGANIZATION_TYPE": ["Space agency"]}


@pytest.mark.realdata
def test_real_samples(real_data_dir):
    from scoring.tables import read_tables

    rows = F.build_features(read_tables(real_data_dir))
    assert rows.height == 24_587 + 48_744 and rows[F.KEY].is_unique().all()
    model = F.to_model_frame(rows.head(1_000).to_pandas())
    assert not np.isinf(model.select_dtypes("number").to_numpy()).any()
    assert F.unknown_categories(rows.to_pandas()) == {}


def test_to_model_frame_from_a_json_payload(tiny_tables):
    """The served model gets rows through JSON: None for missing, plain ints and strings."""
    import json

    rows = F.build_features(tiny_tables).to_pandas()
    payload = json.loads(rows.to_json(orient="split"))
    received = pd.DataFrame(payload["data"], columns=payload["columns"])
    pd.testing.assert_frame_equal(F.to_model_frame(received), F.to_model_frame(rows))


def test_empty_side_tables_give_zero_counts(tiny_tables, table_maker):
    """A provided but empty table (header only) is "no rows" for everyone, not "unknown"."""
    tables = dict(tiny_tables, credit_card_balance=table_maker("credit_card_balance", []),
                  bureau_balance=table_maker("bureau_balance", []))
    rows = F.build_features(tables).to_pandas()
    assert (rows["CC_COUNT"] == 0).all() and rows["CC_AMT_BALANCE_MEAN"].isna().all()
    assert rows["BURO_BB_MONTHS_MEAN"].isna().all()
    assert list(rows.columns) == list(F.build_features(tiny_tables).columns)
