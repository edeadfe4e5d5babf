"""Plain words for an advisor: feature labels, values, decisions, reasons as sentences.

Pure functions, no Panel: the store, the views and the tests share them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from scoring.features import describe
from scoring.names import DAYS_PER_YEAR
from scoring.schema import APPLICATION_TEST, DAYS_EMPLOYED_PLACEHOLDER
from serving.client import Score, format_field

#: Labels that read better than the schema's for the fields shown in years.
_LABELS = {"DAYS_BIRTH": "Age", "DAYS_EMPLOYED": "Years employed",
           "DAYS_REGISTRATION": "Years since registration change",
           "DAYS_ID_PUBLISH": "Years since the identity document was changed",
           "DAYS_LAST_PHONE_CHANGE": "Years since the phone was changed"}
_IN_YEARS = ("DAYS_BIRTH", "DAYS_EMPLOYED")
_APPLICATION_DAYS = {c.name for c in APPLICATION_TEST.columns if c.name.startswith("DAYS_")}
#: Decision -> (icon, words). The icon and the words carry the decision, never colour alone.
DECISIONS = {"granted": ("✔", "Loan granted"), "refused": ("✖", "Loan refused")}


def feature_label(feature: str) -> str:
    """A readable label of a model input or store column."""
    if feature in _LABELS:
        return _LABELS[feature]
    try:
        return describe(feature)
    except KeyError:
        return feature


def in_years(feature: str) -> bool:
    """True when the feature counts days and reads better in years."""
    return "DAYS_" in feature


def display_values(feature: str, raw: np.ndarray) -> np.ndarray:
    """Numeric values on the scale the plots show: days as years, ages positive."""
    raw = np.asarray(raw, dtype="float64")
    if feature == "DAYS_EMPLOYED":
        raw = np.where(raw == DAYS_EMPLOYED_PLACEHOLDER, np.nan, raw)
    if feature in _IN_YEARS or feature in _APPLICATION_DAYS:
        return np.abs(raw) / DAYS_PER_YEAR  # application dates all lie before it
    return raw / DAYS_PER_YEAR if in_years(feature) else raw


def display_value(feature: str, value: Any) -> float:
    """One value on the plots' scale (missing or text: NaN)."""
    try:
        return float(display_values(feature, np.array([value], dtype="float64"))[0])
    except (TypeError, ValueError):
        return math.nan


def axis_label(feature: str) -> str:
    """The label of a plot axis showing ``feature``."""
    return f"{feature_label(feature)} (years)" if in_years(feature) else feature_label(feature)


def format_value(feature: str, value: Any) -> str:
    """A value as an advisor reads it: years, amounts with separators, short decimals."""
    if feature.startswith(("AMT_", "FLAG_OWN_", "CODE_GENDER")) or feature in _IN_YEARS:
        return format_field(feature, value)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "not given"
    if isinstance(value, str):
        return value
    number = display_value(feature, value)
    if in_years(feature):
        return f"{number:.1f} years"
    if float(number).is_integer():
        return f"{int(number):,}"
    return f"{number:,.0f}" if abs(number) >= 1000 else f"{number:.3g}"


def percent(p: float) -> str:
    """A probability as a percentage with one decimal."""
    return f"{100 * p:.1f}%"


def decision_text(score: Score) -> str:
    """The decision with its icon, e.g. '✔ Loan granted'."""
    icon, words = DECISIONS.get(score.decision, ("?", score.decision))
    return f"{icon} {words}"


def distance_text(score: Score) -> str:
    """How far the client is from the threshold, in plain words."""
    gap = abs(score.distance) * 100
    side = "below" if score.distance < 0 else "above"
    if gap < 1:
        closeness = "very close to the threshold"
    elif gap < 5:
        closeness = "close to the threshold"
    else:
        closeness = "far from the threshold"
    verdict = "a loan is refused" if score.distance >= 0 else "a loan is still granted"
    return (f"The probability of default is {percent(score.probability)}, {gap:.1f} points "
            f"{side} the threshold of {percent(score.threshold)} ({closeness}): "
            f"{verdict}.")


def reason_sentence(reason: dict[str, Any]) -> str:
    """One contribution as a sentence, e.g. 'Age (52.3 years) lowered the risk slightly.'"""
    contribution = float(reason["contribution"])
    size = abs(contribution)
    strength = "strongly" if size >= 0.3 else "slightly" if size < 0.1 else "moderately"
    effect = "raised" if contribution > 0 else "lowered"
    feature = reason["feature"]
    label = _LABELS.get(feature) or reason.get("label") or feature_label(feature)
    return f"{label} ({format_value(feature, reason.get('value'))}) {effect} the risk " \
        f"{strength}."


def summary_sentence(score: Score) -> str:
    """One sentence for the score card and its text alternative."""
    return f"{DECISIONS.get(score.decision, ('', score.decision))[1]}. {distance_text(score)}"
