"""Summary numbers of the real Home Credit samples, for the synthetic-data generator.

``python -m synthetic.calibration --data-dir ../shared/data/homecredit`` reads the real
samples and writes ``synthetic/calibration.json``. The file holds only aggregates (missing
shares, quantiles, category frequencies, a correlation matrix, row counts per parent and the
coefficients of a small logistic risk model): never a row of the real data, which stays under
the Kaggle rules.

The generator (:mod:`synthetic.generator`) reads the JSON back with :func:`load`.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from scipy.special import ndtri

from scoring.names import DAYS_PER_MONTH, DAYS_PER_YEAR
from scoring.schema import DAYS_EMPLOYED_PLACEHOLDER, TABLES, TARGET
from scoring.tables import read_table

CALIBRATION_PATH = Path(__file__).with_name("calibration.json")

#: Quantile grid sizes: fine for the application (copula marginals), coarser for side tables
#: so that the JSON stays small.
APP_QUANTILES = 101
SIDE_QUANTILES = 41
#: A numeric column with at most this many distinct values is stored as value frequencies.
MAX_DISCRETE = 40
#: A stratum of a side table needs this many rows to get its own marginals.
MIN_STRATUM_ROWS = 200
#: The real samples hold complete side tables for these clients (see the data README).
COMPLETE_TRAIN_IDS = (100002, 105849)
COMPLETE_TEST_CLIENTS = 5000
#: installments_payments is only a random sample: rows per client come from full Kaggle.
KAGGLE_CLIENTS = 307_511 + 48_744
KAGGLE_INSTALLMENTS = 13_605_401

#: Derived ratios that the generator samples instead of the raw column, so that related
#: amounts stay consistent (e.g. annuity = credit / term). Name -> expression on the table.
DERIVED: dict[str, dict[str, pl.Expr]] = {
    "application": {
        "_CREDIT_TERM": pl.col("AMT_CREDIT") / pl.col("AMT_ANNUITY"),
        "_GOODS_RATIO": pl.col("AMT_GOODS_PRICE") / pl.col("AMT_CREDIT"),
    },
    "bureau": {
        "_DURATION": pl.col("DAYS_CREDIT_ENDDATE") - pl.col("DAYS_CREDIT"),
        "_FACT_DURATION": pl.col("DAYS_ENDDATE_FACT") - pl.col("DAYS_CREDIT"),
        "_DEBT_RATIO": pl.col("AMT_CREDIT_SUM_DEBT") / pl.col("AMT_CREDIT_SUM"),
    },
    "previous_application": {
        "_APP_RATIO": pl.col("AMT_APPLICATION") / pl.col("AMT_CREDIT"),
        "_ANNUITY_FACTOR": pl.col("AMT_ANNUITY") * pl.col("CNT_PAYMENT") / pl.col("AMT_CREDIT"),
        "_FIRST_DUE_LAG": pl.col("DAYS_FIRST_DUE") - pl.col("DAYS_DECISION"),
    },
    "installments_payments": {
        "_DELAY": pl.col("DAYS_ENTRY_PAYMENT") - pl.col("DAYS_INSTALMENT"),
        "_PAY_RATIO": pl.col("AMT_PAYMENT") / pl.col("AMT_INSTALMENT"),
    },
    "credit_card_balance": {
        "_UTILISATION": pl.col("AMT_BALANCE") / pl.col("AMT_CREDIT_LIMIT_ACTUAL"),
    },
}

#: Main application fields sampled jointly through a Gaussian copula (the goods price rather
#: than the credit: prices sit on round values, the credit follows as price / ratio). Building
#: statistics
#: enter once (``*_AVG``); their ``_MODE``/``_MEDI`` twins reuse the same latent value.
BUILDING_STATS = ("APARTMENTS", "BASEMENTAREA", "YEARS_BEGINEXPLUATATION", "YEARS_BUILD",
                  "COMMONAREA", "ELEVATORS", "ENTRANCES", "FLOORSMAX", "FLOORSMIN", "LANDAREA",
                  "LIVINGAPARTMENTS", "LIVINGAREA", "NONLIVINGAPARTMENTS", "NONLIVINGAREA")
COPULA_COLUMNS = (
    "NAME_CONTRACT_TYPE", "CODE_GENDER", "FLAG_OWN_CAR", "FLAG_OWN_REALTY", "CNT_CHILDREN",
    "AMT_INCOME_TOTAL", "AMT_GOODS_PRICE", "_CREDIT_TERM", "_GOODS_RATIO", "NAME_INCOME_TYPE",
    "NAME_EDUCATION_TYPE", "NAME_FAMILY_STATUS", "NAME_HOUSING_TYPE",
    "REGION_POPULATION_RELATIVE", "DAYS_BIRTH", "DAYS_EMPLOYED", "DAYS_REGISTRATION",
    "DAYS_ID_PUBLISH", "OWN_CAR_AGE", "FLAG_PHONE", "CNT_FAM_MEMBERS", "REGION_RATING_CLIENT",
    "REGION_RATING_CLIENT_W_CITY", "HOUR_APPR_PROCESS_START", "REG_CITY_NOT_LIVE_CITY",
    "REG_CITY_NOT_WORK_CITY", "EXT_SOURCE_1", "EXT_SOURCE_2", "EXT_SOURCE_3",
    "TOTALAREA_MODE", "OBS_30_CNT_SOCIAL_CIRCLE", "DEF_30_CNT_SOCIAL_CIRCLE",
    "DAYS_LAST_PHONE_CHANGE", "FLAG_DOCUMENT_3", "AMT_REQ_CREDIT_BUREAU_YEAR",
) + tuple(f"{s}_AVG" for s in BUILDING_STATS)
#: Columns that copy the latent uniform of another column (near-duplicates in the real data).
TWINS: dict[str, str] = {
    **{f"{s}_{t}": f"{s}_AVG" for s in BUILDING_STATS for t in ("MODE", "MEDI")},
    "OBS_60_CNT_SOCIAL_CIRCLE": "OBS_30_CNT_SOCIAL_CIRCLE",
    "DEF_60_CNT_SOCIAL_CIRCLE": "DEF_30_CNT_SOCIAL_CIRCLE",
}
#: Columns that are missing together (regex-free: listed explicitly for readability).
COMISSING_GROUPS: dict[str, tuple[str, ...]] = {
    "building": tuple(f"{s}_{t}" for t in ("AVG", "MODE", "MEDI") for s in BUILDING_STATS)
    + ("FONDKAPREMONT_MODE", "HOUSETYPE_MODE", "TOTALAREA_MODE", "WALLSMATERIAL_MODE",
       "EMERGENCYSTATE_MODE"),
    "credit_bureau_requests": tuple(f"AMT_REQ_CREDIT_BUREAU_{p}" for p in
                                    ("HOUR", "DAY", "WEEK", "MON", "QRT", "YEAR")),
    "social_circle": ("OBS_30_CNT_SOCIAL_CIRCLE", "DEF_30_CNT_SOCIAL_CIRCLE",
                      "OBS_60_CNT_SOCIAL_CIRCLE", "DEF_60_CNT_SOCIAL_CIRCLE"),
}
#: Application fields whose distribution depends on being employed (DAYS_EMPLOYED is not
#: the placeholder): employer and occupation exist only for the employed.
EMPLOYMENT_CONDITIONAL = ("ORGANIZATION_TYPE", "OCCUPATION_TYPE", "FLAG_EMP_PHONE")
#: Side tables whose marginals are stored per stratum (a combination of category columns).
STRATA: dict[str, tuple[str, ...]] = {
    "bureau": ("CREDIT_ACTIVE",),
    "previous_application": ("NAME_CONTRACT_TYPE", "NAME_CONTRACT_STATUS"),
}


# --- the risk model shared with the generator -----------------------------------------------

def risk_features(app: pl.DataFrame) -> tuple[list[str], np.ndarray]:
    """Engineered application features of the planted risk model (names, float matrix).

    Used twice: fitted on the real training sample here, and applied to generated
    applications in :mod:`synthetic.generator`, so both sides compute exactly the same thing.
    """
    employed = pl.col("DAYS_EMPLOYED") != DAYS_EMPLOYED_PLACEHOLDER
    exprs = {
        "ext1": pl.col("EXT_SOURCE_1").fill_null(0.5),
        "ext2": pl.col("EXT_SOURCE_2").fill_null(0.5),
        "ext3": pl.col("EXT_SOURCE_3").fill_null(0.5),
        "ext1_missing": pl.col("EXT_SOURCE_1").is_null(),
        "ext3_missing": pl.col("EXT_SOURCE_3").is_null(),
        "age": -pl.col("DAYS_BIRTH") / DAYS_PER_YEAR,
        "years_employed": pl.when(employed).then(-pl.col("DAYS_EMPLOYED") / DAYS_PER_YEAR)
        .otherwise(0.0).clip(0, 40),
        "not_employed": ~employed,
        "credit_term": (pl.col("AMT_CREDIT") / pl.col("AMT_ANNUITY")).fill_null(20).clip(5, 45),
        "log_credit_income": (pl.col("AMT_CREDIT") / pl.col("AMT_INCOME_TOTAL")).log(),
        "goods_ratio": (pl.col("AMT_GOODS_PRICE") / pl.col("AMT_CREDIT")).fill_null(1).clip(0, 2),
        "male": pl.col("CODE_GENDER") == "M",
        "own_car": pl.col("FLAG_OWN_CAR") == "Y",
        "higher_education": pl.col("NAME_EDUCATION_TYPE").is_in(
            ["Higher education", "Academic degree"]),
        "lower_education": pl.col("NAME_EDUCATION_TYPE") == "Lower secondary",
        "region_rating": pl.col("REGION_RATING_CLIENT_W_CITY"),
        "id_publish_years": -pl.col("DAYS_ID_PUBLISH") / DAYS_PER_YEAR,
        "phone_change_years": (-pl.col("DAYS_LAST_PHONE_CHANGE") / DAYS_PER_YEAR).fill_null(2),
        "def_30_social": pl.col("DEF_30_CNT_SOCIAL_CIRCLE").fill_null(0).clip(0, 4),
        "revolving": pl.col("NAME_CONTRACT_TYPE") == "Revolving loans",
        "document_3": pl.col("FLAG_DOCUMENT_3"),
        "city_not_work": pl.col("REG_CITY_NOT_WORK_CITY"),
        "married": pl.col("NAME_FAMILY_STATUS") == "Married",
    }
    frame = app.select(**{k: e.cast(pl.Float64) for k, e in exprs.items()})
    return list(exprs), frame.fill_null(0).to_numpy()


def fit_risk_model(train: pl.DataFrame) -> dict[str, Any]:
    """Fit the logistic risk model on the real training sample; return its coefficients."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    names, x = risk_features(train)
    y = train[TARGET].to_numpy()
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    model = LogisticRegression(C=1.0, max_iter=2000).fit((x - mean) / scale, y)
    auc = roc_auc_score(y, model.decision_function((x - mean) / scale))
    return {"features": names, "mean": _r(mean), "scale": _r(scale),
            "coef": _r(model.coef_[0]), "intercept": _r(model.intercept_[0]),
            "in_sample_auc_real": _r(auc)}


# --- marginals ------------------------------------------------------------------------------

def _r(x: Any) -> Any:
    """Round floats (scalars or arrays) to 6 significant digits to keep the JSON small."""
    if isinstance(x, np.ndarray | list | tuple):
        return [_r(v) for v in x]
    x = float(x)
    return x if not math.isfinite(x) else float(f"{x:.6g}")


def marginal(values: pl.Series, n_quantiles: int, order: pl.Series | None = None,
             ) -> dict[str, Any]:
    """Summary of one column: missing share plus quantiles or value/level frequencies.

    Categories (and numeric columns with few distinct values) keep their frequencies; a
    missing category is a level of its own (``None``). ``order``, a 0/1 target aligned with
    ``values``, sorts category levels by default rate so the copula's latent axis means risk.
    """
    n = len(values)
    out: dict[str, Any] = {"missing": _r(values.null_count() / n) if n else 0.0}
    if values.dtype == pl.String:
        counts = (pl.DataFrame({"v": values, "t": order if order is not None else 0.0})
                  .group_by("v").agg(pl.len().alias("n"), pl.col("t").mean().alias("t")))
        counts = counts.sort(["t", "n", "v"] if order is not None else ["n", "v"],
                             descending=order is None, nulls_last=True)
        out["levels"] = counts["v"].to_list()
        out["freq"] = _r(counts["n"].to_numpy() / n)
        return out
    clean = values.drop_nulls().cast(pl.Float64)
    clean = clean.filter(clean.is_finite())
    if clean.len() == 0:
        out["missing"] = 1.0
        return out
    out["integral"] = bool((clean == clean.round(0)).all())
    distinct = clean.value_counts(sort=False).sort(clean.name)
    if distinct.height <= MAX_DISCRETE:
        out["values"] = _r(distinct[clean.name].to_numpy())
        out["freq"] = _r(distinct["count"].to_numpy() / clean.len())
    else:
        out["p"], out["q"] = quantile_grid(clean.to_numpy(), n_quantiles)
    out["zero"] = _r((clean == 0).mean())
    return out


def quantile_grid(x: np.ndarray, n_quantiles: int) -> tuple[list[float], list[float]]:
    """Quantiles for inverse-CDF sampling with linear interpolation between them.

    Extra points in both tails follow heavy tails more closely, and the two end points are
    moved (within the observed range) so that each end segment keeps the mean of the real
    values in it: interpolating up to a raw maximum such as a 117M income would inflate the
    mean several times over.
    """
    tail = [0.001, 0.005, 0.995, 0.999]
    p = np.unique(np.r_[np.linspace(0, 1, n_quantiles), tail])
    q = np.quantile(x, p)
    top, bottom = x[x >= q[-2]], x[x <= q[1]]
    q[-1] = np.clip(2 * top.mean() - q[-2], q[-2], q[-1])
    q[0] = np.clip(2 * bottom.mean() - q[1], q[0], q[1])
    return _r(p), _r(q)


def table_marginals(frame: pl.DataFrame, columns: list[str], n_quantiles: int,
                    target: pl.Series | None = None) -> dict[str, Any]:
    """Marginals of several columns of one frame."""
    return {c: marginal(frame[c], n_quantiles, target) for c in columns}


def with_derived(frame: pl.DataFrame, table: str) -> pl.DataFrame:
    """``frame`` plus the derived ratio columns of ``table`` (infinite ratios become null)."""
    derived = DERIVED.get(table, {})
    if not derived:
        return frame
    frame = frame.with_columns(**derived)
    return frame.with_columns(pl.when(pl.col(c).is_finite()).then(pl.col(c)).alias(c)
                              for c in derived)


# --- application ----------------------------------------------------------------------------

def normal_scores(values: pl.Series) -> np.ndarray:
    """Rank-based normal scores of a column (NaN where missing), for the copula correlation."""
    ranks = values.rank("average").cast(pl.Float64).to_numpy()
    n = values.len() - values.null_count()
    return ndtri(ranks / (n + 1))


def copula_correlation(apps: pl.DataFrame, marginals: dict[str, Any]) -> list[list[float]]:
    """Pairwise-complete correlation of normal scores, repaired to be positive definite."""
    import pandas as pd

    scores = {}
    for col in COPULA_COLUMNS:
        s = apps[col]
        if s.dtype == pl.String:  # code levels in the stored (risk) order
            levels = marginals[col]["levels"]
            s = s.replace_strict({lv: i for i, lv in enumerate(levels) if lv is not None},
                                 default=None, return_dtype=pl.Int32)
            if None in levels:  # the missing level keeps its place in the order
                s = s.fill_null(levels.index(None))
        scores[col] = normal_scores(s)
    corr = pd.DataFrame(scores).corr().fillna(0.0).to_numpy().copy()
    np.fill_diagonal(corr, 1.0)
    vals, vecs = np.linalg.eigh(corr)
    corr = vecs @ np.diag(np.clip(vals, 1e-4, None)) @ vecs.T
    d = np.sqrt(np.diag(corr))
    return [_r(row) for row in corr / np.outer(d, d)]


def comissing(apps: pl.DataFrame) -> dict[str, Any]:
    """Per co-missing group: its columns and the share of rows where all are missing."""
    out = {}
    for name, cols in COMISSING_GROUPS.items():
        all_missing = apps.select(pl.all_horizontal(pl.col(c).is_null() for c in cols)).to_series()
        out[name] = {"columns": list(cols), "all_missing": _r(all_missing.mean())}
    return out


def employment(apps: pl.DataFrame, train: pl.DataFrame) -> dict[str, Any]:
    """Placeholder share, its link to income type, and employment-conditional marginals."""
    placeholder = pl.col("DAYS_EMPLOYED") == DAYS_EMPLOYED_PLACEHOLDER
    by_type = apps.group_by("NAME_INCOME_TYPE").agg(placeholder.mean().alias("p"))
    employed = apps.filter(~placeholder)
    not_employed = apps.filter(placeholder)
    return {
        "placeholder_share": _r(apps.select(placeholder.mean()).item()),
        "placeholder_share_train": _r(train.select(placeholder.mean()).item()),
        "placeholder_by_income_type": {r["NAME_INCOME_TYPE"]: _r(r["p"])
                                       for r in by_type.iter_rows(named=True)},
        "conditional": {c: {"employed": marginal(employed[c], APP_QUANTILES),
                            "not_employed": marginal(not_employed[c], APP_QUANTILES)}
                        for c in EMPLOYMENT_CONDITIONAL},
        "days_employed": marginal(employed["DAYS_EMPLOYED"], APP_QUANTILES),
    }


def application_calibration(train: pl.DataFrame, test: pl.DataFrame) -> dict[str, Any]:
    """Everything about application rows: marginals, copula, co-missing groups, risk model."""
    apps = with_derived(pl.concat([train.drop(TARGET), test]), "application")
    # Category levels are sorted by the default rate of the training rows (see ``marginal``).
    target = pl.concat([train[TARGET].cast(pl.Float64),
                        pl.Series([None] * test.height, dtype=pl.Float64)])
    columns = [c for c in apps.columns if c != "SK_ID_CURR"]
    marg = table_marginals(apps, columns, APP_QUANTILES, target)
    emp = employment(apps, train)
    marg["DAYS_EMPLOYED"] = emp.pop("days_employed")  # quantiles of real day counts only
    apps_for_corr = apps.with_columns(
        pl.when(pl.col("DAYS_EMPLOYED") != DAYS_EMPLOYED_PLACEHOLDER)
        .then(pl.col("DAYS_EMPLOYED")).alias("DAYS_EMPLOYED"))
    return {
        "rows": {"train": train.height, "test": test.height},
        "default_rate": _r(train[TARGET].mean()),
        "columns": marg,
        "copula": {"columns": list(COPULA_COLUMNS),
                   "corr": copula_correlation(apps_for_corr, marg)},
        "twins": TWINS,
        "comissing": comissing(apps),
        "employment": emp,
        "risk_model": fit_risk_model(train),
    }


# --- side tables ----------------------------------------------------------------------------

def side_marginals(frame: pl.DataFrame, table: str) -> dict[str, Any]:
    """Marginals of a side table: overall, and per stratum where one is defined."""
    frame = with_derived(frame, table)
    keys = {k for k in TABLES[table].key} | {"SK_ID_CURR", "SK_ID_PREV", "SK_ID_BUREAU"}
    columns = [c for c in frame.columns if c not in keys]
    out: dict[str, Any] = {"rows": frame.height,
                           "columns": table_marginals(frame, columns, SIDE_QUANTILES)}
    if table in STRATA:
        by = STRATA[table]
        strata = {}
        for key, part in frame.group_by(by, maintain_order=True):
            if part.height >= MIN_STRATUM_ROWS:
                rest = [c for c in columns if c not in by]
                strata["|".join(map(str, key))] = {
                    "rows": part.height, "columns": table_marginals(part, rest, SIDE_QUANTILES)}
        out["strata"] = {"by": list(by), "values": strata}
    return out


def count_hist(counts: np.ndarray) -> dict[str, Any]:
    """Distribution of a count (rows per parent): mean and frequencies of 0..max."""
    freq = np.bincount(counts) / len(counts)
    return {"mean": _r(counts.mean()), "freq": _r(freq)}


def per_parent(child: pl.DataFrame, key: str, parents: pl.Series) -> np.ndarray:
    """Rows of ``child`` per value of ``parents`` (zeros included)."""
    n = child.filter(pl.col(key).is_in(parents.implode())).group_by(key).len()
    joined = pl.DataFrame({key: parents}).join(n, on=key, how="left")
    return joined["len"].fill_null(0).to_numpy()


def rows_per_client(tables: dict[str, pl.DataFrame], clients: pl.Series) -> dict[str, float]:
    """Mean rows per client of each side table (installments: the full-Kaggle figure)."""
    ids = clients.implode()
    bureau_ids = tables["bureau"].filter(pl.col("SK_ID_CURR").is_in(ids))["SK_ID_BUREAU"]
    out = {name: tables[name].filter(pl.col("SK_ID_CURR").is_in(ids)).height / clients.len()
           for name in ("bureau", "previous_application", "POS_CASH_balance",
                        "credit_card_balance")}
    bb = tables["bureau_balance"].filter(pl.col("SK_ID_BUREAU").is_in(bureau_ids.implode()))
    out["bureau_balance"] = bb.height / clients.len()
    # The installments sample is a random 20,000 rows: only the full-Kaggle count is usable.
    out["installments_payments"] = KAGGLE_INSTALLMENTS / KAGGLE_CLIENTS
    return {k: _r(v) for k, v in out.items()}


def history_calibration(tables: dict[str, pl.DataFrame], train_ids: pl.Series,
                        test_ids: pl.Series) -> dict[str, Any]:
    """Rows-per-parent distributions of the side tables, over the clients given."""
    # Per-client counts follow the training clients (as full Kaggle: ~4.7 bureau and ~4.6
    # previous applications); per-record ratios use all 10,000 complete clients, because the
    # 5,000 training clients alone show an atypically thin bureau_balance (10 months per
    # bureau record against 16 in full Kaggle and 25 over all complete clients).
    clients = pl.concat([train_ids, test_ids])
    bureau = tables["bureau"].filter(pl.col("SK_ID_CURR").is_in(clients.implode()))
    prev = tables["previous_application"].filter(pl.col("SK_ID_CURR").is_in(clients.implode()))
    pos, cc = tables["POS_CASH_balance"], tables["credit_card_balance"]
    bb = tables["bureau_balance"]
    approved = prev.filter(pl.col("NAME_CONTRACT_STATUS") == "Approved")
    instalment_loans = approved.filter(
        pl.col("NAME_CONTRACT_TYPE").is_in(["Cash loans", "Consumer loans"]))
    cards = approved.filter(pl.col("NAME_CONTRACT_TYPE") == "Revolving loans")
    bb_rows = per_parent(bb, "SK_ID_BUREAU", bureau["SK_ID_BUREAU"])
    pos_rows = per_parent(pos, "SK_ID_PREV", instalment_loans["SK_ID_PREV"])
    cc_rows = per_parent(cc, "SK_ID_PREV", cards["SK_ID_PREV"])
    # Card histories whose SK_ID_PREV is absent from previous_application (a Kaggle quirk):
    # the generator adds them as approved card applications to keep the card rows per client.
    train_cc = cc.filter(pl.col("SK_ID_CURR").is_in(train_ids.implode()))["SK_ID_PREV"].unique()
    orphan_cards = (~train_cc.is_in(prev["SK_ID_PREV"].implode())).sum()
    # Months between the bureau credit and the application: bureau_balance spans at most this.
    span = (bureau["DAYS_CREDIT"] / -DAYS_PER_MONTH).floor() + 1
    return {
        "clients": clients.len(),
        "rows_per_client": rows_per_client(tables, clients),
        "rows_per_client_train_only": rows_per_client(tables, train_ids),
        "bureau_per_client": count_hist(per_parent(bureau, "SK_ID_CURR", train_ids)),
        "previous_per_client": count_hist(per_parent(prev, "SK_ID_CURR", train_ids)),
        "bureau_balance_per_bureau": {"mean": _r(bb_rows.mean()),
                                      "share_with_rows": _r((bb_rows > 0).mean()),
                                      "mean_span_months": _r(span.mean())},
        "pos_per_instalment_loan": {"mean": _r(pos_rows.mean()),
                                    "share_with_rows": _r((pos_rows > 0).mean())},
        "cc_per_card": {"mean": _r(cc_rows.mean()), "share_with_rows": _r((cc_rows > 0).mean()),
                        "unlisted_cards_per_client": _r(orphan_cards / train_ids.len())},
    }


def complete_clients(train: pl.DataFrame, test: pl.DataFrame) -> tuple[pl.Series, pl.Series]:
    """Clients whose side tables are complete in the samples (first 5,000 train and test)."""
    lo, hi = COMPLETE_TRAIN_IDS
    train_ids = train.filter(pl.col("SK_ID_CURR").is_between(lo, hi))["SK_ID_CURR"]
    test_ids = test["SK_ID_CURR"].sort().head(COMPLETE_TEST_CLIENTS)
    return train_ids, test_ids


def calibrate(data_dir: Path | str) -> dict[str, Any]:
    """Compute the whole calibration from a folder of real samples."""
    tables = {name: read_table(data_dir, name) for name in TABLES}
    train, test = tables["application_train"], tables["application_test"]
    return {
        "source": "Home Credit Default Risk samples (aggregates only, no rows)",
        "application": application_calibration(train, test),
        "history": history_calibration(tables, *complete_clients(train, test)),
        "tables": {name: side_marginals(tables[name], name)
                   for name in TABLES if not name.startswith("application")},
    }


def load(path: Path | str = CALIBRATION_PATH) -> dict[str, Any]:
    """Read a calibration file written by :func:`main`."""
    return json.loads(Path(path).read_text())


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point: compute the calibration and write it as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True,
                        help="folder of real Home Credit samples")
    parser.add_argument("--out", type=Path, default=CALIBRATION_PATH)
    args = parser.parse_args(argv)
    text = json.dumps(calibrate(args.data_dir), separators=(",", ":"))
    args.out.write_text(text + "\n")
    print(f"wrote {args.out} ({len(text) / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
