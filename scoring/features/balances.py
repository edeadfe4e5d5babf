"""The monthly balance families: POS/cash (``POS_*``), instalments (``INST_*``) and credit
cards (``CC_*``), each over all months and the last 6 and 12."""

from __future__ import annotations

import polars as pl

from scoring.features.aggregate import (
    Block,
    aggregate,
    flag,
    in_last_days,
    in_last_months,
    not_after_application,
    safe_ratio,
)


def pos_cash_rows(pos: pl.LazyFrame) -> pl.LazyFrame:
    """Monthly POS/cash balances up to the application, with late and completed flags."""
    return pos.filter(pl.col("MONTHS_BALANCE") <= 0).with_columns(
        flag(pl.col("SK_DPD") > 0).alias("IS_LATE"),
        flag(pl.col("NAME_CONTRACT_STATUS") == "Completed").alias("IS_COMPLETED"),
    )


_POS_WINDOW_STATS = {"SK_DPD": ("MAX", "MEAN"), "IS_LATE": ("MEAN",),
                     "CNT_INSTALMENT_FUTURE": ("MEAN",)}
POS_CASH_BLOCKS = (
    Block("POS", "the client's monthly POS/cash balances", {
        "MONTHS_BALANCE": ("MIN", "MAX", "MEAN"),
        "CNT_INSTALMENT": ("MEAN",),
        "CNT_INSTALMENT_FUTURE": ("MIN", "MEAN"),
        "SK_DPD": ("MAX", "MEAN"),
        "SK_DPD_DEF": ("MAX", "MEAN"),
        "IS_LATE": ("MEAN",),
        "IS_COMPLETED": ("SUM",),
    }),
    *(Block(f"POS_{m}M", f"the client's monthly POS/cash balances of the last {m} months",
            _POS_WINDOW_STATS, in_last_months(m)) for m in (6, 12)),
)


def pos_cash_features(pos: pl.LazyFrame) -> pl.LazyFrame:
    """POS/cash balance aggregates per client: all months, last 6 and 12 months (``POS_*``)."""
    return aggregate(pos_cash_rows(pos), POS_CASH_BLOCKS)


# --- installments_payments ------------------------------------------------------------------

def installments_rows(installments: pl.LazyFrame) -> pl.LazyFrame:
    """Instalments due and paid before the application, with payment ratio, DPD and DBD."""
    late = pl.col("DAYS_ENTRY_PAYMENT") - pl.col("DAYS_INSTALMENT")
    return installments.filter(
        not_after_application("DAYS_INSTALMENT", "DAYS_ENTRY_PAYMENT")).with_columns(
        safe_ratio("AMT_PAYMENT", "AMT_INSTALMENT").alias("PAYMENT_PERC"),
        (pl.col("AMT_INSTALMENT") - pl.col("AMT_PAYMENT")).alias("PAYMENT_DIFF"),
        late.clip(lower_bound=0).alias("DPD"),
        (-late).clip(lower_bound=0).alias("DBD"),
        flag(late > 0).alias("IS_LATE"),
        flag(pl.col("AMT_INSTALMENT") > pl.col("AMT_PAYMENT")).alias("IS_UNDERPAID"),
    )


_INSTALLMENTS_WINDOW_STATS = {"DPD": ("MAX", "MEAN"), "DBD": ("MEAN",),
                              "PAYMENT_PERC": ("MEAN",), "PAYMENT_DIFF": ("MEAN", "SUM"),
                              "IS_LATE": ("MEAN",), "AMT_PAYMENT": ("SUM",)}
INSTALLMENTS_BLOCKS = (
    Block("INST", "the client's instalment payments", {
        "NUM_INSTALMENT_VERSION": ("MAX",),
        "DPD": ("MAX", "MEAN", "SUM"),
        "DBD": ("MAX", "MEAN", "SUM"),
        "PAYMENT_PERC": ("MAX", "MEAN", "SUM", "VAR"),
        "PAYMENT_DIFF": ("MAX", "MEAN", "SUM", "VAR"),
        "AMT_INSTALMENT": ("MAX", "MEAN", "SUM"),
        "AMT_PAYMENT": ("MIN", "MAX", "MEAN", "SUM"),
        "DAYS_ENTRY_PAYMENT": ("MAX", "MEAN", "SUM"),
        "IS_LATE": ("MEAN",),
        "IS_UNDERPAID": ("MEAN",),
    }),
    *(Block(f"INST_{m}M", f"the client's instalment payments due in the last {m} months",
            _INSTALLMENTS_WINDOW_STATS, in_last_days(m)) for m in (6, 12)),
)


def installments_features(installments: pl.LazyFrame) -> pl.LazyFrame:
    """Instalment aggregates per client: all, last 6 and 12 months (``INST_*``)."""
    return aggregate(installments_rows(installments), INSTALLMENTS_BLOCKS)


# --- credit_card_balance --------------------------------------------------------------------

def credit_card_rows(cards: pl.LazyFrame) -> pl.LazyFrame:
    """Monthly card balances up to the application, with utilisation and payment ratios."""
    return cards.filter(pl.col("MONTHS_BALANCE") <= 0).with_columns(
        safe_ratio("AMT_BALANCE", "AMT_CREDIT_LIMIT_ACTUAL").alias("UTILISATION"),
        safe_ratio("AMT_PAYMENT_CURRENT", "AMT_INST_MIN_REGULARITY").alias("PAYMENT_MIN_RATIO"),
        flag(pl.col("SK_DPD") > 0).alias("IS_LATE"),
    )


_CARD_WINDOW_STATS = {"AMT_BALANCE": ("MEAN",), "UTILISATION": ("MEAN", "MAX"),
                      "AMT_DRAWINGS_CURRENT": ("MEAN",), "PAYMENT_MIN_RATIO": ("MEAN",),
                      "SK_DPD": ("MAX",), "IS_LATE": ("MEAN",)}
CREDIT_CARD_BLOCKS = (
    Block("CC", "the client's monthly card balances", {
        "MONTHS_BALANCE": ("MIN",),
        "AMT_BALANCE": ("MEAN", "MAX"),
        "AMT_CREDIT_LIMIT_ACTUAL": ("MEAN", "MAX"),
        "UTILISATION": ("MEAN", "MAX"),
        "AMT_DRAWINGS_CURRENT": ("MEAN", "MAX"),
        "AMT_DRAWINGS_ATM_CURRENT": ("MEAN", "MAX"),
        "AMT_DRAWINGS_POS_CURRENT": ("MEAN",),
        "AMT_PAYMENT_TOTAL_CURRENT": ("MEAN", "SUM"),
        "AMT_INST_MIN_REGULARITY": ("MEAN",),
        "PAYMENT_MIN_RATIO": ("MIN", "MEAN"),
        "AMT_TOTAL_RECEIVABLE": ("MEAN",),
        "CNT_DRAWINGS_CURRENT": ("MEAN", "MAX"),
        "CNT_DRAWINGS_ATM_CURRENT": ("MEAN",),
        "CNT_INSTALMENT_MATURE_CUM": ("MAX",),
        "SK_DPD": ("MAX", "MEAN"),
        "SK_DPD_DEF": ("MAX",),
        "IS_LATE": ("MEAN",),
    }),
    *(Block(f"CC_{m}M", f"the client's monthly card balances of the last {m} months",
            _CARD_WINDOW_STATS, in_last_months(m)) for m in (6, 12)),
)


def credit_card_features(cards: pl.LazyFrame) -> pl.LazyFrame:
    """Credit-card aggregates per client: all months, last 6 and 12 months (``CC_*``)."""
    return aggregate(credit_card_rows(cards), CREDIT_CARD_BLOCKS)
