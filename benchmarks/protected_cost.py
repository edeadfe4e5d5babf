"""What does leaving out the protected attributes cost? 5-fold CV on the real samples.

One fixed LightGBM configuration (as ``real_data_check.py``), the same stratified folds (seed
0) for every variant: every feature, the default (no ``CODE_GENDER`` / ``NAME_FAMILY_STATUS``),
and also without age (``DAYS_BIRTH`` and the ratios computed from it). Reported per variant:
mean ROC AUC over folds and its paired difference against "every feature", the business cost
per application (10 x FN + 1 x FP) with each fold's threshold chosen on the other folds'
out-of-fold predictions, the refusal rate, and the lowest adverse-impact ratio per attribute.
Two populations: the 5,000 clients whose side tables are complete (every feature) and all
24,587 labelled clients (application features only: the others have no side-table rows).

    .venv/bin/python benchmarks/protected_cost.py [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scoring import features as F  # noqa: E402
from scoring.protected import PROTECTED, excluded, excluded_features  # noqa: E402
from scoring.tables import read_tables  # noqa: E402
from training.evaluate import CostModel  # noqa: E402
from training.fairness import fairness_metrics, fairness_report  # noqa: E402

REAL = ROOT.parent / "shared" / "data" / "homecredit"
FIRST_ID, LAST_ID = 100_002, 105_849
PARAMS = dict(n_estimators=400, learning_rate=0.03, num_leaves=15, min_child_samples=40,
              subsample=0.8, subsample_freq=1, colsample_bytree=0.5, reg_lambda=1.0,
              n_jobs=2, random_state=0, verbose=-1, deterministic=True, force_row_wise=True)
COST = CostModel(10.0, 1.0)


def oof(X, y, folds):
    """Out-of-fold probabilities and each fold's ROC AUC."""
    import lightgbm as lgb
    from sklearn.metrics import roc_auc_score

    proba, aucs = np.zeros(len(y)), []
    for train, valid in folds:
        model = lgb.LGBMClassifier(**PARAMS).fit(X.iloc[train], y[train])
        proba[valid] = model.predict_proba(X.iloc[valid])[:, 1]
        aucs.append(roc_auc_score(y[valid], proba[valid]))
    return proba, np.array(aucs)


def cross_fitted_cost(y, proba, folds):
    """Cost per application and refusal rate, each fold at the threshold best on the others."""
    cost, refused = 0.0, 0
    for _, valid in folds:
        rest = np.setdiff1d(np.arange(len(y)), valid)
        t = COST.best_threshold(y[rest], proba[rest])
        cost += COST.per_application(y[valid], proba[valid], t) * len(valid)
        refused += int(np.sum(proba[valid] >= t))
    return cost / len(y), refused / len(y), COST.best_threshold(y, proba)


def run(name, rows, columns):
    from sklearn.model_selection import StratifiedKFold

    y = rows["TARGET"].to_numpy(dtype=int)
    X = F.to_model_frame(rows, columns)
    folds = list(StratifiedKFold(5, shuffle=True, random_state=0).split(X, y))
    groups = {p.name: p.groups(rows) for p in PROTECTED.values()}
    print(f"\n{name}: {len(rows):,} clients, default rate {y.mean():.3f}")
    print(f"{'variant':34} {'n':>4} {'ROC AUC':>8} {'diff (paired)':>16} {'cost':>7} "
          f"{'refused':>8}  min AIR gender / family / age")
    base = None
    variants = {"every feature": set(),
                "default (no gender, family status)": excluded_features(excluded()),
                "also without age": excluded_features(excluded(exclude=["age"]))}
    for label, drop in variants.items():
        t0 = time.perf_counter()
        kept = [c for c in columns if c not in drop]
        proba, aucs = oof(X[kept], y, folds)
        base = aucs if base is None else base
        diff = aucs - base
        cost, refusal, t_all = cross_fitted_cost(y, proba, folds)
        fair = fairness_metrics(fairness_report(y, proba, t_all, groups, n_boot=0))
        print(f"{label:34} {len(kept):4} {aucs.mean():8.4f} "
              f"{diff.mean():+8.4f} +/-{diff.std(ddof=1) / np.sqrt(len(diff)):.4f} "
              f"{cost:7.4f} {refusal:8.3f}  {fair['air_min_gender']:.3f} / "
              f"{fair['air_min_family_status']:.3f} / {fair['air_min_age']:.3f}"
              f"  ({time.perf_counter() - t0:.0f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=REAL)
    args = parser.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", F.MissingTableWarning)
        rows = F.build_features(read_tables(args.data_dir)).to_pandas()
    rows = rows[rows[F.DATASET] == "train"].reset_index(drop=True)
    complete = rows[rows[F.KEY].between(FIRST_ID, LAST_ID)].reset_index(drop=True)
    run("5,000 clients with complete side tables, every feature", complete,
        F.model_features(rows.columns))
    run("all labelled clients, application features", rows,
        list(F.RAW_FEATURES) + list(F.APPLICATION_FEATURES))


if __name__ == "__main__":
    main()
