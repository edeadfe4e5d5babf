"""Compute the calibration of the synthetic-data generator from the real Home Credit samples.

``python -m synthetic.calibrate --data-dir ../shared/data/homecredit`` reads the real samples
and writes ``synthetic/calibration.json`` (:class:`synthetic.calibration.Calibration`). The
file holds only aggregates (missing shares, quantiles, category frequencies, a correlation
matrix, row counts per parent and the coefficients of a small logistic risk model): never a
row of the real data, which stays under the Kaggle rules.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import polars as pl
from scipy.special import ndtri

from scoring.names import DAYS_PER_MONTH
from scoring.schema import DAYS_EMPLOYED_PLACEHOLDER, KEY, TABLES, TARGET
from scoring.tables import read_table
from synthetic.calibration import (
    CALIBRATION_PATH,
    ApplicationCalibration,
    BureauBalanceRows,
    ByEmployment,
    Calibration,
    CardRows,
    ChildRows,
    ComissingGroup,
    Copula,
    CountDistribution,
    Employment,
    HistoryCalibration,
    RiskModel,
    SampleRows,
    Strata,
    TableCalibration,
    risk_features,
)
from synthetic.marginals import ColumnCalibration, fit_column, rounded

#: Quantile grid sizes: fine for the application (copula marginals), coarser for side tables
#: so that the JSON stays small.
APP_QUANTILES = 101
SIDE_QUANTILES = 41
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



# --- application --------------------------------------------------------------------------------

def fit_risk_model(train: pl.DataFrame) -> RiskModel:
    """Fit the logistic risk model on the real training sample; return its coefficients."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    names, x = risk_features(train)
    y = train[TARGET].to_numpy()
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    model = LogisticRegression(C=1.0, max_iter=2000).fit((x - mean) / scale, y)
    auc = roc_auc_score(y, model.decision_function((x - mean) / scale))
    return RiskModel(tuple(names), rounded(mean), rounded(scale), rounded(model.coef_[0]),
                     rounded(model.intercept_[0]), rounded(auc))


def table_marginals(frame: pl.DataFrame, columns: list[str], n_quantiles: int,
                    target: pl.Series | None = None) -> dict[str, ColumnCalibration]:
    """Marginals of several columns of one frame."""
    return {c: fit_column(frame[c], n_quantiles, target) for c in columns}


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


def copula_correlation(apps: pl.DataFrame, marginals: dict[str, ColumnCalibration],
                       ) -> tuple[tuple[float, ...], ...]:
    """Pairwise-complete correlation of normal scores, repaired to be positive definite."""
    import pandas as pd

    scores = {}
    for col in COPULA_COLUMNS:
        s = apps[col]
        if s.dtype == pl.String:  # code levels in the stored (risk) order
            levels = marginals[col].levels
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
    return tuple(rounded(row) for row in corr / np.outer(d, d))


def comissing(apps: pl.DataFrame) -> dict[str, ComissingGroup]:
    """Per co-missing group: its columns and the share of rows where all are missing."""
    out = {}
    for name, cols in COMISSING_GROUPS.items():
        all_missing = apps.select(pl.all_horizontal(pl.col(c).is_null() for c in cols)).to_series()
        out[name] = ComissingGroup(cols, rounded(all_missing.mean()))
    return out


def employment(apps: pl.DataFrame, train: pl.DataFrame) -> Employment:
    """Placeholder share, its link to income type, and employment-conditional marginals."""
    placeholder = pl.col("DAYS_EMPLOYED") == DAYS_EMPLOYED_PLACEHOLDER
    by_type = apps.group_by("NAME_INCOME_TYPE").agg(placeholder.mean().alias("p"))
    employed = apps.filter(~placeholder)
    not_employed = apps.filter(placeholder)
    return Employment(
        placeholder_share=rounded(apps.select(placeholder.mean()).item()),
        placeholder_share_train=rounded(train.select(placeholder.mean()).item()),
        placeholder_by_income_type={r["NAME_INCOME_TYPE"]: rounded(r["p"])
                                    for r in by_type.iter_rows(named=True)},
        conditional={c: ByEmployment(fit_column(employed[c], APP_QUANTILES),
                                     fit_column(not_employed[c], APP_QUANTILES))
                     for c in EMPLOYMENT_CONDITIONAL},
    )


def application_calibration(train: pl.DataFrame, test: pl.DataFrame,
                            ) -> ApplicationCalibration:
    """Everything about application rows: marginals, copula, co-missing groups, risk model."""
    apps = with_derived(pl.concat([train.drop(TARGET), test]), "application")
    # Category levels are sorted by the default rate of the training rows (see ``fit_column``).
    target = pl.concat([train[TARGET].cast(pl.Float64),
                        pl.Series([None] * test.height, dtype=pl.Float64)])
    columns = [c for c in apps.columns if c != KEY]
    marg = table_marginals(apps, columns, APP_QUANTILES, target)
    # DAYS_EMPLOYED: real day counts only (the placeholder is drawn by income type)
    days_employed = pl.when(pl.col("DAYS_EMPLOYED") != DAYS_EMPLOYED_PLACEHOLDER).then(
        pl.col("DAYS_EMPLOYED"))
    apps_for_corr = apps.with_columns(days_employed.alias("DAYS_EMPLOYED"))
    marg["DAYS_EMPLOYED"] = fit_column(apps_for_corr["DAYS_EMPLOYED"].drop_nulls(),
                                       APP_QUANTILES)
    return ApplicationCalibration(
        rows=SampleRows(train.height, test.height),
        default_rate=rounded(train[TARGET].mean()),
        columns=marg,
        copula=Copula(COPULA_COLUMNS, copula_correlation(apps_for_corr, marg)),
        twins=TWINS,
        comissing=comissing(apps),
        employment=employment(apps, train),
        risk_model=fit_risk_model(train),
    )


# --- side tables ----------------------------------------------------------------------------

def side_marginals(frame: pl.DataFrame, table: str) -> TableCalibration:
    """Marginals of a side table: overall, and per stratum where one is defined."""
    frame = with_derived(frame, table)
    keys = {k for k in TABLES[table].key} | {KEY, "SK_ID_PREV", "SK_ID_BUREAU"}
    columns = [c for c in frame.columns if c not in keys]
    overall = table_marginals(frame, columns, SIDE_QUANTILES)
    if table not in STRATA:
        return TableCalibration(frame.height, overall)
    by = STRATA[table]
    strata = {}
    for key, part in frame.group_by(by, maintain_order=True):
        if part.height >= MIN_STRATUM_ROWS:
            rest = [c for c in columns if c not in by]
            strata["|".join(map(str, key))] = TableCalibration(
                part.height, table_marginals(part, rest, SIDE_QUANTILES))
    return TableCalibration(frame.height, overall, Strata(by, strata))


def count_hist(counts: np.ndarray) -> CountDistribution:
    """Distribution of a count (rows per parent): mean and frequencies of 0..max."""
    freq = np.bincount(counts) / len(counts)
    return CountDistribution(rounded(counts.mean()), rounded(freq))


def per_parent(child: pl.DataFrame, key: str, parents: pl.Series) -> np.ndarray:
    """Rows of ``child`` per value of ``parents`` (zeros included)."""
    n = child.filter(pl.col(key).is_in(parents.implode())).group_by(key).len()
    joined = pl.DataFrame({key: parents}).join(n, on=key, how="left")
    return joined["len"].fill_null(0).to_numpy()


def rows_per_client(tables: dict[str, pl.DataFrame], clients: pl.Series) -> dict[str, float]:
    """Mean rows per client of each side table (installments: the full-Kaggle figure)."""
    ids = clients.implode()
    bureau_ids = tables["bureau"].filter(pl.col(KEY).is_in(ids))["SK_ID_BUREAU"]
    out = {name: tables[name].filter(pl.col(KEY).is_in(ids)).height / clients.len()
           for name in ("bureau", "previous_application", "POS_CASH_balance",
                        "credit_card_balance")}
    bb = tables["bureau_balance"].filter(pl.col("SK_ID_BUREAU").is_in(bureau_ids.implode()))
    out["bureau_balance"] = bb.height / clients.len()
    # The installments sample is a random 20,000 rows: only the full-Kaggle count is usable.
    out["installments_payments"] = KAGGLE_INSTALLMENTS / KAGGLE_CLIENTS
    return {k: rounded(v) for k, v in out.items()}


def history_calibration(tables: dict[str, pl.DataFrame], train_ids: pl.Series,
                        test_ids: pl.Series) -> HistoryCalibration:
    """Rows-per-parent distributions of the side tables, over the clients given."""
    # Per-client counts follow the training clients (as full Kaggle: ~4.7 bureau and ~4.6
    # previous applications); per-record ratios use all 10,000 complete clients, because the
    # 5,000 training clients alone show an atypically thin bureau_balance (10 months per
    # bureau record against 16 in full Kaggle and 25 over all complete clients).
    clients = pl.concat([train_ids, test_ids])
    bureau = tables["bureau"].filter(pl.col(KEY).is_in(clients.implode()))
    prev = tables["previous_application"].filter(pl.col(KEY).is_in(clients.implode()))
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
    train_cc = cc.filter(pl.col(KEY).is_in(train_ids.implode()))["SK_ID_PREV"].unique()
    orphan_cards = (~train_cc.is_in(prev["SK_ID_PREV"].implode())).sum()
    # Months between the bureau credit and the application: bureau_balance spans at most this.
    span = (bureau["DAYS_CREDIT"] / -DAYS_PER_MONTH).floor() + 1
    return HistoryCalibration(
        clients=clients.len(),
        rows_per_client=rows_per_client(tables, clients),
        rows_per_client_train_only=rows_per_client(tables, train_ids),
        bureau_per_client=count_hist(per_parent(bureau, KEY, train_ids)),
        previous_per_client=count_hist(per_parent(prev, KEY, train_ids)),
        bureau_balance_per_bureau=BureauBalanceRows(
            rounded(bb_rows.mean()), rounded((bb_rows > 0).mean()), rounded(span.mean())),
        pos_per_instalment_loan=ChildRows(rounded(pos_rows.mean()),
                                          rounded((pos_rows > 0).mean())),
        cc_per_card=CardRows(rounded(cc_rows.mean()), rounded((cc_rows > 0).mean()),
                             rounded(orphan_cards / train_ids.len())),
    )


def complete_clients(train: pl.DataFrame, test: pl.DataFrame) -> tuple[pl.Series, pl.Series]:
    """Clients whose side tables are complete in the samples (first 5,000 train and test)."""
    lo, hi = COMPLETE_TRAIN_IDS
    train_ids = train.filter(pl.col(KEY).is_between(lo, hi))[KEY]
    test_ids = test[KEY].sort().head(COMPLETE_TEST_CLIENTS)
    return train_ids, test_ids


def calibrate(data_dir: Path | str) -> Calibration:
    """Compute the whole calibration from a folder of real samples."""
    tables = {name: read_table(data_dir, name) for name in TABLES}
    train, test = tables["application_train"], tables["application_test"]
    return Calibration(
        source="Home Credit Default Risk samples (aggregates only, no rows)",
        application=application_calibration(train, test),
        history=history_calibration(tables, *complete_clients(train, test)),
        tables={name: side_marginals(tables[name], name)
                for name in TABLES if not name.startswith("application")},
    )


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point: compute the calibration and write it as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True,
                        help="folder of real Home Credit samples")
    parser.add_argument("--out", type=Path, default=CALIBRATION_PATH)
    args = parser.parse_args(argv)
    calibrate(args.data_dir).save(args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
