"""The promotion gate: checks, thresholds and the paired bootstrap, read from ``gate.toml``.

Pure: the checks are built from both models' predictions on the same clients; ``track``
runs ``mlflow.models.evaluate`` and ``mlflow.validate_evaluation_results`` with them.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from training.evaluate import CostModel
from training.fairness import air_min
from training.reliability import expected_calibration_error

GATE_FILE = Path(__file__).with_name("gate.toml")
_KEYS = {"roc_auc": {"confidence", "bootstrap"}, "business_cost": {"tolerance"},
         "air_min": {"floor"}, "ece": {"max"}, "clients": {"min_defaults"}}


@dataclass(frozen=True)
class GateConfig:
    """The gate's settings (``gate.toml``)."""

    auc_confidence: float = 0.95
    auc_bootstrap: int = 500
    cost_tolerance: float = 0.0
    air_floor: float = 0.8
    ece_max: float = 0.05
    min_defaults: int = 20


def load_config(path: Path = GATE_FILE) -> GateConfig:
    """The gate settings of ``path``; raises ValueError naming the file and the bad key."""
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{path}: not valid TOML ({err})") from None
    for section, values in data.items():
        if section not in _KEYS or not isinstance(values, dict):
            raise ValueError(f"{path}: unknown section [{section}]; expected "
                             f"{', '.join(_KEYS)}")
        unknown = set(values) - _KEYS[section]
        if unknown:
            raise ValueError(f"{path}: unknown key(s) in [{section}]: {', '.join(unknown)}")
    get = lambda s, k, d: data.get(s, {}).get(k, d)  # noqa: E731
    config = GateConfig(float(get("roc_auc", "confidence", 0.95)),
                        int(get("roc_auc", "bootstrap", 500)),
                        float(get("business_cost", "tolerance", 0.0)),
                        float(get("air_min", "floor", 0.8)), float(get("ece", "max", 0.05)),
                        int(get("clients", "min_defaults", 20)))
    if not 0.5 <= config.auc_confidence < 1:
        raise ValueError(f"{path}: [roc_auc] confidence must be in [0.5, 1), "
                         f"got {config.auc_confidence}")
    return config


@dataclass(frozen=True)
class Check:
    """One gate check: the challenger's value against a threshold derived from the champion."""

    name: str  # the metric, as logged by mlflow.models.evaluate
    value: float
    threshold: float
    greater_is_better: bool
    rule: str  # how the threshold was set, in words
    champion: float | None = None

    @property
    def passed(self) -> bool:
        if np.isnan(self.value) or np.isnan(self.threshold):
            return np.isnan(self.threshold)  # nothing to judge against: not a failure
        return self.value >= self.threshold if self.greater_is_better \
            else self.value <= self.threshold

    def line(self) -> str:
        sign = ">=" if self.greater_is_better else "<="
        verdict = "pass" if self.passed else "FAIL"
        old = "" if self.champion is None else f" (champion {self.champion:.4f})"
        return (f"{verdict:4}  {self.name:<14} {self.value:.4f} {sign} {self.threshold:.4f}"
                f"{old}: {self.rule}")


def paired_auc_noise(y: np.ndarray, new: np.ndarray, old: np.ndarray, confidence: float,
                     n_boot: int, seed: int = 0) -> tuple[float, float]:
    """(AUC difference new - old, upper one-sided ``confidence`` bound of it) over a paired
    bootstrap: both models are scored on the same resampled clients."""
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(n_boot):
        i = rng.integers(0, len(y), len(y))
        if y[i].min() == y[i].max():
            continue
        diffs.append(roc_auc_score(y[i], new[i]) - roc_auc_score(y[i], old[i]))
    point = roc_auc_score(y, new) - roc_auc_score(y, old)
    return float(point), float(np.quantile(diffs, confidence))


def metrics_of(y: np.ndarray, proba: np.ndarray, threshold: float, cost: CostModel,
               groups: dict[str, np.ndarray]) -> dict[str, float]:
    """The gate's metrics of one model's predictions (what the custom MLflow metrics compute)."""
    return {"roc_auc": float(roc_auc_score(y, proba)),
            "business_cost": cost.per_application(y, proba, threshold),
            "air_min": air_min(y, proba, threshold, groups),
            "ece": expected_calibration_error(y, proba)}


def checks(new: dict[str, float], old: dict[str, float], auc_bound: float,
           config: GateConfig) -> list[Check]:
    """The checks of a challenger (``new`` metrics) against the champion (``old``), given the
    upper bound of the paired AUC difference."""
    noise = auc_bound - (new["roc_auc"] - old["roc_auc"])
    air_threshold = min(config.air_floor, old["air_min"]) if not np.isnan(old["air_min"]) \
        else config.air_floor
    return [
        Check("roc_auc", new["roc_auc"], new["roc_auc"] - auc_bound, True,
              f"not below the champion's beyond paired-bootstrap noise ({noise:.4f} at "
              f"{config.auc_confidence:.0%})", old["roc_auc"]),
        Check("business_cost", new["business_cost"],
              old["business_cost"] + config.cost_tolerance, False,
              "not above the champion's" + (f" + {config.cost_tolerance:g}"
                                            if config.cost_tolerance else ""),
              old["business_cost"]),
        Check("air_min", new["air_min"], air_threshold, True,
              f"at least {config.air_floor:g}, or the champion's when lower", old["air_min"]),
        Check("ece", new["ece"], config.ece_max, False, f"at most {config.ece_max:g}",
              old["ece"]),
    ]


def mlflow_metrics(threshold: float, cost: CostModel, attributes: list[str]) -> list:
    """The gate's metrics as MLflow custom metrics for ``mlflow.models.evaluate`` on a frame
    with the probability as predictions, TARGET as targets and a ``protected`` column holding
    each client's groups joined by ``|`` in the order of ``attributes``."""
    from mlflow.models import make_metric

    def ok(targets) -> bool:  # MLflow first calls each metric on a one-row sample
        return len(np.unique(targets)) == 2

    def roc_auc(predictions, targets, metrics):
        return float(roc_auc_score(targets, predictions)) if ok(targets) else np.nan

    def business_cost(predictions, targets, metrics):
        return cost.per_application(np.asarray(targets), np.asarray(predictions), threshold)

    def air(predictions, targets, metrics, protected):
        if not ok(targets):
            return np.nan
        parts = np.array([p.split("|") for p in protected])
        groups = {name: parts[:, j] for j, name in enumerate(attributes)}
        return air_min(np.asarray(targets), np.asarray(predictions), threshold, groups)

    def ece(predictions, targets, metrics):
        return expected_calibration_error(np.asarray(targets), np.asarray(predictions))

    return [make_metric(eval_fn=roc_auc, greater_is_better=True, name="roc_auc"),
            make_metric(eval_fn=business_cost, greater_is_better=False, name="business_cost"),
            make_metric(eval_fn=air, greater_is_better=True, name="air_min"),
            make_metric(eval_fn=ece, greater_is_better=False, name="ece")]
