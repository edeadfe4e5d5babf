"""Fitting the candidate models. Pure: frames and parameters in, models and scores out.

No MLflow here: ``track.py`` logs what these functions return.
"""

from __future__ import annotations

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
LGBM_DEFAULTS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_child_samples": 50,
    "feature_fraction": 0.5,
    "bagging_fraction": 0.9,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "max_bin": 255,
    "verbosity": -1,
    "seed": 0,
}


@dataclass
class Split:
    """Model inputs and labels of one part of the data."""

    X: pd.DataFrame
    y: np.ndarray


@dataclass
class Fitted:
    """A fitted candidate and its probabilities on the validation part."""

    name: str
    model: Any
    valid_proba: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


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
    return X.astype({c: object for c in cats}).where(X.notna(), np.nan) if len(cats) else X


def fit_dummy(train: Split, valid: Split) -> Fitted:
    """The prior-probability baseline: every client gets the training default rate."""
    start = time.perf_counter()
    model = DummyClassifier(strategy="prior").fit(train.X, train.y)
    return Fitted("dummy", model, model.predict_proba(valid.X)[:, 1],
                  {"strategy": "prior"}, time.perf_counter() - start)


def fit_logistic(train: Split, valid: Split, C: float = 0.1, class_weight: str | None = None,
                 ) -> Fitted:
    """Logistic regression on imputed, scaled numbers and one-hot categories."""
    start = time.perf_counter()
    model: Pipeline = make_pipeline(
        FunctionTransformer(_as_object_categories),
        _linear_features(),
        LogisticRegression(C=C, max_iter=500, class_weight=class_weight))
    model.fit(train.X, train.y)
    proba = model.predict_proba(valid.X)[:, 1]
    return Fitted("logistic_regression", model, proba,
                  {"C": C, "class_weight": class_weight or "none"}, time.perf_counter() - start)


def fit_lightgbm(train: Split, valid: Split, params: dict[str, Any] | None = None,
                 num_threads: int = 0, max_rounds: int = 2000, patience: int = 100,
                 scale_pos_weight: float = 1.0) -> Fitted:
    """LightGBM with early stopping on the validation part (AUC)."""
    start = time.perf_counter()
    params = {**LGBM_DEFAULTS, **(params or {}), "metric": "auc",
              "num_threads": num_threads, "scale_pos_weight": scale_pos_weight}
    dtrain = lgb.Dataset(train.X, train.y, free_raw_data=False)
    dvalid = lgb.Dataset(valid.X, valid.y, reference=dtrain)
    booster = lgb.train(params, dtrain, num_boost_round=max_rounds, valid_sets=[dvalid],
                        callbacks=[lgb.early_stopping(patience, verbose=False)])
    proba = booster.predict(valid.X, num_iteration=booster.best_iteration)
    params["num_boost_round"] = booster.best_iteration
    return Fitted("lightgbm", booster, proba, params, time.perf_counter() - start)


def tune_lightgbm(train: Split, valid: Split, n_trials: int, timeout: float | None,
                  num_threads: int = 0, seed: int = 0,
                  on_trial: Callable[[int, dict[str, Any], float], None] | None = None,
                  ) -> dict[str, Any]:
    """A bounded Optuna (TPE) search of LightGBM parameters on validation AUC.

    Returns the best parameters; ``on_trial(number, params, auc)`` is called after each trial.
    """
    import optuna
    from sklearn.metrics import roc_auc_score

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial: optuna.Trial) -> float:
        params = {
            "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.15, log=True),
            "num_leaves": trial.suggest_int("num_leaves", 8, 96, log=True),
            "min_child_samples": trial.suggest_int("min_child_samples", 10, 300, log=True),
            "feature_fraction": trial.suggest_float("feature_fraction", 0.2, 0.9),
            "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 30.0, log=True),
        }
        fitted = fit_lightgbm(train, valid, params, num_threads=num_threads, patience=50)
        auc = float(roc_auc_score(valid.y, fitted.valid_proba))
        if on_trial:
            on_trial(trial.number, fitted.params, auc)
        return auc

    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=seed))
    study.enqueue_trial({k: LGBM_DEFAULTS[k] for k in
                         ("learning_rate", "num_leaves", "min_child_samples",
                          "feature_fraction", "lambda_l2")})
    study.optimize(objective, n_trials=n_trials, timeout=timeout)
    return study.best_params


def platt(margin: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt scaling of raw scores: (a, b) such that p = 1 / (1 + exp(-(a * margin + b)))."""
    model = LogisticRegression(C=1e6, max_iter=1000).fit(margin.reshape(-1, 1), y)
    return float(model.coef_[0, 0]), float(model.intercept_[0])
