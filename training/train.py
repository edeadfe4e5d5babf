"""Cross-validating and fitting the candidate models. Pure: frames and parameters in, models and
out-of-fold (OOF) predictions out.

Every candidate is scored by the same stratified folds: each client's OOF prediction comes from
the model fitted on the other folds. No MLflow here: ``track.py`` logs what these functions
return.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.dummy import DummyClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

#: Starting point of the LightGBM search; also the configuration used without a search.
#: As in the winning Home Credit write-ups: a small learning rate over many rounds, each tree
#: on a tenth of the ~400 inputs, small trees with large leaves and a strong L2 term. 5-fold CV
#: on the 24,587 real labelled clients (benchmarks/results/bench_training.json): mean ROC AUC
#: 0.7572 against 0.7513 for the former 0.05 / 31 leaves / half the features, every fold up,
#: for about the same CPU (35 vs 37 s there, 99 vs 94 s for the demo: a tenth of the features
#: per tree offsets the 5x rounds).
LGBM_DEFAULTS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.02,
    "num_leaves": 16,
    "min_child_samples": 100,
    "feature_fraction": 0.1,
    "bagging_fraction": 0.9,
    "bagging_freq": 1,
    "lambda_l2": 10.0,
    "max_bin": 255,
    "verbosity": -1,
    "seed": 0,
}
SEARCHED = ("learning_rate", "num_leaves", "min_child_samples", "feature_fraction", "lambda_l2")

#: Features whose effect on the default risk has a known direction (``--monotone``):
#: -1 = a higher value never raises the risk, +1 = never lowers it.
MONOTONE_RULES: tuple[tuple[str, int], ...] = (
    (r"^EXT_SOURCE_(1|2|3|MEAN|MIN|MAX|PROD)$", -1),  # external credit scores
    (r"(^|_)(SK_)?DPD(_|$)|CREDIT_DAY_OVERDUE", +1),  # days past due
    (r"DEBT_CREDIT_RATIO|^ANNUITY_INCOME_RATIO$", +1),  # debt ratios
)


@dataclass
class Split:
    """Model inputs and labels of some clients; ``matrix``, when given, holds ``X``'s values
    as one float32 matrix in its column order, categories as codes (missing: NaN), sharing
    memory with ``X``'s numbers (``training.dataset.FrameBuilder``): LightGBM's input."""

    X: pd.DataFrame
    y: np.ndarray
    matrix: np.ndarray | None = None


@dataclass
class CVResult:
    """A candidate scored by cross-validation: its OOF predictions, one per client.

    ``oof`` holds probabilities, except for LightGBM where it holds raw margins (log-odds),
    calibrated afterwards. ``rounds`` is the number of boosting rounds the folds chose.
    """

    name: str
    oof: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    rounds: int = 0
    cpu_seconds: float = 0.0  # this process's CPU (LightGBM's boosting, its Dataset, OOF)


#: Rows copied into one matrix for LightGBM at a time (``lgb_dataset``).
DATASET_ROWS = 50_000


def lgb_dataset(data: Split, chunk: int = DATASET_ROWS) -> lgb.Dataset:
    """LightGBM's Dataset of ``data``: the same values, bins and model as from the pandas
    frame, without the whole-frame float64 copy LightGBM makes of a frame with categories.

    LightGBM reads ``data.matrix`` in place; without one, the frame goes as matrices of
    ``chunk`` rows in its own precision (freed once the Dataset is built). Categories go as
    their codes (missing: NaN) with the frame's category lists as ``pandas_categorical``, as
    LightGBM's pandas path does; it samples the rows for its bins over all the matrices at
    once, as over one (``LGBM_DatasetCreateFromMats``). At 10x Kaggle (2.77 M clients, 396
    inputs) the float64 copy was 8.2 GiB."""
    X = data.X
    categorical = [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)]
    if data.matrix is not None:
        matrices = [data.matrix]
    else:
        dtype = np.result_type(*[X[c].dtype.type for c in X.columns if c not in categorical],
                               np.float32)
        matrices = [_matrix(X.iloc[start:start + chunk], dtype)
                    for start in range(0, len(X), chunk)]
    dataset = lgb.Dataset(matrices, data.y, feature_name=[str(c) for c in X.columns],
                          categorical_feature=[c for c in categorical if not X[c].cat.ordered])
    dataset.pandas_categorical = [list(X[c].cat.categories) for c in categorical]
    return dataset


def model_rows(data: Split, rows: np.ndarray) -> np.ndarray | pd.DataFrame:
    """The model inputs at positions ``rows``, as LightGBM reads them best: rows of
    ``data.matrix`` (float32, categories as codes: no float64 copy), else of the frame."""
    return data.X.iloc[rows] if data.matrix is None else data.matrix[rows]


def _matrix(X: pd.DataFrame, dtype: np.dtype) -> np.ndarray:
    """The rows of ``X`` as one column-major matrix of ``dtype``, categories as codes."""
    out = np.empty(X.shape, dtype=dtype, order="F")
    for j, column in enumerate(X.columns):
        values = X[column]
        if isinstance(values.dtype, pd.CategoricalDtype):
            codes = values.cat.codes.to_numpy()
            out[:, j] = np.where(codes < 0, np.nan, codes)
        else:
            out[:, j] = values.to_numpy(dtype=dtype, na_value=np.nan)
    return out


def fold_pairs(fold: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, held-out) row positions of each fold, from a fold number per row."""
    return [(np.flatnonzero(fold != k), np.flatnonzero(fold == k)) for k in np.unique(fold)]


#: Most clients a baseline is fitted on per fold, and predicted at once: a baseline is a
#: yardstick, and its scaled copies of the model frame would dominate a large run's memory.
BASELINE_ROWS = 200_000


def _cross_val(data: Split, fold: np.ndarray, make: Callable[[], Pipeline],
               seed: int = 0) -> np.ndarray:
    """OOF probabilities of ``make()``'s estimator, fitted on at most ``BASELINE_ROWS``
    clients of the other folds (drawn at random), held-out clients predicted in pieces of
    that size."""
    oof = np.empty(len(data.y))
    rng = np.random.default_rng(seed)
    for train, held in fold_pairs(fold):
        if len(train) > BASELINE_ROWS:
            train = np.sort(rng.choice(train, BASELINE_ROWS, replace=False))
        model = make().fit(data.X.iloc[train], data.y[train])
        for start in range(0, len(held), BASELINE_ROWS):
            part = held[start:start + BASELINE_ROWS]
            oof[part] = model.predict_proba(data.X.iloc[part])[:, 1]
    return oof


def _linear_features() -> ColumnTransformer:
    """Impute and scale numbers, one-hot encode categories (for the linear baseline).

    Expects categories as objects (see ``_as_object_categories``).
    """
    numbers = make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True),
                            StandardScaler())
    categories = make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                               OneHotEncoder(handle_unknown="ignore", min_frequency=20))
    return ColumnTransformer([
        ("num", numbers, make_column_selector(dtype_include="number")),
        ("cat", categories, make_column_selector(dtype_include=object)),
    ])


def _as_object_categories(X: pd.DataFrame) -> pd.DataFrame:
    """Categoricals as plain objects with NaN for missing: what sklearn's imputer expects."""
    cats = X.select_dtypes("category").columns
    if not len(cats):
        return X
    return X.assign(**{c: X[c].astype(object).where(X[c].notna(), np.nan) for c in cats})


def logistic(C: float = 0.1, class_weight: str | None = None) -> Pipeline:
    """Logistic regression on imputed, scaled numbers and one-hot categories (unfitted)."""
    return make_pipeline(FunctionTransformer(_as_object_categories), _linear_features(),
                         LogisticRegression(C=C, max_iter=500, tol=1e-3,
                                            class_weight=class_weight))


def cv_dummy(data: Split, fold: np.ndarray) -> CVResult:
    """The prior-probability baseline: every client gets the other folds' default rate."""
    start = time.perf_counter()
    oof = np.empty(len(data.y))
    for train, held in fold_pairs(fold):  # no model frame needed: the other folds' rate
        oof[held] = DummyClassifier(strategy="prior").fit(
            np.zeros((len(train), 1)), data.y[train]).predict_proba(np.zeros((len(held), 1)))[:, 1]
    return CVResult("dummy", oof, {"strategy": "prior"}, time.perf_counter() - start)


def cv_logistic(data: Split, fold: np.ndarray, C: float = 0.1,
                class_weight: str | None = None) -> CVResult:
    """OOF probabilities of the logistic regression."""
    start = time.perf_counter()
    oof = _cross_val(data, fold, lambda: logistic(C, class_weight))
    return CVResult("logistic_regression", oof, {"C": C, "class_weight": class_weight or "none"},
                    time.perf_counter() - start)


def monotone_constraints(columns: list[str]) -> list[int]:
    """LightGBM's ``monotone_constraints`` for ``columns`` from ``MONOTONE_RULES`` (0: free)."""
    def direction(name: str) -> int:
        return next((d for pattern, d in MONOTONE_RULES if re.search(pattern, name)), 0)
    return [direction(c) for c in columns]


def lightgbm_params(params: dict[str, Any] | None = None, num_threads: int = 0,
                    scale_pos_weight: float = 1.0) -> dict[str, Any]:
    """The full LightGBM parameters: defaults, then ``params``, then the fixed ones.

    ``force_col_wise``: LightGBM's own timing test picks row-wise histograms for the store's
    ~400 inputs, which keeps a row-wise copy of the bins per training set; column-wise gives the
    same trees (same OOF AUC on 276,759 clients), 2.1x less CPU per round with a tenth of
    the features per tree, and no copy (0.6 GiB a fold at 1x Kaggle)."""
    return {**LGBM_DEFAULTS, **(params or {}), "metric": "auc", "num_threads": num_threads,
            "scale_pos_weight": scale_pos_weight, "force_col_wise": True}


def cv_lightgbm(data: Split, fold: np.ndarray, params: dict[str, Any],
                max_rounds: int = 2000, patience: int = 100) -> CVResult:
    """LightGBM on every fold at once (``lgb.cv``), stopped when the mean held-out AUC has not
    improved for ``patience`` rounds: one number of rounds for all folds, less tuned to any
    one fold than a per-fold early stop. ``oof`` holds margins at that round."""
    start, cpu = time.perf_counter(), time.process_time()
    pairs = fold_pairs(fold)
    dataset = lgb_dataset(data)
    result = lgb.cv(params, dataset, num_boost_round=max_rounds, folds=pairs,
                    callbacks=[_free_before_boosting(dataset),
                               lgb.early_stopping(patience, verbose=False)],
                    return_cvbooster=True)
    del dataset
    rounds = len(result["valid auc-mean"])
    boosters = result["cvbooster"].boosters
    for booster in boosters:  # the folds' bins are no longer needed: only their trees
        booster.free_dataset()
    oof = np.empty(len(data.y))
    for booster, (_, held) in zip(boosters, pairs, strict=True):
        for first in range(0, len(held), BASELINE_ROWS):  # bounded conversion copies
            part = held[first:first + BASELINE_ROWS]
            oof[part] = booster.predict(model_rows(data, part), num_iteration=rounds,
                                        raw_score=True)
    return CVResult("lightgbm", oof, dict(params), time.perf_counter() - start, rounds,
                    time.process_time() - cpu)


def _free_before_boosting(dataset: lgb.Dataset) -> Callable[[Any], None]:
    """An ``lgb.cv`` callback that frees ``dataset``'s bins before the first round: by then
    every fold holds its own copy of its rows' bins (1.1 GiB less at 10x Kaggle)."""
    def free(env: Any) -> None:
        if env.iteration == 0:
            dataset._free_handle()  # no public call; the folds never read it again
    free.before_iteration = True  # type: ignore[attr-defined]
    return free


def refit_rounds(cv_rounds: int, folds: int) -> int:
    """Rounds for the model fitted on every client: the folds trained on (k-1)/k of them, so
    the CV-chosen number of rounds is scaled by k / (k-1)."""
    return max(1, round(cv_rounds * folds / (folds - 1)))


def refit_lightgbm(data: Split, params: dict[str, Any], rounds: int) -> lgb.Booster:
    """LightGBM fitted on every client of ``data`` for ``rounds`` rounds (no early stopping)."""
    params = {k: v for k, v in params.items() if k not in ("num_iterations", "num_boost_round")}
    booster = lgb.train(params, lgb_dataset(data), num_boost_round=rounds)
    booster.free_dataset()  # its bins (1.1 GiB at 10x Kaggle): the trees are the model
    return booster


def tune_lightgbm(data: Split, fold: np.ndarray, n_trials: int, timeout: float | None,
                  base: dict[str, Any], fixed: dict[str, Any] | None = None, seed: int = 0,
                  on_trial: Callable[[int, dict[str, Any], float], None] | None = None,
                  cv: Callable[..., CVResult] = cv_lightgbm, max_rounds: int = 2000,
                  ) -> CVResult:
    """A bounded Optuna (TPE) search of LightGBM parameters on the mean CV ROC AUC.

    Starts from ``LGBM_DEFAULTS``; ``base`` holds the fixed parameters (threads, weights,
    constraints), ``fixed`` the user's overrides, applied after each trial's. Returns the best
    trial's CV result (its params and OOF margins), so the best configuration is not
    cross-validated twice. ``on_trial(number, params, auc)`` follows each trial; ``cv`` is
    ``cv_lightgbm`` or a cluster's (``training.cluster``), boosting at most ``max_rounds``.
    """
    import optuna
    from sklearn.metrics import roc_auc_score

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    best: list[CVResult] = []

    def objective(trial: optuna.Trial) -> float:
        params = {
            "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.15, log=True),
            "num_leaves": trial.suggest_int("num_leaves", 8, 96, log=True),
            "min_child_samples": trial.suggest_int("min_child_samples", 10, 300, log=True),
            "feature_fraction": trial.suggest_float("feature_fraction", 0.05, 0.9),
            "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 30.0, log=True),
        }
        result = cv(data, fold, {**base, **params, **(fixed or {})}, patience=50,
                    max_rounds=max_rounds)
        auc = _mean_fold_auc(data.y, result.oof, fold, roc_auc_score)
        if not best or auc > best[0].params["cv_roc_auc"]:
            result.params["cv_roc_auc"] = auc
            best[:] = [result]
        if on_trial:
            on_trial(trial.number, params, auc)
        return auc

    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=seed))
    study.enqueue_trial({k: LGBM_DEFAULTS[k] for k in SEARCHED})
    study.optimize(objective, n_trials=n_trials, timeout=timeout)
    best[0].params.pop("cv_roc_auc")
    return best[0]


def _mean_fold_auc(y: np.ndarray, score: np.ndarray, fold: np.ndarray, auc: Callable) -> float:
    return float(np.mean([auc(y[held], score[held]) for _, held in fold_pairs(fold)]))
