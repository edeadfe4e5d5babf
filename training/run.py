"""One training run, end to end: data, candidates, threshold, artifacts, model, registry.

Fitting lives in ``train.py``, metrics in ``evaluate.py``, MLflow calls in ``track.py``; this
module only orders the steps. The registry is touched last, so a run that fails anywhere
before never changes an alias, least of all ``champion``.
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
from scipy.special import expit
from sklearn.metrics import brier_score_loss

from scoring import features as F
from scoring.ranges import PlausibleRanges
from scoring.request import pack_history
from scoring.schema import APPLICATION_TEST
from scoring.store import store_path
from training import dataset, plots, track
from training import train as fit
from training.evaluate import CostModel, evaluate

SHAP_SAMPLE = 2_000


@dataclass
class TrainConfig:
    """Everything a run depends on; every field is logged as a parameter."""

    store: Path = Path("data/features")
    seed: int = 0
    trials: int = 10
    timeout: float = 600.0
    fn_cost: float = 10.0
    fp_cost: float = 1.0
    class_weight: str = "none"  # "none": handle imbalance by the cost threshold; "balanced"
    calibrate: bool = True
    num_threads: int = 0
    register: bool = True
    lgbm_params: dict[str, Any] = field(default_factory=dict)  # fixed LightGBM overrides


@dataclass
class TrainResult:
    run_id: str
    version: str | None
    metrics: dict[str, float]
    candidates: dict[str, dict[str, float]] = field(default_factory=dict)


def _probability(margin: np.ndarray, calibration: tuple[float, float] | None) -> np.ndarray:
    """Probabilities from LightGBM margins, Platt-calibrated when given (as the served model)."""
    a, b = calibration or (1.0, 0.0)
    return expit(a * margin + b)


def _importance(contrib: np.ndarray, frame: pd.DataFrame) -> pd.DataFrame:
    mean_abs = np.abs(contrib).mean(axis=0)
    table = pd.DataFrame({"feature": frame.columns, "mean_abs_shap": mean_abs,
                          "description": [F.describe(c) for c in frame.columns]})
    return table.sort_values("mean_abs_shap", ascending=False, ignore_index=True)


def train(config: TrainConfig, say: Callable[[str], None] = print) -> TrainResult:
    """Train, evaluate and log the candidates; log and register the LightGBM model."""
    track.configure()
    cost = CostModel(config.fn_cost, config.fp_cost)
    say(f"loading {store_path(config.store)}")
    labelled = dataset.load_labelled(config.store)
    parts = dataset.split(labelled, seed=config.seed)
    features = F.model_features(labelled.columns)
    history = [f for f in features if f in labelled.columns and f not in APPLICATION_TEST.names]
    train_, valid, test = (dataset.model_inputs(p, features)
                           for p in (parts.train, parts.valid, parts.test))
    weight = "balanced" if config.class_weight == "balanced" else None
    pos_weight = (1 - train_.y.mean()) / train_.y.mean() if weight else 1.0

    with track.start_run(config, parts, labelled, store_path(config.store)) as run_id:
        say(f"{len(labelled):,} labelled clients, {len(features)} features; run {run_id}")
        candidates: dict[str, dict[str, float]] = {}

        def report(fitted: fit.Fitted, test_proba: np.ndarray) -> dict[str, float]:
            threshold = cost.best_threshold(valid.y, fitted.valid_proba)
            scores = evaluate(test.y, test_proba, threshold, cost)
            track.log_candidate(fitted.name, fitted.params, scores, fitted.seconds)
            candidates[fitted.name] = scores
            say(f"  {fitted.name:<20} test AUC {scores['roc_auc']:.4f}  "
                f"cost {scores['business_cost']:.4f}  ({fitted.seconds:.1f} s)")
            return scores

        say("candidates:")
        dummy = fit.fit_dummy(train_, valid)
        report(dummy, dummy.model.predict_proba(test.X)[:, 1])
        logistic = fit.fit_logistic(train_, valid, class_weight=weight)
        report(logistic, logistic.model.predict_proba(test.X)[:, 1])

        params: dict[str, Any] = {}
        if config.trials > 0:
            say(f"searching LightGBM parameters ({config.trials} trials, "
                f"{config.timeout:.0f} s at most)")
            params = fit.tune_lightgbm(
                train_, valid, config.trials, config.timeout, config.num_threads, config.seed,
                on_trial=lambda n, p, auc: (track.log_trial(n, auc),
                                            say(f"  trial {n:>3}: valid AUC {auc:.4f}")))
        lgbm = fit.fit_lightgbm(train_, valid, {**params, **config.lgbm_params},
                                config.num_threads,
                                scale_pos_weight=pos_weight)
        booster = lgbm.model
        valid_margin = booster.predict(valid.X, raw_score=True)
        calibration = None
        if config.calibrate:
            platt = fit.platt(valid_margin, valid.y)
            calibrated = _probability(valid_margin, platt)
            if brier_score_loss(valid.y, calibrated) < brier_score_loss(valid.y,
                                                                        lgbm.valid_proba):
                calibration = platt
                lgbm.valid_proba = calibrated
        lgbm.params["calibration"] = "platt" if calibration else "none"
        test_proba = _probability(booster.predict(test.X, raw_score=True), calibration)
        scores = report(lgbm, test_proba)
        threshold = scores["threshold"]
        track.log_metrics({f"test_{k}": v for k, v in scores.items()})

        say("explaining and plotting")
        sample = test.X.sample(min(SHAP_SAMPLE, len(test.X)), random_state=config.seed)
        contrib = booster.predict(sample, pred_contrib=True)[:, :-1]
        importance = _importance(contrib, sample)
        track.log_figures({
            "roc_curve": plots.roc_curve(test.y, test_proba),
            "pr_curve": plots.pr_curve(test.y, test_proba),
            "cost_curve": plots.cost_curve(valid.y, lgbm.valid_proba, cost, threshold),
            "confusion_matrix": plots.confusion(test.y, test_proba, threshold),
            "shap_summary": plots.shap_summary(contrib, sample),
        })
        track.log_table(importance, "importance.csv")
        track.log_table(pd.DataFrame({"feature": features,
                                      "description": [F.describe(f) for f in features]}),
                        "features.csv")
        track.log_table(parts.test[["SK_ID_CURR"]], "test_ids.csv")

        say("logging the model")
        with tempfile.TemporaryDirectory() as tmp:
            booster_file, config_file = Path(tmp, "booster.txt"), Path(tmp, "config.json")
            booster.save_model(booster_file)
            config_file.write_text(json.dumps({
                "threshold": threshold, "calibration": calibration,
                "ranges": PlausibleRanges().fit(parts.train).to_json(), "fn_cost": cost.fn_cost,
                "fp_cost": cost.fp_cost}))
            example = pack_history(parts.test[APPLICATION_TEST.names + history].head(1))
            start = time.perf_counter()
            info = track.log_model(booster_file, config_file, example)
            seconds = time.perf_counter() - start
        track.log_metrics({"log_model_seconds": seconds})
        say(f"  logged in {seconds:.1f} s")
        version = track.register(info.model_uri, run_id) if config.register else None
        if version:
            say(f"registered {track.MODEL_NAME} version {version} as @{track.CHALLENGER}")
    return TrainResult(run_id, version, scores, candidates)
