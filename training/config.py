"""What a training run depends on, with its defaults: the one place ``scoring train``'s options
and the MLproject ``train`` entry point take them from.

Light on purpose (no numpy, pandas or LightGBM): the CLI imports it to build its options.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scoring.names import DEFAULT_STORE


@dataclass
class TrainConfig:
    """Everything a run depends on; every field is logged as a parameter."""

    store: Path = Path(DEFAULT_STORE)
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
    max_rounds: int = 2000  # most boosting rounds of the CV (early stopping may stop sooner)
