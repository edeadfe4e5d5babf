"""The training protocol on real clients, and training time.

``protocol``: on a feature store built from the real Home Credit samples
(``scoring features --data-dir ../shared/data/homecredit --out /tmp/realstore``), compares on the
same stratified folds (seed 0) and the same LightGBM settings (``LGBM_DEFAULTS``, no search):

- *before*: the old protocol inside each fold: the other folds split 85/15 (the old 70/15
  proportion), early stopping, Platt calibration and the threshold on the 15 %, scored on the
  held-out fold;
- *after*: this protocol: ``lgb.cv`` rounds on the mean held-out AUC, calibration chosen by
  cross-fitted OOF Brier, one threshold on every OOF prediction; also with ``--monotone``
  constraints, and a blend with the logistic regression (weight chosen on the OOF cost).

Printed per variant: mean fold ROC AUC, OOF business cost per application at its threshold
(bootstrap 95 % interval), the threshold and its spread across folds, the cost and refusal rate
at fp/(fp+fn), and the cost when each fold's threshold is chosen on the other folds (an honest
estimate of the chosen threshold's cost). Runs on every labelled client and on the 5,000 with
complete side tables (SK_ID_CURR 100002 to 105849, as ``real_data_check.py``).

``time``: generates N clients, builds the store and times ``scoring train`` in a child process
(wall, CPU, peak RSS), with the old single-split protocol's CPU as the reference when asked.

    .venv/bin/python benchmarks/bench_training.py protocol --store /tmp/realstore
    .venv/bin/python benchmarks/bench_training.py time --applications 20000 --folds 3 --trials 3
    .venv/bin/python benchmarks/bench_training.py time --data-dir DIR_OF_CSV --folds 3 --trials 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FIRST_ID, LAST_ID = 100_002, 105_849


def _old_protocol(data, fold, cost, threads):
    """Per held-out fold: the old single-split recipe fitted on the other folds (no OOF
    predictions to return: each fold has its own threshold)."""
    import lightgbm as lgb
    from sklearn.metrics import brier_score_loss, roc_auc_score
    from sklearn.model_selection import train_test_split

    from training import train as fit
    from training.calibrator import Calibrator

    aucs, costs, thresholds, refused = [], [], [], []
    n_cost = 0.0
    for train, held in fit.fold_pairs(fold):
        tr, va = train_test_split(train, test_size=0.15 / 0.85, stratify=data.y[train],
                                  random_state=0)
        params = fit.lightgbm_params(num_threads=threads)
        dtrain = lgb.Dataset(data.X.iloc[tr], data.y[tr])
        booster = lgb.train(params, dtrain, 2000,
                            valid_sets=[lgb.Dataset(data.X.iloc[va], data.y[va],
                                                    reference=dtrain)],
                            callbacks=[lgb.early_stopping(100, verbose=False)])
        valid_margin = booster.predict(data.X.iloc[va], raw_score=True)
        platt = Calibrator("platt").fit(valid_margin, data.y[va])
        raw = Calibrator("none")
        better = (brier_score_loss(data.y[va], platt.predict(valid_margin))
                  < brier_score_loss(data.y[va], raw.predict(valid_margin)))
        calib = platt if better else raw
        threshold = cost.best_threshold(data.y[va], calib.predict(valid_margin))
        proba = calib.predict(booster.predict(data.X.iloc[held], raw_score=True))
        aucs.append(roc_auc_score(data.y[held], proba))
        c = cost.per_application(data.y[held], proba, threshold)
        costs.append(c)
        n_cost += c * len(held)
        thresholds.append(threshold)
        refused.append(np.mean(proba >= threshold))
    return {"auc": float(np.mean(aucs)), "auc_folds": aucs, "cost": n_cost / len(data.y),
            "threshold": float(np.mean(thresholds)), "thresholds": thresholds,
            "refusal": float(np.mean(refused))}, None


def _client_costs(y, proba, fold, cost):
    """Each client's cost when its fold's threshold is chosen on the other folds' OOF
    predictions (their mean is the cross-fitted cost per application)."""
    out = np.zeros(len(y))
    for k in np.unique(fold):
        held = fold == k
        refused = proba[held] >= cost.best_threshold(y[~held], proba[~held])
        out[held] = np.where(y[held] == 1, cost.fn_cost * ~refused, cost.fp_cost * refused)
    return out


def _paired(y, proba, base, fold, cost, n=2000, seed=0):
    """Mean fold AUC and cross-fitted cost differences against ``base`` (same clients, same
    folds), with a paired bootstrap 95 % interval of the cost difference."""
    from sklearn.metrics import roc_auc_score

    diff = _client_costs(y, proba, fold, cost) - _client_costs(y, base, fold, cost)
    rng = np.random.default_rng(seed)
    means = [diff[rng.integers(0, len(y), len(y))].mean() for _ in range(n)]
    auc = [roc_auc_score(y[fold == k], proba[fold == k]) - roc_auc_score(y[fold == k],
                                                                        base[fold == k])
           for k in np.unique(fold)]
    return (f"paired against after: AUC {np.mean(auc):+.4f} ({sum(a > 0 for a in auc)}/"
            f"{len(auc)} folds up), cross-fitted cost {diff.mean():+.4f} "
            f"[{np.percentile(means, 2.5):+.4f}, {np.percentile(means, 97.5):+.4f}]")


def _describe(y, proba, fold, cost):
    from sklearn.metrics import roc_auc_score

    from training.evaluate import bootstrap, fold_thresholds

    threshold = cost.best_threshold(y, proba)
    ci = bootstrap(y, proba, threshold, cost, n=200, seed=0)
    per_fold = fold_thresholds(y, proba, fold, cost)
    aucs = [roc_auc_score(y[fold == k], proba[fold == k]) for k in np.unique(fold)]
    return {"auc": float(np.mean(aucs)), "auc_folds": aucs,
            "cost": cost.per_application(y, proba, threshold), "cost_ci": ci["business_cost"],
            "auc_ci": ci["roc_auc"], "threshold": threshold, "thresholds": list(per_fold),
            "refusal": float(np.mean(proba >= threshold)),
            "cost_analytic": cost.per_application(y, proba, cost.analytic_threshold),
            "refusal_analytic": float(np.mean(proba >= cost.analytic_threshold)),
            "cost_cross_fitted": float(_client_costs(y, proba, fold, cost).mean())}


def _new_protocol(data, fold, cost, threads, monotone=False):
    from training import calibrator
    from training import train as fit

    params = fit.lightgbm_params(num_threads=threads)
    if monotone:
        params["monotone_constraints"] = fit.monotone_constraints(list(data.X.columns))
    result = fit.cv_lightgbm(data, fold, params)
    calib, briers = calibrator.choose(result.oof, data.y, fold)
    proba = calibrator.cross_fitted(result.oof, data.y, fold, calib.method)  # as `scoring train`
    out = _describe(data.y, proba, fold, cost)
    out.update(calibration=calib.method, briers=briers, rounds=result.rounds)
    return out, proba


def _blend(data, fold, cost, lgbm_proba):
    from training import train as fit

    logistic = fit.cv_logistic(data, fold).oof
    best = None
    for w in np.linspace(0, 1, 11):
        proba = w * lgbm_proba + (1 - w) * logistic
        c = cost.per_application(data.y, proba, cost.best_threshold(data.y, proba))
        if best is None or c < best[0]:
            best = (c, w)
    w = best[1]
    out = _describe(data.y, w * lgbm_proba + (1 - w) * logistic, fold, cost)
    out["weight"] = float(w)
    out["proba"] = w * lgbm_proba + (1 - w) * logistic
    out["logistic"] = _describe(data.y, logistic, fold, cost)
    return out


def _line(name, r):
    ci = f" [{r['cost_ci'][0]:.4f}, {r['cost_ci'][1]:.4f}]" if "cost_ci" in r else ""
    auc_ci = f" [{r['auc_ci'][0]:.4f}, {r['auc_ci'][1]:.4f}]" if "auc_ci" in r else ""
    t = r["thresholds"]
    extra = ""
    if "cost_analytic" in r:
        extra = (f" | at 1/11: cost {r['cost_analytic']:.4f}, refused "
                 f"{r['refusal_analytic']:.1%} | cross-fitted threshold cost "
                 f"{r['cost_cross_fitted']:.4f}")
    return (f"| {name} | {r['auc']:.4f}{auc_ci} | {r['cost']:.4f}{ci} | {r['threshold']:.3f} "
            f"({min(t):.3f}-{max(t):.3f}) | {r['refusal']:.1%}{extra} | {r['seconds']:.0f} / "
            f"{r['cpu']:.0f} |")


def protocol(args) -> None:
    import warnings

    from training import dataset
    from training.evaluate import CostModel

    warnings.filterwarnings("ignore", category=UserWarning)
    from scoring import features as F

    labelled = dataset.load_labelled(args.store)
    features = F.model_features(labelled.columns)
    cost = CostModel(10, 1)
    subsets = {"all labelled": labelled,
               "5,000 complete": labelled[labelled["SK_ID_CURR"].between(FIRST_ID, LAST_ID)]}
    for name, rows in subsets.items():
        rows = rows.reset_index(drop=True)
        data = dataset.model_inputs(rows, features)
        fold = dataset.folds(data.y, args.folds, seed=0)
        print(f"\n{name}: {len(rows):,} clients, default rate {data.y.mean():.4f}, "
              f"{len(features)} features, {args.folds} folds", flush=True)
        print("| protocol | mean fold ROC AUC | cost / application | threshold (fold range) "
              "| refused | wall / CPU s |")
        variants = [("before (70/15/15 recipe per fold)", _old_protocol, {}),
                    ("after (OOF, lgb.cv rounds)", _new_protocol, {})]
        if not args.quick:
            variants.append(("after + --monotone", _new_protocol, {"monotone": True}))
        after = None
        for label, run, options in variants:
            t0, c0 = time.perf_counter(), time.process_time()
            result, proba = run(data, fold, cost, args.threads, **options)
            result["seconds"], result["cpu"] = time.perf_counter() - t0, time.process_time() - c0
            if label.startswith("after (") and proba is not None:
                after = proba
                label += f", {result['calibration']}, {result['rounds']} rounds"
            print(_line(label, result), flush=True)
            if after is not None and proba is not None and proba is not after:
                print(f"|   | {_paired(data.y, proba, after, fold, cost)} |", flush=True)
        if not args.quick:
            t0, c0 = time.perf_counter(), time.process_time()
            blend = _blend(data, fold, cost, after)
            blend["seconds"], blend["cpu"] = time.perf_counter() - t0, time.process_time() - c0
            blend["logistic"].update(seconds=0, cpu=0)
            print(_line("logistic regression alone", blend["logistic"]))
            print(_line(f"blend {blend['weight']:.1f} LightGBM + logistic", blend), flush=True)
            print(f"|   | {_paired(data.y, blend['proba'], after, fold, cost)} |", flush=True)


def _child_train(args) -> None:
    from training.run import TrainConfig, train

    t0, c0 = time.perf_counter(), time.process_time()
    result = train(TrainConfig(store=Path(args.store), folds=args.folds, trials=args.trials,
                               timeout=args.timeout, num_threads=args.threads,
                               register=False),
                   say=lambda line: print(line, file=sys.stderr))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0,
                      "peak_mib": peak, "auc": result.metrics["oof_roc_auc"]}))


def _clients(store: Path) -> int:
    import polars as pl

    return pl.scan_parquet(store / "clients.parquet").select(pl.len()).collect().item()


def timing(args) -> None:
    with tempfile.TemporaryDirectory(dir=args.work_dir) as tmp:
        raw, store = args.data_dir or Path(tmp, "raw"), args.store or Path(tmp, "features")
        scoring = str(Path(sys.executable).parent / "scoring")
        if args.data_dir is None and args.store is None:
            subprocess.run([scoring, "generate", "--applications", str(args.applications),
                            "--out", str(raw)], check=True, stdout=subprocess.DEVNULL)
        if args.store is None:
            subprocess.run([scoring, "features", "--data-dir", str(raw), "--out", str(store)],
                           check=True, stdout=subprocess.DEVNULL)
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp}/mlflow.db",
               "MLFLOW_DISABLE_TELEMETRY": "true"}
        out = subprocess.run([sys.executable, __file__, "_child", "--store", str(store),
                              "--folds", str(args.folds), "--trials", str(args.trials),
                              "--threads", str(args.threads), "--timeout", str(args.timeout)],
                             capture_output=True, text=True, env=env)
        if out.returncode:
            sys.exit(f"training failed:\n{out.stderr[-3000:]}")
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(out.stderr, file=sys.stderr)
        trials = out.stderr.count("  trial ")
        clients = _clients(store) if args.data_dir or args.store else args.applications
        print(f"| {clients:,} | {args.folds} | {args.trials} | {r['wall']:.0f} | "
              f"{r['cpu']:.0f} | {r['peak_mib']:.0f} | {r['auc']:.4f} | {trials} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    p = sub.add_parser("protocol", help="before / after on a store of real clients")
    p.add_argument("--store", type=Path, default=Path("/tmp/realstore"))
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="before and after only")
    t = sub.add_parser("time", help="time `scoring train` on N generated clients")
    t.add_argument("--applications", type=int, default=20_000)
    t.add_argument("--folds", type=int, default=3)
    t.add_argument("--trials", type=int, default=3)
    t.add_argument("--threads", type=int, default=0)
    t.add_argument("--timeout", type=float, default=600.0, help="search budget, s (wall)")
    t.add_argument("--work-dir", type=Path, default=None)
    t.add_argument("--data-dir", type=Path, default=None,
                   help="existing Kaggle-format files (read only) instead of generating")
    t.add_argument("--store", type=Path, default=None, help="an existing feature store")
    c = sub.add_parser("_child")
    c.add_argument("--store")
    c.add_argument("--folds", type=int)
    c.add_argument("--trials", type=int)
    c.add_argument("--threads", type=int)
    c.add_argument("--timeout", type=float)
    args = parser.parse_args()
    {"protocol": protocol, "time": timing, "_child": _child_train}[args.mode](args)


if __name__ == "__main__":
    main()
