"""A straightforward pandas implementation of the features, as the public Kaggle kernels do it.

Benchmark only: ``bench_features.py`` checks that it gives the same values as
``scoring.features`` (polars) and compares their speed and memory. It re-derives every per-row
column and every row filter with pandas on its own; only the names and statistics of the
aggregates (the kernel's ``aggregations`` dicts) come from the ``Block`` lists of
``scoring.features``, so that both produce the same columns.

    reference_features(tables) -> pd.DataFrame   # SK_ID_CURR + history + application features
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from scoring import features as F

KEY = "SK_ID_CURR"
PLACEHOLDER = 365243
LATE = ["1", "2", "3", "4", "5"]


# --- helpers ------------------------------------------------------------------------------------

def ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    return (num / den).where(den != 0)


def flag(condition: pd.Series, *sources: pd.Series) -> pd.Series:
    """0/1 of a condition, missing where a source column is missing."""
    known = pd.concat(sources, axis=1).notna().all(axis=1)
    return condition.astype(float).where(known)


def not_after(df: pd.DataFrame, *days: str) -> pd.Series:
    keep = pd.Series(True, index=df.index)
    for c in days:
        keep &= df[c].isna() | (df[c] <= 0)
    return keep


def aggregate(rows: pd.DataFrame, blocks, masks: Mapping[str, Callable]) -> pd.DataFrame:
    """Kernel-style groupby/agg per block; a block's subset comes from ``masks[prefix]``."""
    parts = []
    for block in blocks:
        sub = rows[masks[block.prefix](rows)] if block.prefix in masks else rows
        spec = {c: [s.lower() for s in stats] for c, stats in block.stats.items()
                if c in rows.columns}
        grouped = sub.groupby(KEY)
        agg = grouped.agg(spec)
        agg.columns = [f"{block.prefix}_{c}_{s.upper()}" for c, s in agg.columns]
        agg.insert(0, f"{block.prefix}_COUNT", grouped.size())
        parts.append(agg)
    return pd.concat(parts, axis=1)


# --- application ----------------------------------------------------------------------------------

def application_features(app: pd.DataFrame) -> pd.DataFrame:
    df = pd.DataFrame(index=app.index)
    emp = app["DAYS_EMPLOYED"].astype(float)
    df["DAYS_EMPLOYED_CLEAN"] = emp.replace(PLACEHOLDER, np.nan)
    df["NOT_EMPLOYED_FLAG"] = flag(emp == PLACEHOLDER, emp)
    df["CREDIT_INCOME_RATIO"] = ratio(app["AMT_CREDIT"], app["AMT_INCOME_TOTAL"])
    df["ANNUITY_INCOME_RATIO"] = ratio(app["AMT_ANNUITY"], app["AMT_INCOME_TOTAL"])
    df["ANNUITY_CREDIT_RATIO"] = ratio(app["AMT_ANNUITY"], app["AMT_CREDIT"])
    df["GOODS_CREDIT_RATIO"] = ratio(app["AMT_GOODS_PRICE"], app["AMT_CREDIT"])
    df["INCOME_PER_PERSON"] = ratio(app["AMT_INCOME_TOTAL"], app["CNT_FAM_MEMBERS"])
    df["CHILDREN_RATIO"] = ratio(app["CNT_CHILDREN"], app["CNT_FAM_MEMBERS"])
    df["EMPLOYED_AGE_RATIO"] = ratio(df["DAYS_EMPLOYED_CLEAN"], app["DAYS_BIRTH"])
    df["ID_PUBLISH_AGE_RATIO"] = ratio(app["DAYS_ID_PUBLISH"], app["DAYS_BIRTH"])
    df["PHONE_CHANGE_AGE_RATIO"] = ratio(app["DAYS_LAST_PHONE_CHANGE"], app["DAYS_BIRTH"])
    ext = app[["EXT_SOURCE_1", "EXT_SOURCE_2", "EXT_SOURCE_3"]]
    df["EXT_SOURCE_MEAN"] = ext.mean(axis=1)
    df["EXT_SOURCE_MIN"] = ext.min(axis=1)
    df["EXT_SOURCE_MAX"] = ext.max(axis=1)
    df["EXT_SOURCE_PROD"] = ext.prod(axis=1, min_count=3)
    df["EXT_SOURCE_MISSING"] = ext.isna().sum(axis=1).astype(float)
    docs = [f"FLAG_DOCUMENT_{i}" for i in range(2, 22)]
    df["DOCUMENT_COUNT"] = app[docs].astype(float).sum(axis=1, min_count=1)
    req = [c for c in app.columns if c.startswith("AMT_REQ_CREDIT_BUREAU_")]
    df["BUREAU_ENQUIRIES"] = app[req].sum(axis=1, min_count=1)
    return df


# --- bureau ---------------------------------------------------------------------------------------

def bureau_balance_per_credit(bb: pd.DataFrame) -> pd.DataFrame:
    bb = bb[bb["MONTHS_BALANCE"] <= 0].copy()
    known = bb["STATUS"].notna()
    bb["LATE"] = bb["STATUS"].isin(LATE).astype(float).where(known)
    for s in ("0", "C", "X"):
        bb[f"IS_{s}"] = (bb["STATUS"] == s).astype(float).where(known)
    bb["WORST"] = pd.to_numeric(bb["STATUS"].where(bb["STATUS"].isin(LATE)),
                                errors="coerce").fillna(0)
    g = bb.groupby("SK_ID_BUREAU")
    out = pd.DataFrame({
        "BB_MONTHS": g.size().astype(float),
        "BB_MONTHS_BALANCE_MIN": g["MONTHS_BALANCE"].min().astype(float),
        "BB_SHARE_0": g["IS_0"].mean(),
        "BB_SHARE_C": g["IS_C"].mean(),
        "BB_SHARE_X": g["IS_X"].mean(),
        "BB_SHARE_LATE": g["LATE"].mean(),
        "BB_WORST_STATUS": g["WORST"].max().astype(float),
    })
    for m in (6, 12):
        recent = bb[bb["MONTHS_BALANCE"] >= -m]
        out[f"BB_SHARE_LATE_{m}M"] = recent.groupby("SK_ID_BUREAU")["LATE"].mean()
    return out


def bureau_features(bureau: pd.DataFrame, bb: pd.DataFrame | None) -> pd.DataFrame:
    b = bureau[not_after(bureau, "DAYS_CREDIT", "DAYS_ENDDATE_FACT", "DAYS_CREDIT_UPDATE")].copy()
    active, kind = b["CREDIT_ACTIVE"], b["CREDIT_TYPE"]
    b["IS_ACTIVE"] = flag(active == "Active", active)
    b["IS_SOLD_OR_BAD_DEBT"] = flag(active.isin(["Sold", "Bad debt"]), active)
    for name, value in [("IS_CREDIT_CARD", "Credit card"), ("IS_CAR_LOAN", "Car loan"),
                        ("IS_MORTGAGE", "Mortgage"), ("IS_MICROLOAN", "Microloan")]:
        b[name] = flag(kind == value, kind)
    b["IS_OVERDUE"] = flag(b["CREDIT_DAY_OVERDUE"] > 0, b["CREDIT_DAY_OVERDUE"])
    b["DEBT_CREDIT_RATIO"] = ratio(b["AMT_CREDIT_SUM_DEBT"], b["AMT_CREDIT_SUM"])
    if bb is not None:
        b = b.join(bureau_balance_per_credit(bb), on="SK_ID_BUREAU")
    masks = {"BURO_ACTIVE": lambda d: d["CREDIT_ACTIVE"] == "Active",
             "BURO_CLOSED": lambda d: d["CREDIT_ACTIVE"] == "Closed"}
    return aggregate(b, F.BUREAU_BLOCKS, masks)


# --- previous applications ---------------------------------------------------------------

def interest_rate(credit: pd.Series, annuity: pd.Series, payments: pd.Series) -> np.ndarray:
    """Yearly rate by bisection on the monthly rate in [0, 0.1] (clipped like the original)."""
    p, a, n = (s.to_numpy(dtype=float) for s in (credit, annuity, payments))
    lo, hi = np.zeros_like(p), np.full_like(p, 0.1)
    with np.errstate(all="ignore"):
        for _ in range(60):
            mid = (lo + hi) / 2
            too_high = p * mid / (1 - (1 + mid) ** -n) > a
            hi = np.where(too_high, mid, hi)
            lo = np.where(too_high, lo, mid)
    rate = 12 * (lo + hi) / 2
    valid = (p > 0) & (a > 0) & (n > 0)
    rate = np.where(a * n <= p, 0.0, rate)
    return np.where(valid, rate, np.nan)


def previous_features(prev: pd.DataFrame) -> pd.DataFrame:
    p = prev.copy()
    for c in ("DAYS_FIRST_DRAWING", "DAYS_FIRST_DUE", "DAYS_LAST_DUE_1ST_VERSION",
              "DAYS_LAST_DUE", "DAYS_TERMINATION"):
        p[c] = p[c].replace(PLACEHOLDER, np.nan)
    p = p[not_after(p, "DAYS_DECISION", "DAYS_FIRST_DRAWING", "DAYS_FIRST_DUE")].copy()
    p["INTEREST_RATE"] = interest_rate(p["AMT_CREDIT"], p["AMT_ANNUITY"], p["CNT_PAYMENT"])
    p["APP_CREDIT_RATIO"] = ratio(p["AMT_APPLICATION"], p["AMT_CREDIT"])
    status, ctype = p["NAME_CONTRACT_STATUS"], p["NAME_CONTRACT_TYPE"]
    p["IS_APPROVED"] = flag(status == "Approved", status)
    p["IS_REFUSED"] = flag(status == "Refused", status)
    p["IS_CANCELED"] = flag(status == "Canceled", status)
    p["IS_CASH"] = flag(ctype == "Cash loans", ctype)
    p["IS_REVOLVING"] = flag(ctype == "Revolving loans", ctype)
    yg = p["NAME_YIELD_GROUP"]
    p["IS_YIELD_HIGH"] = flag(yg == "high", yg)
    p["IS_YIELD_LOW"] = flag(yg.isin(["low_normal", "low_action"]), yg)
    p["IS_NEW_CLIENT"] = flag(p["NAME_CLIENT_TYPE"] == "New", p["NAME_CLIENT_TYPE"])
    p["IS_XSELL"] = flag(p["NAME_PRODUCT_TYPE"] == "x-sell", p["NAME_PRODUCT_TYPE"])
    p["IS_RUNNING"] = flag(p["DAYS_LAST_DUE_1ST_VERSION"] > 0, p["DAYS_LAST_DUE_1ST_VERSION"])
    latest_first = p.sort_values(["DAYS_DECISION", "SK_ID_PREV"], ascending=False)
    p["RECENCY"] = latest_first.groupby(KEY).cumcount() + 1
    masks = {"PREV_APPROVED": lambda d: d["NAME_CONTRACT_STATUS"] == "Approved",
             "PREV_REFUSED": lambda d: d["NAME_CONTRACT_STATUS"] == "Refused",
             **{f"PREV_LAST{n}": (lambda d, n=n: d["RECENCY"] <= n) for n in (1, 3, 5)}}
    return aggregate(p, F.PREVIOUS_BLOCKS, masks)


# --- monthly balances and instalments ------------------------------------------------------

def _windows(prefix: str, column: str, days: bool = False) -> dict[str, Callable]:
    return {f"{prefix}_{m}M": (lambda d, m=m: d[column] >= -(round(30.44 * m) if days else m))
            for m in (6, 12)}


def pos_cash_features(pos: pd.DataFrame) -> pd.DataFrame:
    p = pos[pos["MONTHS_BALANCE"] <= 0].copy()
    p["IS_LATE"] = flag(p["SK_DPD"] > 0, p["SK_DPD"])
    p["IS_COMPLETED"] = flag(p["NAME_CONTRACT_STATUS"] == "Completed", p["NAME_CONTRACT_STATUS"])
    return aggregate(p, F.POS_CASH_BLOCKS, _windows("POS", "MONTHS_BALANCE"))


def installments_features(ins: pd.DataFrame) -> pd.DataFrame:
    i = ins[not_after(ins, "DAYS_INSTALMENT", "DAYS_ENTRY_PAYMENT")].copy()
    i["PAYMENT_PERC"] = ratio(i["AMT_PAYMENT"], i["AMT_INSTALMENT"])
    i["PAYMENT_DIFF"] = i["AMT_INSTALMENT"] - i["AMT_PAYMENT"]
    i["DPD"] = (i["DAYS_ENTRY_PAYMENT"] - i["DAYS_INSTALMENT"]).clip(lower=0)
    i["DBD"] = (i["DAYS_INSTALMENT"] - i["DAYS_ENTRY_PAYMENT"]).clip(lower=0)
    i["IS_LATE"] = flag(i["DPD"] > 0, i["DPD"])
    i["IS_UNDERPAID"] = flag(i["AMT_INSTALMENT"] > i["AMT_PAYMENT"], i["AMT_INSTALMENT"],
                             i["AMT_PAYMENT"])
    return aggregate(i, F.INSTALLMENTS_BLOCKS, _windows("INST", "DAYS_INSTALMENT", days=True))


def credit_card_features(cc: pd.DataFrame) -> pd.DataFrame:
    c = cc[cc["MONTHS_BALANCE"] <= 0].copy()
    c["UTILISATION"] = ratio(c["AMT_BALANCE"], c["AMT_CREDIT_LIMIT_ACTUAL"])
    c["PAYMENT_MIN_RATIO"] = ratio(c["AMT_PAYMENT_CURRENT"], c["AMT_INST_MIN_REGULARITY"])
    c["IS_LATE"] = flag(c["SK_DPD"] > 0, c["SK_DPD"])
    return aggregate(c, F.CREDIT_CARD_BLOCKS, _windows("CC", "MONTHS_BALANCE"))


# --- everything ---------------------------------------------------------------------------

def reference_features(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per application: SK_ID_CURR, history features and application features."""
    apps = [tables["application_train"]]
    if "application_test" in tables:
        apps.append(tables["application_test"])
    app = pd.concat(apps, ignore_index=True).set_index(KEY)
    out = application_features(app)
    families = {
        "bureau": lambda: bureau_features(tables["bureau"], tables.get("bureau_balance")),
        "previous_application": lambda: previous_features(tables["previous_application"]),
        "POS_CASH_balance": lambda: pos_cash_features(tables["POS_CASH_balance"]),
        "installments_payments": lambda: installments_features(
            tables["installments_payments"]),
        "credit_card_balance": lambda: credit_card_features(tables["credit_card_balance"]),
    }
    for table, compute in families.items():
        if table not in tables:
            continue
        agg = compute()
        out = out.join(agg)
        counts = [c for c in agg.columns if c.endswith("_COUNT")]
        out[counts] = out[counts].fillna(0)
    return out.reset_index()
