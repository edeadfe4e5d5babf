"""The public Kaggle kernel "LightGBM with simple features" (Aguiar, 2018), feature part only.

Benchmark reference for ``bench_kernel.py``: the recipe most Home Credit users start from,
written again here in pandas with the kernel's steps, aggregations and names (one-hot
categories with a NaN level, ratios, bureau + bureau_balance with active / closed subsets,
previous applications with approved / refused subsets, POS/cash, instalments, credit cards,
then everything left-joined on ``SK_ID_CURR``). Not a copy: the code is ours, written from
the kernel's published description, and it runs on today's pandas:

- pandas 3 reads text columns as ``str``, not ``object``: the kernel's test for categorical
  columns (``dtype == 'object'``) would find none, so any non-numeric column is one-hot
  encoded here, as the kernel meant;
- ``DataFrame.append`` and chained ``inplace`` replacements are gone: the same operations are
  written with ``concat`` and assignments;
- dummies are ``uint8`` as ``get_dummies`` returned them in 2018.

The instalments' days past / before due are clipped at 0 with a row-wise ``apply`` as the
kernel does; ``vectorised=True`` uses ``clip`` instead (same values), to show that step's cost.

    kernel_features(data_dir) -> (frame, seconds per step)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

KEY = "SK_ID_CURR"
PLACEHOLDER = 365243


@contextmanager
def _step(timings: dict[str, float], name: str):
    t0 = time.perf_counter()
    yield
    timings[name] = timings.get(name, 0.0) + time.perf_counter() - t0


def _read(data_dir: Path, table: str) -> pd.DataFrame:
    """A Kaggle CSV file (``.csv`` or ``.csv.gz``) as the kernel reads it: default types."""
    path = data_dir / f"{table}.csv"
    return pd.read_csv(path if path.is_file() else path.with_suffix(".csv.gz"))


def one_hot(df: pd.DataFrame, nan_as_category: bool = True) -> tuple[pd.DataFrame, list[str]]:
    """The frame with its text columns replaced by 0/1 dummies, and the dummies' names."""
    text = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
    before = set(df.columns)
    out = pd.get_dummies(df, columns=text, dummy_na=nan_as_category, dtype=np.uint8)
    return out, [c for c in out.columns if c not in before]


def _flatten(agg: pd.DataFrame, prefix: str) -> pd.DataFrame:
    agg.columns = pd.Index([f"{prefix}{col}_{stat.upper()}" for col, stat in agg.columns])
    return agg


def application(data_dir: Path) -> pd.DataFrame:
    """Train and test applications: binary codes, one-hot categories, five ratios."""
    df = pd.concat([_read(data_dir, "application_train"), _read(data_dir, "application_test")],
                   ignore_index=True).reset_index()
    df = df[df["CODE_GENDER"] != "XNA"]
    for column in ("CODE_GENDER", "FLAG_OWN_CAR", "FLAG_OWN_REALTY"):
        df[column], _ = pd.factorize(df[column])
    df, _ = one_hot(df, nan_as_category=False)
    df["DAYS_EMPLOYED"] = df["DAYS_EMPLOYED"].replace(PLACEHOLDER, np.nan)
    df["DAYS_EMPLOYED_PERC"] = df["DAYS_EMPLOYED"] / df["DAYS_BIRTH"]
    df["INCOME_CREDIT_PERC"] = df["AMT_INCOME_TOTAL"] / df["AMT_CREDIT"]
    df["INCOME_PER_PERSON"] = df["AMT_INCOME_TOTAL"] / df["CNT_FAM_MEMBERS"]
    df["ANNUITY_INCOME_PERC"] = df["AMT_ANNUITY"] / df["AMT_INCOME_TOTAL"]
    df["PAYMENT_RATE"] = df["AMT_ANNUITY"] / df["AMT_CREDIT"]
    return df


_BUREAU_NUMBERS = {
    "DAYS_CREDIT": ["min", "max", "mean", "var"],
    "DAYS_CREDIT_ENDDATE": ["min", "max", "mean"],
    "DAYS_CREDIT_UPDATE": ["mean"],
    "CREDIT_DAY_OVERDUE": ["max", "mean"],
    "AMT_CREDIT_MAX_OVERDUE": ["mean"],
    "AMT_CREDIT_SUM": ["max", "mean", "sum"],
    "AMT_CREDIT_SUM_DEBT": ["max", "mean", "sum"],
    "AMT_CREDIT_SUM_OVERDUE": ["mean"],
    "AMT_CREDIT_SUM_LIMIT": ["mean", "sum"],
    "AMT_ANNUITY": ["max", "mean"],
    "CNT_CREDIT_PROLONG": ["sum"],
    "MONTHS_BALANCE_MIN": ["min"],
    "MONTHS_BALANCE_MAX": ["max"],
    "MONTHS_BALANCE_SIZE": ["mean", "sum"],
}


def bureau(data_dir: Path) -> pd.DataFrame:
    """Bureau credits with their monthly balances summarised; all, active and closed."""
    bureau = _read(data_dir, "bureau")
    balance = _read(data_dir, "bureau_balance")
    balance, balance_dummies = one_hot(balance)
    bureau, bureau_dummies = one_hot(bureau)
    per_credit = {"MONTHS_BALANCE": ["min", "max", "size"]} | {
        c: ["mean"] for c in balance_dummies}
    per_credit = balance.groupby("SK_ID_BUREAU").agg(per_credit)
    per_credit.columns = pd.Index([f"{c}_{s.upper()}" for c, s in per_credit.columns])
    bureau = bureau.join(per_credit, how="left", on="SK_ID_BUREAU").drop(columns="SK_ID_BUREAU")
    del balance, per_credit
    categories = {c: ["mean"] for c in bureau_dummies} | {
        f"{c}_MEAN": ["mean"] for c in balance_dummies}
    out = _flatten(bureau.groupby(KEY).agg(_BUREAU_NUMBERS | categories), "BURO_")
    for status, prefix in (("Active", "ACTIVE_"), ("Closed", "CLOSED_")):
        subset = bureau[bureau[f"CREDIT_ACTIVE_{status}"] == 1]
        out = out.join(_flatten(subset.groupby(KEY).agg(_BUREAU_NUMBERS), prefix), how="left",
                       on=KEY)
    return out


_PREVIOUS_NUMBERS = {
    "AMT_ANNUITY": ["min", "max", "mean"],
    "AMT_APPLICATION": ["min", "max", "mean"],
    "AMT_CREDIT": ["min", "max", "mean"],
    "APP_CREDIT_PERC": ["min", "max", "mean", "var"],
    "AMT_DOWN_PAYMENT": ["min", "max", "mean"],
    "AMT_GOODS_PRICE": ["min", "max", "mean"],
    "HOUR_APPR_PROCESS_START": ["min", "max", "mean"],
    "RATE_DOWN_PAYMENT": ["min", "max", "mean"],
    "DAYS_DECISION": ["min", "max", "mean"],
    "CNT_PAYMENT": ["mean", "sum"],
}


def previous(data_dir: Path) -> pd.DataFrame:
    """Previous applications: all (with category shares), approved and refused."""
    prev, dummies = one_hot(_read(data_dir, "previous_application"))
    for column in ("DAYS_FIRST_DRAWING", "DAYS_FIRST_DUE", "DAYS_LAST_DUE_1ST_VERSION",
                   "DAYS_LAST_DUE", "DAYS_TERMINATION"):
        prev[column] = prev[column].replace(PLACEHOLDER, np.nan)
    prev["APP_CREDIT_PERC"] = prev["AMT_APPLICATION"] / prev["AMT_CREDIT"]
    out = _flatten(prev.groupby(KEY).agg(_PREVIOUS_NUMBERS | {c: ["mean"] for c in dummies}),
                   "PREV_")
    for status, prefix in (("Approved", "APPROVED_"), ("Refused", "REFUSED_")):
        subset = prev[prev[f"NAME_CONTRACT_STATUS_{status}"] == 1]
        out = out.join(_flatten(subset.groupby(KEY).agg(_PREVIOUS_NUMBERS), prefix),
                       how="left", on=KEY)
    return out


def pos_cash(data_dir: Path) -> pd.DataFrame:
    """Monthly POS/cash balances: months, days past due, status shares, count."""
    pos, dummies = one_hot(_read(data_dir, "POS_CASH_balance"))
    spec = {"MONTHS_BALANCE": ["max", "mean", "size"], "SK_DPD": ["max", "mean"],
            "SK_DPD_DEF": ["max", "mean"]} | {c: ["mean"] for c in dummies}
    out = _flatten(pos.groupby(KEY).agg(spec), "POS_")
    out["POS_COUNT"] = pos.groupby(KEY).size()
    return out


def _positive_part(values: pd.Series, vectorised: bool) -> pd.Series:
    if vectorised:
        return values.clip(lower=0)
    return values.apply(lambda x: x if x > 0 else 0)  # the kernel's row-wise step


def installments(data_dir: Path, vectorised: bool = False,
                 timings: dict[str, float] | None = None) -> pd.DataFrame:
    """Instalments: share and difference paid, days past / before due, count."""
    ins, dummies = one_hot(_read(data_dir, "installments_payments"))
    ins["PAYMENT_PERC"] = ins["AMT_PAYMENT"] / ins["AMT_INSTALMENT"]
    ins["PAYMENT_DIFF"] = ins["AMT_INSTALMENT"] - ins["AMT_PAYMENT"]
    with _step({} if timings is None else timings, "of which DPD/DBD clipping"):
        ins["DPD"] = _positive_part(ins["DAYS_ENTRY_PAYMENT"] - ins["DAYS_INSTALMENT"],
                                    vectorised)
        ins["DBD"] = _positive_part(ins["DAYS_INSTALMENT"] - ins["DAYS_ENTRY_PAYMENT"],
                                    vectorised)
    spec = {
        "NUM_INSTALMENT_VERSION": ["nunique"],
        "DPD": ["max", "mean", "sum"],
        "DBD": ["max", "mean", "sum"],
        "PAYMENT_PERC": ["max", "mean", "sum", "var"],
        "PAYMENT_DIFF": ["max", "mean", "sum", "var"],
        "AMT_INSTALMENT": ["max", "mean", "sum"],
        "AMT_PAYMENT": ["min", "max", "mean", "sum"],
        "DAYS_ENTRY_PAYMENT": ["max", "mean", "sum"],
    } | {c: ["mean"] for c in dummies}
    out = _flatten(ins.groupby(KEY).agg(spec), "INSTAL_")
    out["INSTAL_COUNT"] = ins.groupby(KEY).size()
    return out


def credit_card(data_dir: Path) -> pd.DataFrame:
    """Monthly card balances: min, max, mean, sum and variance of every column, count."""
    cc, _ = one_hot(_read(data_dir, "credit_card_balance"))
    cc = cc.drop(columns="SK_ID_PREV")
    out = _flatten(cc.groupby(KEY).agg(["min", "max", "mean", "sum", "var"]), "CC_")
    out["CC_COUNT"] = cc.groupby(KEY).size()
    return out


def kernel_features(data_dir: Path | str, vectorised: bool = False,
                    ) -> tuple[pd.DataFrame, dict[str, float]]:
    """The kernel's per-client frame (applications left-joined with every family) and the
    seconds each step took (reading included)."""
    data_dir = Path(data_dir)
    timings: dict[str, float] = {}
    steps: list[tuple[str, Callable[[], pd.DataFrame]]] = [
        ("bureau + bureau_balance", lambda: bureau(data_dir)),
        ("previous_application", lambda: previous(data_dir)),
        ("POS_CASH_balance", lambda: pos_cash(data_dir)),
        ("installments_payments", lambda: installments(data_dir, vectorised, timings)),
        ("credit_card_balance", lambda: credit_card(data_dir)),
    ]
    with _step(timings, "applications"):
        df = application(data_dir)
    for name, compute in steps:
        with _step(timings, name):
            family = compute()
        with _step(timings, "joins"):
            df = df.join(family, how="left", on=KEY)
        del family
    return df, timings
