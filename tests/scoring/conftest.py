"""Tiny handmade Kaggle-shaped tables: three clients whose feature values are easy to compute.

- client 1 (train, TARGET 0): employed, two bureau credits with monthly balances, two previous
  applications (one approved at a known 24% yearly rate, one refused), POS and instalments.
- client 2 (train, TARGET 1): DAYS_EMPLOYED placeholder, one previous application without
  interest, a credit card.
- client 3 (test): no history at all.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from scoring.schema import TABLES
from scoring.tables import POLARS_TYPES

#: Monthly rate 2% over 12 payments on a 10,000 credit (yearly 24%).
RATE_ANNUITY = 10_000 * 0.02 / (1 - 1.02 ** -12)


def make_table(name: str, rows: list[dict]) -> pl.DataFrame:
    """A table with every schema column typed; columns not given in ``rows`` are null."""
    spec = TABLES[name]
    schema = {c.name: POLARS_TYPES[c.kind] for c in spec.columns}
    return pl.DataFrame([{c: row.get(c) for c in spec.names} for row in rows], schema=schema,
                        orient="row") if rows else pl.DataFrame(schema=schema)


def _application(cid: int, **fields) -> dict:
    base = dict(SK_ID_CURR=cid, NAME_CONTRACT_TYPE="Cash loans", CODE_GENDER="F",
                FLAG_OWN_CAR="N", FLAG_OWN_REALTY="Y", CNT_CHILDREN=1,
                AMT_INCOME_TOTAL=50_000.0, AMT_CREDIT=100_000.0, AMT_ANNUITY=10_000.0,
                AMT_GOODS_PRICE=90_000.0, NAME_INCOME_TYPE="Working",
                NAME_EDUCATION_TYPE="Higher education", NAME_FAMILY_STATUS="Married",
                NAME_HOUSING_TYPE="House / apartment", DAYS_BIRTH=-10_000,
                DAYS_EMPLOYED=-1_000, DAYS_ID_PUBLISH=-2_000, DAYS_LAST_PHONE_CHANGE=-500.0,
                CNT_FAM_MEMBERS=2.0, EXT_SOURCE_1=0.5, EXT_SOURCE_2=0.6,
                ORGANIZATION_TYPE="School", WEEKDAY_APPR_PROCESS_START="MONDAY",
                FLAG_DOCUMENT_3=1, FLAG_DOCUMENT_8=1, AMT_REQ_CREDIT_BUREAU_YEAR=2.0,
                AMT_REQ_CREDIT_BUREAU_MON=1.0)
    return base | fields


@pytest.fixture
def table_maker():
    """``make_table`` as a fixture, for tests that add rows to the tiny tables."""
    return make_table


@pytest.fixture
def tiny_tables() -> dict[str, pl.DataFrame]:
    """All eight tables for clients 1, 2 (train) and 3 (test)."""
    return {
        "application_train": make_table("application_train", [
            _application(1, TARGET=0),
            _application(2, TARGET=1, DAYS_EMPLOYED=365_243, EXT_SOURCE_1=None,
                         NAME_INCOME_TYPE="Pensioner"),
        ]),
        "application_test": make_table("application_test", [
            _application(3, AMT_INCOME_TOTAL=0.0, CNT_FAM_MEMBERS=None),
        ]),
        "bureau": make_table("bureau", [
            dict(SK_ID_CURR=1, SK_ID_BUREAU=10, CREDIT_ACTIVE="Active",
                 CREDIT_TYPE="Consumer credit", DAYS_CREDIT=-100, DAYS_CREDIT_UPDATE=-5,
                 DAYS_CREDIT_ENDDATE=200.0, CREDIT_DAY_OVERDUE=0, AMT_CREDIT_SUM=1_000.0,
                 AMT_CREDIT_SUM_DEBT=500.0),
            dict(SK_ID_CURR=1, SK_ID_BUREAU=11, CREDIT_ACTIVE="Closed",
                 CREDIT_TYPE="Credit card", DAYS_CREDIT=-300, DAYS_CREDIT_UPDATE=-40,
                 DAYS_ENDDATE_FACT=-50.0, CREDIT_DAY_OVERDUE=0, AMT_CREDIT_SUM=3_000.0,
                 AMT_CREDIT_SUM_DEBT=0.0),
        ]),
        "bureau_balance": make_table("bureau_balance", [
            dict(SK_ID_BUREAU=10, MONTHS_BALANCE=0, STATUS="0"),
            dict(SK_ID_BUREAU=10, MONTHS_BALANCE=-1, STATUS="1"),
            dict(SK_ID_BUREAU=10, MONTHS_BALANCE=-2, STATUS="0"),
            dict(SK_ID_BUREAU=10, MONTHS_BALANCE=-13, STATUS="2"),
            dict(SK_ID_BUREAU=11, MONTHS_BALANCE=-5, STATUS="C"),
            dict(SK_ID_BUREAU=11, MONTHS_BALANCE=-6, STATUS="X"),
        ]),
        "previous_application": make_table("previous_application", [
            dict(SK_ID_PREV=1, SK_ID_CURR=1, NAME_CONTRACT_STATUS="Approved",
                 NAME_CONTRACT_TYPE="Cash loans", AMT_CREDIT=10_000.0,
                 AMT_ANNUITY=RATE_ANNUITY, CNT_PAYMENT=12.0, AMT_APPLICATION=12_000.0,
                 DAYS_DECISION=-100, DAYS_FIRST_DRAWING=365_243.0, DAYS_FIRST_DUE=-70.0,
                 DAYS_LAST_DUE_1ST_VERSION=260.0),
            dict(SK_ID_PREV=2, SK_ID_CURR=1, NAME_CONTRACT_STATUS="Refused",
                 NAME_CONTRACT_TYPE="Consumer loans", AMT_CREDIT=5_000.0,
                 AMT_APPLICATION=5_000.0, DAYS_DECISION=-200),
            dict(SK_ID_PREV=3, SK_ID_CURR=2, NAME_CONTRACT_STATUS="Approved",
                 NAME_CONTRACT_TYPE="Consumer loans", AMT_CREDIT=6_000.0, AMT_ANNUITY=500.0,
                 CNT_PAYMENT=12.0, AMT_APPLICATION=6_000.0, DAYS_DECISION=-400,
                 DAYS_LAST_DUE_1ST_VERSION=-30.0),
        ]),
        "POS_CASH_balance": make_table("POS_CASH_balance", [
            dict(SK_ID_PREV=1, SK_ID_CURR=1, MONTHS_BALANCE=-m, CNT_INSTALMENT=12.0,
                 CNT_INSTALMENT_FUTURE=float(12 - m), NAME_CONTRACT_STATUS="Active",
                 SK_DPD=5 if m == 7 else 0, SK_DPD_DEF=0)
            for m in range(1, 9)
        ]),
        "installments_payments": make_table("installments_payments", [
            dict(SK_ID_PREV=1, SK_ID_CURR=1, NUM_INSTALMENT_VERSION=1.0, NUM_INSTALMENT_NUMBER=3,
                 DAYS_INSTALMENT=-10.0, DAYS_ENTRY_PAYMENT=-12.0, AMT_INSTALMENT=100.0,
                 AMT_PAYMENT=100.0),
            dict(SK_ID_PREV=1, SK_ID_CURR=1, NUM_INSTALMENT_VERSION=1.0, NUM_INSTALMENT_NUMBER=2,
                 DAYS_INSTALMENT=-40.0, DAYS_ENTRY_PAYMENT=-35.0, AMT_INSTALMENT=100.0,
                 AMT_PAYMENT=50.0),
            dict(SK_ID_PREV=1, SK_ID_CURR=1, NUM_INSTALMENT_VERSION=2.0, NUM_INSTALMENT_NUMBER=1,
                 DAYS_INSTALMENT=-400.0, DAYS_ENTRY_PAYMENT=-400.0, AMT_INSTALMENT=200.0,
                 AMT_PAYMENT=200.0),
        ]),
        "credit_card_balance": make_table("credit_card_balance", [
            dict(SK_ID_PREV=5, SK_ID_CURR=2, MONTHS_BALANCE=-1, AMT_BALANCE=500.0,
                 AMT_CREDIT_LIMIT_ACTUAL=1_000, SK_DPD=0, SK_DPD_DEF=0,
                 NAME_CONTRACT_STATUS="Active"),
            dict(SK_ID_PREV=5, SK_ID_CURR=2, MONTHS_BALANCE=-2, AMT_BALANCE=1_000.0,
                 AMT_CREDIT_LIMIT_ACTUAL=0, SK_DPD=3, SK_DPD_DEF=0,
                 NAME_CONTRACT_STATUS="Active"),
        ]),
    }


@pytest.fixture
def tiny_data_dir(tiny_tables: dict[str, pl.DataFrame], tmp_path: Path) -> Path:
    """The tiny tables written as CSV files in a Kaggle-format folder."""
    for name, frame in tiny_tables.items():
        frame.write_csv(tmp_path / f"{name}.csv")
    return tmp_path
