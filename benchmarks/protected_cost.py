"""What does leaving out the protected attributes cost? The training protocol, on a store.

The protocol of ``scoring train --trials 0`` (``training/run.py``): every labelled client of the
store scored out of fold by the same stratified 5 folds (seed 0) for every variant, LightGBM
with ``LGBM_DEFAULTS`` and ``lgb.cv`` rounds on the mean held-out AUC, calibration chosen by
cross-fitted Brier score, one threshold minimising 10 x FN + 1 x FP over every OOF prediction.
Variants: every feature, the default (no ``CODE_GENDER`` / ``NAME_FAMILY_STATUS``) and, with
``--age``, also without age (``DAYS_BIRTH`` and every feature computed from it). Reported per
variant: mean fold ROC AUC and its paired difference against "every feature" (mean +/- its
standard error over folds), the OOF business cost per application at that threshold and the
cross-fitted one (each fold at the threshold best on the other folds), the refusal rate, and the
lowest adverse-impact ratio of each protected attribute at the threshold.

    scoring features --data-dir ../shared/data/homecredit --out /tmp/realstore
    .venv/bin/python benchmarks/protected_cost.py --store /tmp/realstore [--age] [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from results import record  # noqa: E402  (benchmarks/ is this script's folder)

from scoring import features as F  # noqa: E402
from scoring.protected import PROTECTED, excluded, excluded_features  # noqa: E402
from training import calibrator, dataset  # noqa: E402
from training import train as fit  # noqa: E402
from training.evaluate import CostModel, evaluate  # noqa: E402
from training.fairness import fairness_metrics, fairness_report  # noqa: E402

COST = CostModel(10.0, 1.0)


def cross_fitted(y: np.ndarray, proba: np.ndarray, fold: np.ndarray) -> float:
    """Cost per application, each fold at the threshold best on the other folds."""
    total = 0.0
    for k in np.unique(fold):
        held = fold == k
        t = COST.best_threshold(y[~held], proba[~held])
        total += COST.per_application(y[held], proba[held], t) * held.sum()
    return total / len(y)


def variant(rows, features: list[str], fold: np.ndarray, threads: int) -> dict:
    """One variant's OOF protocol: per-fold AUCs, cost, refusal rate, lowest AIR."""
    from sklearn.metrics import roc_auc_score

    data = dataset.model_inputs(rows, features)
    start = time.perf_counter()
    lgbm = fit.cv_lightgbm(data, fold, fit.lightgbm_params(num_threads=threads))
    calib, _ = calibrator.choose(lgbm.oof, data.y, fold)
    proba = calib.predict(lgbm.oof)
    threshold = COST.best_threshold(data.y, proba)
    scores = evaluate(data.y, proba, threshold, COST)
    groups = {p.name: p.groups(rows) for p in PROTECTED.values()}
    fair = fairness_metrics(fairness_report(data.y, proba, threshold, groups, n_boot=0))
    aucs = np.array([roc_auc_score(data.y[fold == k], proba[fold == k])
                     for k in np.unique(fold)])
    return {"n": len(features), "aucs": aucs, "cost": scores["business_cost"],
            "cross_fitted": cross_fitted(data.y, proba, fold), "threshold": threshold,
            "refused": scores["refusal_rate"], "rounds": lgbm.rounds,
            "calibration": calib.method, "fair": fair, "seconds": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, required=True, help="a `scoring features` store")
    parser.add_argument("--age", action="store_true", help="also the variant without age")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    rows = dataset.load_labelled(args.store)
    y = rows["TARGET"].to_numpy(dtype=int)
    fold = dataset.folds(y, 5, 0)
    every = F.model_features(rows.columns)
    variants = {"every feature": set(),
                "default (no gender, family status)": excluded_features(excluded())}
    if args.age:
        variants["also without age"] = excluded_features(excluded(exclude=["age"]))
    print(f"{len(rows):,} labelled clients, default rate {y.mean():.4f}, 5 stratified folds "
          "(seed 0)")
    print("| variant | features | mean fold ROC AUC | paired diff | OOF cost | cross-fitted cost "
          "| threshold | refused | lowest AIR gender / family status / age | rounds, calib. "
          "| wall s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    base, table = None, []
    for label, drop in variants.items():
        r = variant(rows, [f for f in every if f not in drop], fold, args.threads)
        base = r["aucs"] if base is None else base
        diff = r["aucs"] - base
        fair = r["fair"]
        print(f"| {label} | {r['n']} | {r['aucs'].mean():.4f} | {diff.mean():+.4f} +/- "
              f"{diff.std(ddof=1) / np.sqrt(len(diff)):.4f} | {r['cost']:.4f} | "
              f"{r['cross_fitted']:.4f} | {r['threshold']:.3f} | {r['refused']:.1%} | "
              f"{fair['air_min_gender']:.3f} / {fair['air_min_family_status']:.3f} / "
              f"{fair['air_min_age']:.3f} | {r['rounds']}, {r['calibration']} | "
              f"{r['seconds']:.0f} |", flush=True)
        table.append({"variant": label, "features": r["n"],
                      "mean fold ROC AUC": round(float(r["aucs"].mean()), 4),
                      "paired diff": round(float(diff.mean()), 4),
                      "cost / application": round(r["cost"], 4),
                      "cross-fitted cost": round(r["cross_fitted"], 4),
                      "refused": f"{r['refused']:.1%}",
                      **{f"AIR {a}": round(fair[f"air_min_{a}"], 3)
                         for a in ("gender", "family_status", "age")}})
    record("protected_cost", table, script=__file__,
           notes=f"{len(rows):,} labelled clients of {args.store}, 5 stratified folds (seed 0), "
           "the protocol of `scoring train --trials 0`")


if __name__ == "__main__":
    main()
