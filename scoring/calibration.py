"""Applying a fitted calibration map to LightGBM margins: the one definition that training
(``training/calibrator.py``) and the served model (``serving/model.py``) both use."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import expit

#: What a training run stores: None, Platt ``[a, b]``, or isotonic
#: ``{"method": "isotonic", "x": margins, "y": probabilities}``.
Calibration = list[float] | dict[str, Any] | None


def calibrated(margin: np.ndarray, calibration: Calibration) -> np.ndarray:
    """Probabilities from LightGBM margins through the training run's calibration map."""
    margin = np.asarray(margin, dtype=float)
    if isinstance(calibration, dict):  # isotonic: a monotone step map, interpolated
        return np.interp(margin, calibration["x"], calibration["y"])
    if calibration:
        a, b = calibration
        margin = a * margin + b
    return expit(margin)
