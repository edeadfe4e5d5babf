"""One training run, end to end: folds, candidates, calibration, threshold, refit, registry.

Every labelled client is scored out of fold (OOF) by stratified k-fold cross-validation; the
reported metrics, the calibration and the threshold come from those OOF predictions. The
registered LightGBM is then refit on every labelled client (except an optional untouched test
part) with the CV-chosen settings. Fitting lives in ``train.py``, metrics in ``evaluate.py``,
MLflow calls in ``track.py``; this module only orders the steps. The registry is touched last,
so a run that fails anywhere before never changes an alias, least of all ``champion``.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scoring import features as F
from scoring import protected
from scoring.ranges import PlausibleRanges
from scoring.schema import APPLICATION_TEST
from scoring.store import read_store, store_path
from training import calibrator, card, cluster, dataset, governance, plots, stability, track
from training import train as fit
from training.evaluate import CostModel, bootstrap, evaluate, fold_thresholds

SHAP_SAMPLE = 2_000


@dataclass
class TrainConfig:
    """Everything a run depends on; every field is logged as a parameter."""

    store: Path = Path("data/features")
    seed: int = 0
    folds: int = 5
    test_share: float | None = None  # None: auto (dataset.held_out_share)
    trials: int = 10
    timeout: float = 600.0
    fn_cost: float = 10.0
    fp_cost: float = 1.0
    class_weight: str = "none"  # "none": handle imbalance by the cost threshold; "balanced"
    calibrate: bool = True
    monotone: bool = True  # LightGBM monotone constraints (fit.MONOTONE_RULES)
    bootstrap: int = 200
    num_threads: int = 0
    register: bool = True
    lgbm_params: dict[str, Any] = field(default_factory=dict)  # fixed LightGBM overrides
    use_protected: list[str] = field(default_factory=list)  # default-excluded ones to read
    exclude_protected: list[str] = field(default_factory=list)  # others to leave out
    command: str = "scoring train"  # what made the run, written in the model card
    cluster: str = ""  # Dask scheduler address: LightGBM boosted there (training.cluster)
    cluster_rounds: int = 2000  # most rounds a fold is boosted to on the cluster


@dataclass
class TrainResult:
    run_id: str
    version: str | None
    metrics: dict[str, float]
    candidates: dict[str, dict[str, float]] = field(default_factory=dict)




def _importance(contrib: np.ndarray, frame: pd.DataFrame) -> pd.DataFrame:
    mean_abs = np.abs(contrib).mean(axis=0)
    table = pd.DataFrame({"feature": frame.columns, "mean_abs_shap": mean_abs,
                          "description": [F.describe(c) for c in frame.columns]})
    return table.sort_values("mean_abs_shap", ascending=False, ignore_index=True)


def scored(y: np.ndarray, proba: np.ndarray, cost: CostModel, n_boot: int, seed: int,
           threshold: float | None = None) -> dict[str, float]:
    """Metrics at ``threshold`` (default: the cost-minimising one on these predictions); each
    one of ``evaluate.BOOTSTRAPPED`` also with ``_low`` / ``_high`` bounds of its 95 %
    interval."""
    threshold = cost.best_threshold(y, proba) if threshold is None else threshold
    scores = evaluate(y, proba, threshold, cost)
    if n_boot:
        for name, (low, high) in bootstrap(y, proba, threshold, cost, n_boot, seed).items():
            scores[f"{name}_low"], scores[f"{name}_high"] = low, high
    return scores


def _summary(name: str, s: dict[str, float], kind: str = "OOF") -> str:
    ci = (f" [{s['roc_auc_low']:.4f}, {s['roc_auc_high']:.4f}]" if "roc_auc_low" in s else "")
    return (f"  {name:<20} {kind} AUC {s['roc_auc']:.4f}{ci}  cost {s['business_cost']:.4f}  "
            f"refused {s['refusal_rate']:.1%}")


def _stability(score: Callable[[pd.DataFrame], np.ndarray], train_rows: pd.DataFrame,
               store: Path, features: list[str], top: list[str]) -> pd.DataFrame | None:
    """PSI of the score (``score``: model frame -> probabilities) and CSI of the ``top``
    features: training clients against the store's test applications (None without any)."""
    later = read_store(store_path(store), dataset="test")
    if later.empty:
        return None
    frames = [F.to_model_frame(rows, features).reset_index(drop=True)
              for rows in (train_rows, later)]
    scores = [score(frame) for frame in frames]
    table = stability.stability_table(
        pd.DataFrame({"score": scores[0]}).join(frames[0][top]),
        pd.DataFrame({"score": scores[1]}).join(frames[1][top]))
    return table


def train(config: TrainConfig, say: Callable[[str], None] = print) -> TrainResult:
    """Cross-validate and log the candidates; refit, log and register the LightGBM model."""
    track.configure()
    cost = CostModel(config.fn_cost, config.fp_cost)
    say(f"loading {store_path(config.store)}")
    labelled = dataset.load_labelled(config.store)
    share = dataset.held_out_share(config.test_share, len(labelled))
    rows, test_rows = dataset.hold_out(labelled, share, config.seed)
    left_out = protected.excluded(config.use_protected, config.exclude_protected)
    dropped = protected.excluded_features(left_out)
    features = [f for f in F.model_features(labelled.columns) if f not in dropped]
    history = [f for f in features if f in labelled.columns and f not in APPLICATION_TEST.names]
    data = dataset.model_inputs(rows, features)
    fold = dataset.folds(data.y, config.folds, config.seed)
    weight = "balanced" if config.class_weight == "balanced" else None
    pos_weight = (1 - data.y.mean()) / data.y.mean() if weight else 1.0
    base = fit.lightgbm_params(num_threads=config.num_threads, scale_pos_weight=pos_weight)
    if config.monotone:
        base["monotone_constraints"] = fit.monotone_constraints(list(data.X.columns))
    sizes = {"cv_rows": len(rows), "test_rows": 0 if test_rows is None else len(test_rows),
             "test_share_used": share}

    with (track.start_run(config, sizes, labelled, store_path(config.store)) as run_id,
          cluster.lightgbm_steps(config.cluster, config.cluster_rounds) as (cv_lightgbm,
                                                                            refit_lightgbm)):
        say(f"{len(labelled):,} labelled clients, {len(features)} features, "
            f"{config.folds}-fold CV on {len(rows):,}"
            + (f", {len(test_rows):,} held out for the test" if test_rows is not None else "")
            + f"; run {run_id}")
        track.log_protected(left_out, sorted(dropped))
        if config.cluster:
            track.set_tags({"cluster_local_steps": cluster.LOCAL_STEPS})
        say(f"protected attributes left out: {', '.join(p.name for p in left_out) or 'none'}"
            + (f" ({', '.join(sorted(dropped))})" if dropped else ""))
        candidates: dict[str, dict[str, float]] = {}
        oof = pd.DataFrame({"SK_ID_CURR": rows["SK_ID_CURR"].to_numpy(), "fold": fold,
                            "TARGET": data.y})

        def report(result: fit.CVResult, proba: np.ndarray, **logged: Any) -> dict[str, float]:
            scores = scored(data.y, proba, cost, config.bootstrap, config.seed)
            track.log_candidate(result.name, {**result.params, **logged}, scores, result.seconds)
            candidates[result.name] = scores
            oof[result.name] = proba
            say(_summary(result.name, scores) + f"  ({result.seconds:.1f} s)")
            return scores

        say("candidates (out-of-fold):")
        dummy = fit.cv_dummy(data, fold)
        report(dummy, dummy.oof)
        logistic = fit.cv_logistic(data, fold, class_weight=weight)
        report(logistic, logistic.oof)

        if config.trials > 0:
            say(f"searching LightGBM parameters on the mean {config.folds}-fold AUC "
                f"({config.trials} trials, {config.timeout:.0f} s at most)")
            lgbm = fit.tune_lightgbm(
                data, fold, config.trials, config.timeout, base, config.lgbm_params,
                config.seed,
                on_trial=lambda n, p, auc: (track.log_trial(n, auc),
                                            say(f"  trial {n:>3}: CV AUC {auc:.4f}")),
                cv=cv_lightgbm)
        else:
            lgbm = cv_lightgbm(data, fold, {**base, **config.lgbm_params})
        calib, briers = (calibrator.choose(lgbm.oof, data.y, fold) if config.calibrate
                         else (calibrator.Calibrator("none").fit(lgbm.oof, data.y), {}))
        # reported OOF probabilities: each fold calibrated by a map fitted on the other folds
        proba = calibrator.cross_fitted(lgbm.oof, data.y, fold, calib.method)
        scores = report(lgbm, proba, calibration=calib.method, cv_rounds=lgbm.rounds)
        threshold = scores["threshold"]
        per_fold = fold_thresholds(data.y, proba, fold, cost)
        analytic = cost.analytic_threshold
        at_analytic = evaluate(data.y, proba, analytic, cost)
        rounds = fit.refit_rounds(lgbm.rounds, config.folds)
        track.log_metrics({
            **{f"oof_{k}": v for k, v in scores.items() if k != "threshold"},
            "threshold": threshold, "threshold_fold_min": float(per_fold.min()),
            "threshold_fold_max": float(per_fold.max()),
            "threshold_fold_std": float(per_fold.std()),
            "threshold_analytic": analytic,
            "oof_business_cost_at_analytic": at_analytic["business_cost"],
            "oof_refusal_rate_at_analytic": at_analytic["refusal_rate"],
            "cv_rounds": lgbm.rounds, "refit_rounds": rounds,
            **{f"calibration_brier_{m}": b for m, b in briers.items()}})
        track.log_params({"calibration": calib.method,
                          "fold_thresholds": " ".join(f"{t:.4f}" for t in per_fold)})
        say(f"calibration: {calib.method} (cross-fitted OOF Brier "
            + ", ".join(f"{m} {b:.5f}" for m, b in briers.items()) + ")")
        say(f"threshold {threshold:.3f} (folds {per_fold.min():.3f} to {per_fold.max():.3f}): "
            f"cost {scores['business_cost']:.4f}, refused {scores['refusal_rate']:.1%}; "
            f"at fp/(fp+fn) = {analytic:.3f}: cost {at_analytic['business_cost']:.4f}, "
            f"refused {at_analytic['refusal_rate']:.1%}")

        say(f"refitting LightGBM on {len(rows):,} clients for {rounds} rounds "
            f"({lgbm.rounds} CV rounds x {config.folds}/{config.folds - 1})")
        start = time.perf_counter()
        booster = refit_lightgbm(data, lgbm.params, rounds)
        track.log_metrics({"refit_seconds": time.perf_counter() - start})
        result = {f"oof_{k}": v for k, v in scores.items()}
        if test_rows is not None:
            test = dataset.model_inputs(test_rows, features)
            test_proba = calib.predict(booster.predict(test.X, raw_score=True))
            test_scores = scored(test.y, test_proba, cost, config.bootstrap, config.seed,
                                 threshold)
            track.log_metrics({f"test_{k}": v for k, v in test_scores.items()})
            track.log_table(test_rows[["SK_ID_CURR"]], "test_ids.csv")
            result.update({f"test_{k}": v for k, v in test_scores.items()})
            say(_summary("refit model", test_scores, "test"))

        say("explaining and plotting")
        shown = test_rows if test_rows is not None else rows
        sample = shown.sample(min(SHAP_SAMPLE, len(shown)), random_state=config.seed)
        sample_X = F.to_model_frame(sample, features)
        contrib = booster.predict(sample_X, pred_contrib=True)[:, :-1]
        track.log_figures({
            "roc_curve": plots.roc_curve(data.y, proba),
            "pr_curve": plots.pr_curve(data.y, proba),
            "cost_curve": plots.cost_curve(data.y, proba, cost, threshold, per_fold),
            "confusion_matrix": plots.confusion(data.y, proba, threshold),
            "calibration_curve": plots.calibration(data.y, proba),
            "shap_summary": plots.shap_summary(contrib, sample_X),
        })
        importance = _importance(contrib, sample_X)
        track.log_table(importance, "importance.csv")
        track.log_table(pd.DataFrame({"feature": features,
                                      "description": [F.describe(f) for f in features]}),
                        "features.csv")
        track.log_table(oof, "oof_predictions.csv")

        say("assessing calibration, fairness and stability")
        if test_rows is not None:  # the refit model on clients nothing was fitted on
            assessment = governance.assess(test_rows, test.y, test_proba, threshold, cost,
                                           "test-part", sorted(dropped), config.bootstrap,
                                           config.seed)
        else:  # each client scored by the fold model that never saw it
            assessment = governance.assess(rows, data.y, proba, threshold, cost,
                                           "out-of-fold", sorted(dropped), config.bootstrap,
                                           config.seed)
        track.log_assessment(assessment)
        track.log_recipe({"features": features, "lgbm_params": lgbm.params,
                          "calibrate": config.calibrate, "fn_cost": cost.fn_cost,
                          "fp_cost": cost.fp_cost})
        drift = _stability(
            lambda X: calib.predict(booster.predict(X, raw_score=True)),
            rows, config.store, features, importance["feature"].head(10).tolist())
        if drift is not None:
            track.log_table(drift, "stability.csv")
            track.log_metrics({f"psi_{c}" if c == "score" else f"csi_{c}": v
                               for c, v in zip(drift["column"], drift["index"], strict=True)})
        say(f"  ECE {assessment.metrics['ece']:.4f}, lowest adverse-impact ratio "
            + ", ".join(f"{k.removeprefix('air_min_')} {v:.3f}"
                        for k, v in assessment.metrics.items() if k.startswith("air_min_")))

        say("logging the model")
        with tempfile.TemporaryDirectory() as tmp:
            booster_file, config_file = Path(tmp, "booster.txt"), Path(tmp, "config.json")
            booster.save_model(booster_file)
            config_file.write_text(json.dumps({
                "threshold": threshold, "calibration": calib.to_config(),
                "ranges": PlausibleRanges().fit(rows).to_json(), "fn_cost": cost.fn_cost,
                "fp_cost": cost.fp_cost}))
            example = track.input_example(rows[APPLICATION_TEST.names + history].head(1),
                                          threshold)
            start = time.perf_counter()
            info = track.log_model(booster_file, config_file, example)
            seconds = time.perf_counter() - start
        track.log_metrics({"log_model_seconds": seconds})
        say(f"  logged in {seconds:.1f} s")
        version = track.register(info.model_uri, run_id) if config.register else None
        facts = card.Facts(
            version=version, run_id=run_id, source=str(store_path(config.store)),
            clients=len(labelled), default_rate=float(labelled["TARGET"].mean()),
            digest=track.dataset_digest(run_id), features=len(features),
            excluded=sorted(dropped),
            used_protected=[p.column for p in protected.PROTECTED.values()
                            if p.column in features],
            cost=(cost.fn_cost, cost.fp_cost), command=config.command,
            code_version=track.code_version(), created=time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            params={k: str(v) for k, v in lgbm.params.items()}, stability=drift)
        text = card.model_card(facts, assessment)
        track.log_card(text, card.to_html(text))
        if version:  # the alias last: a run failing before it leaves every alias as it was
            track.set_alias(track.CHALLENGER, version)
            say(f"registered {track.MODEL_NAME} version {version} as @{track.CHALLENGER}")
    return TrainResult(run_id, version, result, candidates)

