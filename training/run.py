"""One training run, end to end: folds, candidates, calibration, threshold, refit, registry.

Every labelled client is scored out of fold (OOF) by stratified k-fold cross-validation; the
reported metrics, the calibration and the threshold come from those OOF predictions. The
registered LightGBM is then refit on every labelled client (except an optional untouched test
part) with the CV-chosen settings. Fitting lives in ``train.py``, metrics in ``evaluate.py``,
MLflow calls in ``track.py``; this module only orders the steps, one function each. The
registry is touched last, so a run that fails anywhere before never changes an alias, least of
all ``champion``.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from scoring import features as F
from scoring import protected
from scoring.ranges import PlausibleRanges
from scoring.schema import APPLICATION_TEST, KEY, TARGET
from scoring.stability import stability_table
from scoring.store import read_store, read_store_schema, store_path
from training import calibrator, card, cluster, dataset, governance, plots, track
from training import train as fit
from training.config import TrainConfig
from training.evaluate import CostModel, bootstrap, evaluate, fold_thresholds
from training.governance import Assessment

__all__ = ["TrainConfig", "TrainResult", "scored", "train"]

SHAP_SAMPLE = 2_000
#: Most training clients compared with the test applications for the score's PSI and the
#: features' CSI (deciles: a sample this size gives them to about 0.001).
STABILITY_SAMPLE = 500_000
Say = Callable[[str], None]


@dataclass
class TrainResult:
    run_id: str
    version: str | None
    metrics: dict[str, float]
    candidates: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass
class Inputs:
    """The run's clients and features: the CV part (``rows``, ``data``, ``fold``), the test
    part when there is one, and what the protected-attribute choice left out."""

    labelled: pd.DataFrame  # id and TARGET of every labelled client (the logged dataset)
    rows: pd.DataFrame  # the CV clients' id, TARGET and protected attributes (fairness)
    test_rows: pd.DataFrame | None  # every store column of the test part
    share: float
    left_out: list[protected.Protected]
    dropped: list[str]
    features: list[str]
    data: fit.Split
    fold: np.ndarray
    store_columns: list[str]
    example: pd.DataFrame  # one CV client's store row: the logged model's input example
    ranges: dict[str, list[float]]  # the CV clients' plausible ranges, served by the model

    @property
    def sizes(self) -> dict[str, Any]:
        return {"cv_rows": len(self.rows),
                "test_rows": 0 if self.test_rows is None else len(self.test_rows),
                "test_share_used": self.share}


@dataclass
class Board:
    """The candidates scored so far: their OOF metrics, and their OOF predictions by client."""

    config: TrainConfig
    cost: CostModel
    y: np.ndarray
    oof: pd.DataFrame
    say: Say
    candidates: dict[str, dict[str, float]] = field(default_factory=dict)

    @classmethod
    def empty(cls, config: TrainConfig, cost: CostModel, inputs: Inputs, say: Say) -> Board:
        """No candidate yet: the OOF table holds the CV clients' ids, folds and labels."""
        oof = pd.DataFrame({KEY: inputs.rows[KEY].to_numpy(),
                            "fold": inputs.fold, TARGET: inputs.data.y})
        return cls(config, cost, inputs.data.y, oof, say)

    def report(self, result: fit.CVResult, proba: np.ndarray, **logged: Any
               ) -> dict[str, float]:
        """Score, log and print one candidate's OOF predictions; returns its metrics."""
        scores = scored(self.y, proba, self.cost, self.config.bootstrap, self.config.seed)
        track.log_candidate(result.name, {**result.params, **logged}, scores, result.seconds)
        self.candidates[result.name] = scores
        self.oof[result.name] = proba
        cpu = f", {result.cpu_seconds:.1f} CPU s" if result.cpu_seconds else ""
        self.say(_summary(result.name, scores) + f"  ({result.seconds:.1f} s{cpu})")
        return scores


@dataclass
class Chosen:
    """The LightGBM candidate's calibration and threshold, from its OOF predictions."""

    lgbm: fit.CVResult
    calib: calibrator.Calibrator
    proba: np.ndarray  # cross-fitted calibrated OOF probabilities
    scores: dict[str, float]  # OOF metrics at ``threshold``
    per_fold: np.ndarray  # each fold's own cost-minimising threshold

    @property
    def threshold(self) -> float:
        return self.scores["threshold"]


@dataclass
class TestPart:
    """The refit model on the untouched test clients."""

    data: fit.Split
    proba: np.ndarray
    scores: dict[str, float]


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


def _stability(score: Callable[[Any], np.ndarray], data: fit.Split, store: Path,
               features: list[str], top: list[str], seed: int) -> pd.DataFrame | None:
    """PSI of the score (``score``: model inputs -> probabilities) and CSI of the ``top``
    features: training clients (``data``, at most ``STABILITY_SAMPLE`` of them, drawn with
    ``seed``) against the store's test applications (None without any). Scored from the
    float32 blocks: no float64 copy of either side."""
    later_rows = read_store(store_path(store), dataset="test", float32=True)
    if later_rows.empty:
        return None
    later = dataset.model_inputs(later_rows, features)
    del later_rows
    rows = np.arange(len(data.y))
    if len(rows) > STABILITY_SAMPLE:
        rows = np.sort(np.random.default_rng(seed).choice(rows, STABILITY_SAMPLE,
                                                          replace=False))
    before = data.X.iloc[rows][top].reset_index(drop=True)
    return stability_table(
        pd.DataFrame({"score": score(fit.model_rows(data, rows))}).join(before),
        pd.DataFrame({"score": score(fit.model_rows(later, np.arange(len(later.y))))})
        .join(later.X[top]))


def prepare(config: TrainConfig, say: Say) -> Inputs:
    """Load the labelled clients, keep the test part out, choose the features and the folds."""
    say(f"loading {store_path(config.store)}")
    store_columns = list(read_store_schema(config.store).columns)
    # Only the clients' application fields are held as rows (ranges, fairness groups, the
    # run's dataset); the model frame is built from the store in one pass, piece by piece.
    context = [c for c in store_columns if c in (KEY, TARGET) or c in APPLICATION_TEST.names]
    labelled = dataset.load_labelled(config.store, context)
    share = dataset.held_out_share(config.test_share, len(labelled))
    y = labelled[TARGET].to_numpy(dtype=np.int64, copy=True)
    cv, test = dataset.hold_out_positions(y, share, config.seed)
    left_out = protected.excluded(config.use_protected, config.exclude_protected)
    dropped = protected.excluded_features(left_out)
    features = [f for f in F.model_features(store_columns) if f not in dropped]
    ranges = PlausibleRanges().fit(labelled, at=cv).to_json()
    # At 10x Kaggle the application fields of the CV clients take 2.3 GiB: only the columns
    # the fairness groups read are kept, the ranges are learned above. Copies, not views:
    # a view keeps the whole frame's Arrow buffers alive (0.3 GiB at 3x).
    kept = [KEY, TARGET, *(p.column for p in protected.PROTECTED.values() if p.column in labelled)]
    rows = labelled[kept].iloc[cv].reset_index(drop=True).copy()
    labelled = labelled[[KEY, TARGET]].copy()  # the run's dataset: which clients, which labels
    data, test_rows, example = dataset.read_inputs(config.store, features, cv, test, y)
    return Inputs(labelled, rows, test_rows, share, left_out, sorted(dropped), features, data,
                  dataset.folds(data.y, config.folds, config.seed), store_columns, example,
                  ranges)


def _announce(config: TrainConfig, inputs: Inputs, run_id: str, say: Say) -> None:
    """Print what the run works on; log the protected attributes it leaves out."""
    test_rows, dropped = inputs.test_rows, inputs.dropped
    say(f"{len(inputs.labelled):,} labelled clients, {len(inputs.features)} features, "
        f"{config.folds}-fold CV on {len(inputs.rows):,}"
        + (f", {len(test_rows):,} held out for the test" if test_rows is not None else "")
        + f"; run {run_id}")
    track.log_protected(inputs.left_out, dropped)
    say(f"protected attributes left out: {', '.join(p.name for p in inputs.left_out) or 'none'}"
        + (f" ({', '.join(dropped)})" if dropped else ""))


def cross_validate(config: TrainConfig, inputs: Inputs, board: Board, say: Say,
                   cv: cluster.CrossValidate = fit.cv_lightgbm) -> fit.CVResult:
    """Score the baselines on the folds, then LightGBM (searched when ``trials``) through
    ``cv`` (here or on a cluster); returns LightGBM's CV result, its OOF margins still
    uncalibrated."""
    data, fold = inputs.data, inputs.fold
    weight = "balanced" if config.class_weight == "balanced" else None
    pos_weight = (1 - data.y.mean()) / data.y.mean() if weight else 1.0
    base = fit.lightgbm_params(num_threads=config.num_threads, scale_pos_weight=pos_weight)
    if config.monotone:
        base["monotone_constraints"] = fit.monotone_constraints(list(data.X.columns))
    say("candidates (out-of-fold):")
    dummy = fit.cv_dummy(data, fold)
    board.report(dummy, dummy.oof)
    logistic = fit.cv_logistic(data, fold, class_weight=weight)
    board.report(logistic, logistic.oof)
    if config.trials <= 0:
        return cv(data, fold, {**base, **config.lgbm_params}, max_rounds=config.max_rounds)
    say(f"searching LightGBM parameters on the mean {config.folds}-fold AUC "
        f"({config.trials} trials, {config.timeout:.0f} s at most)")
    return fit.tune_lightgbm(
        data, fold, config.trials, config.timeout, base, config.lgbm_params, config.seed,
        on_trial=lambda n, p, auc: (track.log_trial(n, auc),
                                    say(f"  trial {n:>3}: CV AUC {auc:.4f}")), cv=cv,
        max_rounds=config.max_rounds)


def calibrate_and_threshold(config: TrainConfig, inputs: Inputs, lgbm: fit.CVResult,
                            board: Board, cost: CostModel, say: Say) -> Chosen:
    """Choose LightGBM's calibration and the cost-minimising threshold on its cross-fitted
    OOF probabilities; log both with the spread of the folds' own thresholds."""
    y, fold = inputs.data.y, inputs.fold
    calib, briers = (calibrator.choose(lgbm.oof, y, fold) if config.calibrate
                     else (calibrator.Calibrator("none").fit(lgbm.oof, y), {}))
    # reported OOF probabilities: each fold calibrated by a map fitted on the other folds
    proba = calibrator.cross_fitted(lgbm.oof, y, fold, calib.method)
    scores = board.report(lgbm, proba, calibration=calib.method, cv_rounds=lgbm.rounds)
    chosen = Chosen(lgbm, calib, proba, scores, fold_thresholds(y, proba, fold, cost))
    threshold, per_fold = chosen.threshold, chosen.per_fold
    analytic = cost.analytic_threshold
    at_analytic = evaluate(y, proba, analytic, cost)
    track.log_metrics({
        **{f"oof_{k}": v for k, v in scores.items() if k != "threshold"},
        "threshold": threshold, "threshold_fold_min": float(per_fold.min()),
        "threshold_fold_max": float(per_fold.max()),
        "threshold_fold_std": float(per_fold.std()),
        "threshold_analytic": analytic,
        "oof_business_cost_at_analytic": at_analytic["business_cost"],
        "oof_refusal_rate_at_analytic": at_analytic["refusal_rate"],
        "cv_rounds": lgbm.rounds, "refit_rounds": fit.refit_rounds(lgbm.rounds, config.folds),
        **{f"calibration_brier_{m}": b for m, b in briers.items()}})
    track.log_params({"calibration": calib.method,
                      "fold_thresholds": " ".join(f"{t:.4f}" for t in per_fold)})
    say(f"calibration: {calib.method} (cross-fitted OOF Brier "
        + ", ".join(f"{m} {b:.5f}" for m, b in briers.items()) + ")")
    say(f"threshold {threshold:.3f} (folds {per_fold.min():.3f} to {per_fold.max():.3f}): "
        f"cost {scores['business_cost']:.4f}, refused {scores['refusal_rate']:.1%}; "
        f"at fp/(fp+fn) = {analytic:.3f}: cost {at_analytic['business_cost']:.4f}, "
        f"refused {at_analytic['refusal_rate']:.1%}")
    return chosen


def refit(config: TrainConfig, inputs: Inputs, lgbm: fit.CVResult, say: Say,
          refit_lightgbm: cluster.Refit = fit.refit_lightgbm) -> lgb.Booster:
    """LightGBM on every CV client, for the CV rounds scaled to the larger training set."""
    rounds = fit.refit_rounds(lgbm.rounds, config.folds)
    say(f"refitting LightGBM on {len(inputs.rows):,} clients for {rounds} rounds "
        f"({lgbm.rounds} CV rounds x {config.folds}/{config.folds - 1})")
    start = time.perf_counter()
    booster = refit_lightgbm(inputs.data, lgbm.params, rounds)
    track.log_metrics({"refit_seconds": time.perf_counter() - start})
    return booster


def _probabilities(booster: lgb.Booster, calib: calibrator.Calibrator
                   ) -> Callable[[Any], np.ndarray]:
    """The served probability of model inputs (a frame or ``fit.model_rows``): the booster's
    margin, calibrated."""
    return lambda X: calib.predict(booster.predict(X, raw_score=True))


def score_test_part(config: TrainConfig, inputs: Inputs, booster: lgb.Booster, chosen: Chosen,
              cost: CostModel, say: Say) -> TestPart | None:
    """The refit model's metrics on the untouched test clients, at the OOF threshold (None
    without a test part)."""
    if inputs.test_rows is None:
        return None
    data = dataset.model_inputs(inputs.test_rows, inputs.features)
    proba = _probabilities(booster, chosen.calib)(fit.model_rows(data, np.arange(len(data.y))))
    scores = scored(data.y, proba, cost, config.bootstrap, config.seed, chosen.threshold)
    track.log_metrics({f"test_{k}": v for k, v in scores.items()})
    track.log_table(inputs.test_rows[[KEY]], "test_ids.csv")
    say(_summary("refit model", scores, "test"))
    return TestPart(data, proba, scores)


def explain(config: TrainConfig, inputs: Inputs, booster: lgb.Booster, chosen: Chosen,
            test: TestPart | None, board: Board, cost: CostModel, say: Say) -> pd.DataFrame:
    """SHAP on a sample (of the test part when there is one), the curves of the OOF
    predictions, the feature list and the OOF table; returns the features by mean |SHAP|."""
    say("explaining and plotting")
    y, proba, threshold = inputs.data.y, chosen.proba, chosen.threshold
    shown = test.data.X if test is not None else inputs.data.X
    sample_X = shown.sample(min(SHAP_SAMPLE, len(shown)), random_state=config.seed)
    contrib = booster.predict(sample_X, pred_contrib=True)[:, :-1]
    track.log_figures({
        "roc_curve": plots.roc_curve(y, proba),
        "pr_curve": plots.pr_curve(y, proba),
        "cost_curve": plots.cost_curve(y, proba, cost, threshold, chosen.per_fold),
        "confusion_matrix": plots.confusion(y, proba, threshold),
        "calibration_curve": plots.calibration(y, proba),
        "shap_summary": plots.shap_summary(contrib, sample_X),
    })
    importance = _importance(contrib, sample_X)
    track.log_table(importance, "importance.csv")
    track.log_table(pd.DataFrame({"feature": inputs.features,
                                  "description": [F.describe(f) for f in inputs.features]}),
                    "features.csv")
    track.log_table(board.oof, "oof_predictions.csv")
    return importance


def assess(config: TrainConfig, inputs: Inputs, booster: lgb.Booster, chosen: Chosen,
           test: TestPart | None, importance: pd.DataFrame, cost: CostModel, say: Say,
           ) -> tuple[Assessment, pd.DataFrame | None]:
    """Calibration and fairness of the predictions on unseen clients, the recipe the gate
    reruns, and the stability of the top features; returns the assessment and the stability
    table (None without test applications in the store)."""
    say("assessing calibration, fairness and stability")
    if test is not None:  # the refit model on clients nothing was fitted on
        assessment = governance.assess(inputs.test_rows, test.data.y, test.proba,
                                       chosen.threshold, cost, "test-part", inputs.dropped,
                                       config.bootstrap, config.seed)
    else:  # each client scored by the fold model that never saw it
        assessment = governance.assess(inputs.rows, inputs.data.y, chosen.proba,
                                       chosen.threshold, cost, "out-of-fold", inputs.dropped,
                                       config.bootstrap, config.seed)
    track.log_assessment(assessment)
    track.log_recipe({"features": inputs.features, "lgbm_params": chosen.lgbm.params,
                      "calibrate": config.calibrate, "fn_cost": cost.fn_cost,
                      "fp_cost": cost.fp_cost})
    drift = _stability(_probabilities(booster, chosen.calib), inputs.data, config.store,
                       inputs.features, importance["feature"].head(10).tolist(), config.seed)
    if drift is not None:
        track.log_table(drift, "stability.csv")
        track.log_metrics({f"psi_{c}" if c == "score" else f"csi_{c}": v
                           for c, v in zip(drift["column"], drift["index"], strict=True)})
    say(f"  ECE {assessment.metrics['ece']:.4f}, lowest adverse-impact ratio "
        + ", ".join(f"{k.removeprefix('air_min_')} {v:.3f}"
                    for k, v in assessment.metrics.items() if k.startswith("air_min_")))
    return assessment, drift


def log_model(inputs: Inputs, booster: lgb.Booster, chosen: Chosen, cost: CostModel,
              say: Say) -> str:
    """Log the pyfunc model with its booster and served config; returns the model URI."""
    say("logging the model")
    history = [f for f in inputs.features
               if f in inputs.store_columns and f not in APPLICATION_TEST.names]
    with tempfile.TemporaryDirectory() as tmp:
        booster_file, config_file = Path(tmp, "booster.txt"), Path(tmp, "config.json")
        booster.save_model(booster_file)
        config_file.write_text(json.dumps({
            "threshold": chosen.threshold, "calibration": chosen.calib.to_config(),
            "ranges": inputs.ranges, "fn_cost": cost.fn_cost,
            "fp_cost": cost.fp_cost}))
        example = track.input_example(inputs.example[APPLICATION_TEST.names + history],
                                      chosen.threshold)
        start = time.perf_counter()
        info = track.log_model(booster_file, config_file, example)
        seconds = time.perf_counter() - start
    track.log_metrics({"log_model_seconds": seconds})
    say(f"  logged in {seconds:.1f} s")
    return info.model_uri


def write_card(config: TrainConfig, inputs: Inputs, chosen: Chosen, assessment: Assessment,
               drift: pd.DataFrame | None, cost: CostModel, run_id: str,
               version: str | None) -> None:
    """The model card of the run (and of its registered version)."""
    labelled, features = inputs.labelled, inputs.features
    facts = card.Facts(
        version=version, run_id=run_id, dataset=track.DATASET_NAME,
        clients=len(labelled), default_rate=float(labelled[TARGET].mean()),
        digest=track.dataset_digest(run_id), features=len(features),
        excluded=inputs.dropped,
        used_protected=[p.column for p in protected.PROTECTED.values() if p.column in features],
        cost=(cost.fn_cost, cost.fp_cost), command=config.command,
        code_version=track.code_version(), created=time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        params={k: str(v) for k, v in chosen.lgbm.params.items()}, stability=drift)
    text = card.model_card(facts, assessment)
    track.log_card(text, card.to_html(text))


def train(config: TrainConfig, say: Say = print) -> TrainResult:
    """Cross-validate and log the candidates; refit, log and register the LightGBM model."""
    track.configure()
    cost = CostModel(config.fn_cost, config.fp_cost)
    inputs = prepare(config, say)
    with (track.start_run(config, inputs.sizes, inputs.labelled,
                          store_path(config.store)) as run_id,
          cluster.lightgbm_steps(config.cluster, config.cluster_rounds) as (cv, refit_on)):
        _announce(config, inputs, run_id, say)
        if config.cluster:
            track.set_tags({"cluster_local_steps": cluster.LOCAL_STEPS})
        board = Board.empty(config, cost, inputs, say)
        lgbm = cross_validate(config, inputs, board, say, cv)
        dataset.release_memory()
        chosen = calibrate_and_threshold(config, inputs, lgbm, board, cost, say)
        booster = refit(config, inputs, lgbm, say, refit_on)
        dataset.release_memory()
        test = score_test_part(config, inputs, booster, chosen, cost, say)
        importance = explain(config, inputs, booster, chosen, test, board, cost, say)
        assessment, drift = assess(config, inputs, booster, chosen, test, importance, cost, say)
        model_uri = log_model(inputs, booster, chosen, cost, say)
        version = track.register(model_uri, run_id) if config.register else None
        write_card(config, inputs, chosen, assessment, drift, cost, run_id, version)
        if version:  # the alias last: a run failing before it leaves every alias as it was
            track.set_alias(track.CHALLENGER, version)
            say(f"registered {track.MODEL_NAME} version {version} as @{track.CHALLENGER}")
    metrics = {f"oof_{k}": v for k, v in chosen.scores.items()}
    if test is not None:
        metrics.update({f"test_{k}": v for k, v in test.scores.items()})
    return TrainResult(run_id, version, metrics, board.candidates)
