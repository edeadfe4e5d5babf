"""Do the history features help on real data? Application-only vs all features, 5-fold CV AUC.

On the real Home Credit samples (``../shared/data/homecredit``), the training clients whose
side tables are complete (SK_ID_CURR 100002 to 105849, 5,000 clients; installments_payments is
only a sparse sample there) are scored by one fixed LightGBM configuration with 5-fold
stratified cross-validation, once on the application features and once on every feature.

    .venv/bin/python benchmarks/real_data_check.py [--data-dir DIR]
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

from results import record  # noqa: E402  (benchmarks/ is this script's folder)

from scoring import features as F  # noqa: E402
from scoring.tables import read_tables  # noqa: E402

REAL = ROOT.parent / "shared" / "data" / "homecredit"
FIRST_ID, LAST_ID = 100_002, 105_849
PARAMS = dict(n_estimators=400, learning_rate=0.03, num_leaves=15, min_child_samples=40,
              subsample=0.8, subsample_freq=1, colsample_bytree=0.5, reg_lambda=1.0,
              n_jobs=2, random_state=0, verbose=-1, deterministic=True, force_row_wise=True)


def cv_auc(X, y, folds: int = 5) -> list[float]:
    """ROC AUC of each fold of a stratified K-fold (seed 0) with the fixed configuration."""
    import lightgbm as lgb
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    scores = []
    for train, valid in StratifiedKFold(folds, shuffle=True, random_state=0).split(X, y):
        model = lgb.LGBMClassifier(**PARAMS).fit(X.iloc[train], y[train])
        scores.append(roc_auc_score(y[valid], model.predict_proba(X.iloc[valid])[:, 1]))
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=REAL)
    args = parser.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", F.MissingTableWarning)
        rows = F.build_features(read_tables(args.data_dir)).to_pandas()
    rows = rows[(rows[F.DATASET] == "train") & rows[F.KEY].between(FIRST_ID, LAST_ID)]
    y = rows["TARGET"].to_numpy(dtype=int)
    X = F.to_model_frame(rows, F.model_features(rows.columns))
    print(f"{len(rows):,} clients, default rate {y.mean():.3f}, {X.shape[1]} features")
    sets = {"application only": list(F.RAW_FEATURES) + list(F.APPLICATION_FEATURES),
            "all features": list(X.columns)}
    table = []
    for name, columns in sets.items():
        t0 = time.perf_counter()
        scores = cv_auc(X[columns], y)
        print(f"{name:18} ({len(columns):3} features): ROC AUC {np.mean(scores):.4f} "
              f"+/- {np.std(scores):.4f}  folds {' '.join(f'{s:.3f}' for s in scores)} "
              f"({time.perf_counter() - t0:.0f} s)")
        table.append({"features": name, "count": len(columns),
                      "ROC AUC": f"{np.mean(scores):.4f} +/- {np.std(scores):.4f}",
                      "seconds": round(time.perf_counter() - t0)})
    record("real_data_check", table, script=__file__,
           notes=f"{len(rows):,} real clients with complete side tables, default rate "
           f"{y.mean():.3f}; 5-fold CV of one fixed LightGBM")


if __name__ == "__main__":
    main()
