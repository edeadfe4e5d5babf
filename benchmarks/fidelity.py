"""How close is the synthetic data to the real samples? A markdown report.

    python benchmarks/fidelity.py --real-dir ../shared/data/homecredit [--out report.md]

Generates a synthetic set with as many clients as the real application files (or reads one
with ``--synthetic-dir``), then compares per main column the mean, quartiles, missing share
and top category shares, the side-table rows per client, and the ROC AUC of one fixed
LightGBM configuration (5-fold stratified CV) on application columns only and on application
columns plus simple side-table aggregates. Real AUCs use the 5,000 training clients
100002-105849 whose side tables are complete; synthetic AUCs use the same number of training
clients, and all synthetic training clients.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from results import markdown, record  # noqa: E402  (benchmarks/ is this script's folder)

from scoring.schema import TABLES, TARGET  # noqa: E402
from scoring.tables import read_table  # noqa: E402
from synthetic.calibrate import KAGGLE_CLIENTS, KAGGLE_INSTALLMENTS  # noqa: E402

NUMERIC = ("AMT_INCOME_TOTAL", "AMT_CREDIT", "AMT_ANNUITY", "AMT_GOODS_PRICE", "DAYS_BIRTH",
           "DAYS_EMPLOYED", "DAYS_REGISTRATION", "DAYS_ID_PUBLISH", "OWN_CAR_AGE",
           "CNT_CHILDREN", "CNT_FAM_MEMBERS", "REGION_POPULATION_RELATIVE", "EXT_SOURCE_1",
           "EXT_SOURCE_2", "EXT_SOURCE_3", "APARTMENTS_AVG", "TOTALAREA_MODE",
           "OBS_30_CNT_SOCIAL_CIRCLE", "DAYS_LAST_PHONE_CHANGE", "AMT_REQ_CREDIT_BUREAU_YEAR")
CATEGORICAL = ("NAME_CONTRACT_TYPE", "CODE_GENDER", "FLAG_OWN_CAR", "NAME_INCOME_TYPE",
               "NAME_EDUCATION_TYPE", "NAME_FAMILY_STATUS", "OCCUPATION_TYPE",
               "ORGANIZATION_TYPE", "WALLSMATERIAL_MODE")
SIDE_NUMERIC = {
    "bureau": ("DAYS_CREDIT", "DAYS_CREDIT_ENDDATE", "AMT_CREDIT_SUM", "AMT_CREDIT_SUM_DEBT",
               "CREDIT_DAY_OVERDUE"),
    "previous_application": ("AMT_CREDIT", "AMT_ANNUITY", "CNT_PAYMENT", "DAYS_DECISION"),
    "POS_CASH_balance": ("MONTHS_BALANCE", "CNT_INSTALMENT_FUTURE", "SK_DPD"),
    "installments_payments": ("DAYS_INSTALMENT", "AMT_INSTALMENT", "AMT_PAYMENT"),
    "credit_card_balance": ("MONTHS_BALANCE", "AMT_BALANCE", "AMT_CREDIT_LIMIT_ACTUAL",
                            "SK_DPD"),
}
SIDE_CATEGORICAL = {
    "bureau": ("CREDIT_ACTIVE", "CREDIT_TYPE"), "bureau_balance": ("STATUS",),
    "previous_application": ("NAME_CONTRACT_TYPE", "NAME_CONTRACT_STATUS", "NAME_PORTFOLIO"),
    "POS_CASH_balance": ("NAME_CONTRACT_STATUS",), "credit_card_balance": ("NAME_CONTRACT_STATUS",),
}
COMPLETE_TRAIN_IDS = (100002, 105849)
#: The one LightGBM configuration used for every AUC in the report.
LGBM_PARAMS = dict(n_estimators=300, learning_rate=0.05, num_leaves=31, min_child_samples=40,
                   subsample=0.8, subsample_freq=1, colsample_bytree=0.8, reg_lambda=1.0,
                   n_jobs=2, random_state=0, verbose=-1)
FOLDS = 5


# --- side-table aggregates ----------------------------------------------------------------

def side_aggregates(tables: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Simple per-client aggregates of the side tables (counts, means, maxima, shares)."""
    bureau, bb = tables["bureau"], tables["bureau_balance"]
    late = bb.group_by("SK_ID_BUREAU").agg(
        pl.col("STATUS").is_in(["1", "2", "3", "4", "5"]).mean().alias("late_share"))
    parts = [
        bureau.join(late, on="SK_ID_BUREAU", how="left").group_by("SK_ID_CURR").agg(
            pl.len().alias("bureau_count"),
            (pl.col("CREDIT_ACTIVE") == "Active").sum().alias("bureau_active"),
            pl.col("CREDIT_DAY_OVERDUE").max().alias("bureau_max_days_overdue"),
            pl.col("AMT_CREDIT_SUM_OVERDUE").sum().alias("bureau_sum_overdue"),
            pl.col("AMT_CREDIT_MAX_OVERDUE").max().alias("bureau_max_overdue"),
            pl.col("AMT_CREDIT_SUM_DEBT").sum().alias("bureau_debt"),
            pl.col("DAYS_CREDIT").mean().alias("bureau_days_credit"),
            pl.col("late_share").mean().alias("bureau_balance_late_share")),
        tables["previous_application"].group_by("SK_ID_CURR").agg(
            pl.len().alias("prev_count"),
            (pl.col("NAME_CONTRACT_STATUS") == "Refused").mean().alias("prev_refused_share"),
            (pl.col("NAME_CONTRACT_STATUS") == "Approved").sum().alias("prev_approved"),
            pl.col("AMT_CREDIT").mean().alias("prev_credit_mean"),
            pl.col("DAYS_DECISION").max().alias("prev_last_decision")),
        tables["POS_CASH_balance"].group_by("SK_ID_CURR").agg(
            pl.len().alias("pos_months"), pl.col("SK_DPD").mean().alias("pos_dpd_mean"),
            pl.col("SK_DPD").max().alias("pos_dpd_max"),
            (pl.col("SK_DPD") > 0).mean().alias("pos_late_share")),
        tables["installments_payments"].group_by("SK_ID_CURR").agg(
            pl.len().alias("inst_count"),
            (pl.col("DAYS_ENTRY_PAYMENT") - pl.col("DAYS_INSTALMENT")).mean().alias("inst_delay"),
            (pl.col("DAYS_ENTRY_PAYMENT") > pl.col("DAYS_INSTALMENT")).mean()
            .alias("inst_late_share"),
            (pl.col("AMT_PAYMENT") < pl.col("AMT_INSTALMENT") - 1).mean()
            .alias("inst_short_share")),
        tables["credit_card_balance"].group_by("SK_ID_CURR").agg(
            pl.len().alias("cc_months"),
            (pl.col("AMT_BALANCE") / pl.col("AMT_CREDIT_LIMIT_ACTUAL").replace(0, None)).mean()
            .alias("cc_utilisation"),
            pl.col("SK_DPD").max().alias("cc_dpd_max")),
    ]
    out = parts[0]
    for part in parts[1:]:
        out = out.join(part, on="SK_ID_CURR", how="full", coalesce=True)
    return out


# --- model ----------------------------------------------------------------------------------

def cv_auc(frame: pl.DataFrame) -> float:
    """Mean ROC AUC of the fixed LightGBM over stratified folds (string columns categorical)."""
    import lightgbm as lgb
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    x = (frame.drop(["SK_ID_CURR", TARGET])
         .with_columns(pl.col(pl.String).cast(pl.Categorical)).to_pandas())
    y = frame[TARGET].to_numpy()
    scores = []
    for fit_idx, test_idx in StratifiedKFold(FOLDS, shuffle=True, random_state=0).split(x, y):
        model = lgb.LGBMClassifier(**LGBM_PARAMS)
        model.fit(x.iloc[fit_idx], y[fit_idx])
        scores.append(roc_auc_score(y[test_idx], model.predict_proba(x.iloc[test_idx])[:, 1]))
    return float(np.mean(scores))


def auc_pair(tables: dict[str, pl.DataFrame], train: pl.DataFrame) -> tuple[float, float]:
    """AUC on application columns only, and with side-table aggregates joined."""
    with_side = train.join(side_aggregates(tables), on="SK_ID_CURR", how="left")
    return cv_auc(train), cv_auc(with_side)


# --- distribution comparison -------------------------------------------------------------

def spearman(frame: pl.DataFrame, a: str, b: str) -> float:
    return frame.select(pl.corr(a, b, method="spearman")).item()


def headline_rows(real: dict[str, pl.DataFrame], syn: dict[str, pl.DataFrame]) -> list[dict]:
    """Single figures, real and synthetic: default rate, placeholder share, correlations."""
    def apps(tables: dict[str, pl.DataFrame]) -> pl.DataFrame:
        return pl.concat([tables["application_train"].drop(TARGET), tables["application_test"]])

    figures = {
        "default rate (train)": lambda t: t["application_train"][TARGET].mean(),
        "DAYS_EMPLOYED = 365243 share": lambda t: (apps(t)["DAYS_EMPLOYED"] == 365243).mean(),
        "Spearman AMT_CREDIT ~ AMT_ANNUITY": lambda t: spearman(apps(t), "AMT_CREDIT",
                                                                 "AMT_ANNUITY"),
        "Spearman DAYS_BIRTH ~ EXT_SOURCE_1": lambda t: spearman(apps(t), "DAYS_BIRTH",
                                                                  "EXT_SOURCE_1"),
        "Spearman AMT_INCOME_TOTAL ~ AMT_CREDIT": lambda t: spearman(apps(t), "AMT_INCOME_TOTAL",
                                                                      "AMT_CREDIT"),
    }
    return [{"figure": name, "real": round(f(real), 4), "synthetic": round(f(syn), 4)}
            for name, f in figures.items()]


def fmt(x: float | None) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "-"
    return f"{x:,.4g}" if abs(x) < 1e5 else f"{x:,.0f}"


def numeric_rows(real: pl.DataFrame, syn: pl.DataFrame, columns: tuple[str, ...] = NUMERIC,
                 prefix: str = "") -> list[str]:
    """Markdown rows: mean, quartiles and missing share per numeric column, real | synthetic."""
    rows = []
    for c in columns:
        cells = []
        for f in (real, syn):
            s = f[c].cast(pl.Float64)
            if c == "DAYS_EMPLOYED":
                s = s.filter(s != 365243)
            cells.append([s.mean(), s.quantile(0.25), s.median(), s.quantile(0.75),
                          f[c].null_count() / f.height])
        mixed = [f"{fmt(a)} / {fmt(b)}" for a, b in zip(cells[0][:4], cells[1][:4], strict=True)]
        rows.append(f"| {prefix}{c} | " + " | ".join(mixed)
                    + f" | {cells[0][4]:.3f} / {cells[1][4]:.3f} |")
    return rows


def top_shares(s: pl.Series, k: int = 3) -> list[tuple[str, float]]:
    counts = s.fill_null("(missing)").value_counts(sort=True).head(k)
    return [(v, n / s.len()) for v, n in counts.iter_rows()]


def category_rows(real: pl.DataFrame, syn: pl.DataFrame,
                  columns: tuple[str, ...] = CATEGORICAL, prefix: str = "") -> list[str]:
    """Markdown rows: the real top-3 levels of each category column and their shares."""
    rows = []
    for c in columns:
        syn_share = dict(top_shares(syn[c], 1000))
        cells = [f"{v}: {p:.3f} / {syn_share.get(v, 0.0):.3f}" for v, p in top_shares(real[c])]
        rows.append(f"| {prefix}{c} | " + "; ".join(cells) + " |")
    return rows


def side_rows(real: dict[str, pl.DataFrame], syn: dict[str, pl.DataFrame]) -> list[str]:
    """Markdown sections comparing the main side-table columns (all rows of each file)."""
    lines = ["| column | mean | 25% | median | 75% | missing share |", "|---|---|---|---|---|---|"]
    for table, columns in SIDE_NUMERIC.items():
        lines += numeric_rows(real[table], syn[table], columns, f"{table}.")
    lines += ["", "| column | top-3 real levels: share real / synthetic |", "|---|---|"]
    for table, columns in SIDE_CATEGORICAL.items():
        lines += category_rows(real[table], syn[table], columns, f"{table}.")
    lines += ["", "| instalment rows | real (20,000-row sample) | synthetic |", "|---|---|---|"]
    paid = (pl.col("DAYS_ENTRY_PAYMENT") > pl.col("DAYS_INSTALMENT")).mean()
    short = (pl.col("AMT_PAYMENT") < pl.col("AMT_INSTALMENT") - 0.01).mean()
    version0 = (pl.col("NUM_INSTALMENT_VERSION") == 0).mean()
    for name, expr in (("paid late", paid), ("paid short", short), ("version 0 (cards)", version0)):
        a, b = (t["installments_payments"].drop_nulls().select(expr).item() for t in (real, syn))
        lines.append(f"| {name} | {a:.3f} | {b:.3f} |")
    return lines


def rows_per_client(tables: dict[str, pl.DataFrame], clients: pl.Series) -> dict[str, float]:
    """Side-table rows per client for the given clients (bureau_balance via bureau)."""
    ids = clients.implode()
    out = {}
    for name in TABLES:
        if name.startswith("application") or name == "bureau_balance":
            continue
        out[name] = tables[name].filter(pl.col("SK_ID_CURR").is_in(ids)).height / clients.len()
    bureau = tables["bureau"].filter(pl.col("SK_ID_CURR").is_in(ids))
    bb = tables["bureau_balance"].filter(pl.col("SK_ID_BUREAU").is_in(
        bureau["SK_ID_BUREAU"].implode()))
    out["bureau_balance"] = bb.height / clients.len()
    out["bureau_balance per bureau record"] = bb.height / max(bureau.height, 1)
    return out


# --- report -----------------------------------------------------------------------------------

def load(folder: Path) -> dict[str, pl.DataFrame]:
    return {name: read_table(folder, name) for name in TABLES}


def report(real_dir: Path, syn_dir: Path, generate_seconds: float | None,
           with_auc: bool = True) -> tuple[str, list[dict]]:
    """The markdown fidelity report, and its headline figures."""
    real, syn = load(real_dir), load(syn_dir)
    headline = headline_rows(real, syn)
    real_apps = pl.concat([real["application_train"].drop(TARGET), real["application_test"]])
    syn_apps = pl.concat([syn["application_train"].drop(TARGET), syn["application_test"]])
    lo, hi = COMPLETE_TRAIN_IDS
    real_train = real["application_train"].filter(pl.col("SK_ID_CURR").is_between(lo, hi))
    syn_train = syn["application_train"]
    syn_small = syn_train.head(real_train.height)
    lines = ["# Synthetic data fidelity", "",
             f"Real: {real_dir} ({real_apps.height:,} applications); synthetic: {syn_dir} "
             f"({syn_apps.height:,} applications"
             + (f", generated in {generate_seconds:.1f} s" if generate_seconds else "") + ").",
             "", "## Headline figures (real / synthetic)", "",
             markdown(headline),
             "", "## Application numerics: real / synthetic", "",
             "| column | mean | 25% | median | 75% | missing share |", "|---|---|---|---|---|---|",
             *numeric_rows(real_apps, syn_apps),
             "", "## Application categories: top-3 real levels, share real / synthetic", "",
             "| column | levels |", "|---|---|", *category_rows(real_apps, syn_apps),
             "", "## Side tables: real / synthetic", "", *side_rows(real, syn),
             "", "## Side-table rows per client", "",
             "Real: the 5,000 training clients 100002-105849, and all 10,000 clients with complete "
             "side tables (with the first 5,000 test clients); installments_payments is only a "
             "random 20,000-row sample there, so its real figure is full Kaggle's. Synthetic: all "
             "clients.", "",
             "| table | real (5,000 train) | real (10,000 complete) | synthetic |",
             "|---|---|---|---|"]
    complete = pl.concat([real_train["SK_ID_CURR"],
                          real["application_test"]["SK_ID_CURR"].sort().head(5000)])
    per_client = [rows_per_client(real, real_train["SK_ID_CURR"]),
                  rows_per_client(real, complete), rows_per_client(syn, syn_apps["SK_ID_CURR"])]
    for figures in per_client[:2]:
        figures["installments_payments"] = KAGGLE_INSTALLMENTS / KAGGLE_CLIENTS
    lines += [f"| {t} | " + " | ".join(f"{f[t]:.2f}" for f in per_client) + " |"
              for t in per_client[0]]
    if not with_auc:
        return "\n".join(lines) + "\n", headline
    t0 = time.perf_counter()
    aucs = {"real (5,000 complete clients)": auc_pair(real, real_train),
            f"synthetic ({syn_small.height:,} clients)": auc_pair(syn, syn_small),
            f"synthetic ({syn_train.height:,} clients)": auc_pair(syn, syn_train)}
    lines += ["", "## ROC AUC of one fixed LightGBM (5-fold stratified CV)", "",
              f"Parameters: `{LGBM_PARAMS}`; side aggregates: counts, overdue and late "
              "shares, refusals, days past due, instalment delays, card utilisation.", "",
              "| data | application only | + side aggregates | gain |", "|---|---|---|---|"]
    lines += [f"| {k} | {a:.4f} | {b:.4f} | {b - a:+.4f} |" for k, (a, b) in aucs.items()]
    lines += ["", f"(model fits: {time.perf_counter() - t0:.0f} s)"]
    return "\n".join(lines) + "\n", headline


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real-dir", type=Path, default=Path("../shared/data/homecredit"))
    parser.add_argument("--synthetic-dir", type=Path, default=None,
                        help="an existing synthetic folder (default: generate one)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="also write the report here")
    parser.add_argument("--no-auc", action="store_true", help="skip the model fits (minutes)")
    args = parser.parse_args(argv)
    seconds = None
    with tempfile.TemporaryDirectory(prefix="fidelity-") as tmp:
        syn_dir = args.synthetic_dir
        if syn_dir is None:
            from synthetic.generator import generate

            real_train = read_table(args.real_dir, "application_train")
            real_test = read_table(args.real_dir, "application_test")
            n = real_train.height + real_test.height
            syn_dir = Path(tmp)
            t0 = time.perf_counter()
            generate(n, seed=args.seed, out_dir=syn_dir, fmt="parquet",
                     test_share=real_test.height / n)
            seconds = time.perf_counter() - t0
        text, headline = report(args.real_dir, syn_dir, seconds, with_auc=not args.no_auc)
    print(text)
    record("fidelity", headline, script=__file__,
           notes=f"seed {args.seed}; the full report: `--out report.md`")
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
