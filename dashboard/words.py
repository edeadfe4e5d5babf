"""Plain words for an advisor and a client: feature labels, values, decisions, reasons.

Pure functions, no Panel: the store, the views, the letter and the tests share them. Each
takes the session's ``Language`` (``t``); ``english_label`` and ``LEVEL_FIELDS`` list the
dynamic messages (feature labels, category levels) that the catalogues must translate.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dashboard.i18n import Language
from scoring.features import describe
from scoring.names import DAYS_PER_YEAR
from scoring.schema import APPLICATION_TEST, DAYS_EMPLOYED_PLACEHOLDER
from serving.client import Score

if TYPE_CHECKING:
    from dashboard.sensitivity import Curves

#: Labels that read better than the schema's for the fields shown in years.
_LABELS = {"DAYS_BIRTH": "Age", "DAYS_EMPLOYED": "Years employed",
           "DAYS_REGISTRATION": "Years since registration change",
           "DAYS_ID_PUBLISH": "Years since the identity document was changed",
           "DAYS_LAST_PHONE_CHANGE": "Years since the phone was changed"}
_IN_YEARS = ("DAYS_BIRTH", "DAYS_EMPLOYED")
_APPLICATION_DAYS = {c.name for c in APPLICATION_TEST.columns if c.name.startswith("DAYS_")}
#: The application fields shown in a client's profile, in order.
PROFILE_FIELDS = (
    "CODE_GENDER", "DAYS_BIRTH", "NAME_FAMILY_STATUS", "CNT_CHILDREN", "NAME_EDUCATION_TYPE",
    "NAME_INCOME_TYPE", "OCCUPATION_TYPE", "DAYS_EMPLOYED", "AMT_INCOME_TOTAL",
    "NAME_CONTRACT_TYPE", "AMT_CREDIT", "AMT_ANNUITY", "AMT_GOODS_PRICE", "NAME_HOUSING_TYPE",
    "FLAG_OWN_REALTY", "FLAG_OWN_CAR", "REGION_RATING_CLIENT",
)
#: Category fields whose levels an advisor reads (profile, forms, groups): translated.
LEVEL_FIELDS = ("NAME_CONTRACT_TYPE", "NAME_INCOME_TYPE", "NAME_EDUCATION_TYPE",
                "NAME_FAMILY_STATUS", "NAME_HOUSING_TYPE", "OCCUPATION_TYPE")
_CODES = {"CODE_GENDER": {"F": "Female", "M": "Male", "XNA": "Not stated"},
          "FLAG_OWN_REALTY": {"Y": "yes", "N": "no"}, "FLAG_OWN_CAR": {"Y": "yes", "N": "no"}}


def english_label(feature: str) -> str:
    """A feature's label in English: the catalogues' message id of its label."""
    if feature in _LABELS:
        return _LABELS[feature]
    try:
        return describe(feature)
    except KeyError:
        return feature


def feature_label(t: Language, feature: str) -> str:
    """A readable label of a model input or store column, in the session's language."""
    return t.gettext(english_label(feature))


def level(t: Language, feature: str, value: Any) -> str:
    """A category value in words (coded values such as 'F' or 'Y' spelled out)."""
    if feature in _CODES:
        value = _CODES[feature].get(str(value), str(value))
    return t.gettext(str(value))


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


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


def axis_label(t: Language, feature: str) -> str:
    """The label of a plot axis showing ``feature``."""
    if in_years(feature):
        return t.gettext("{label} (years)").format(label=feature_label(t, feature))
    return feature_label(t, feature)


def format_value(t: Language, feature: str, value: Any) -> str:
    """A value as an advisor reads it: years, amounts with separators, words for codes."""
    _ = t.gettext
    if _missing(value):
        return _("not given")
    if feature == "DAYS_EMPLOYED" and value == DAYS_EMPLOYED_PLACEHOLDER:
        return _("not employed")
    if isinstance(value, str):
        return level(t, feature, value)
    if feature in _CODES:
        return level(t, feature, value)
    number = display_value(feature, value)
    if math.isnan(number):
        return _("not given")
    if in_years(feature):
        return _("{n} years").format(n=t.number(number, 1))
    if feature.startswith("AMT_"):
        return t.number(number)
    return t.short(number)


def profile(t: Language, row: pd.Series) -> list[tuple[str, str]]:
    """(label, value) of the client's main application fields, in order."""
    return [(feature_label(t, name), format_value(t, name, row.get(name)))
            for name in PROFILE_FIELDS if name in row]


def decision_words(t: Language, decision: str) -> str:
    """'Loan granted' / 'Loan refused' in the session's language."""
    _ = t.gettext
    return {"granted": _("Loan granted"), "refused": _("Loan refused")}.get(decision, decision)


def decision_text(t: Language, score: Score) -> str:
    """The decision with its icon, e.g. '✔ Loan granted': never colour alone."""
    icon = {"granted": "✔", "refused": "✖"}.get(score.decision, "?")
    return f"{icon} {decision_words(t, score.decision)}"


def distance_text(t: Language, score: Score) -> str:
    """How far the client is from the threshold, in plain words."""
    _ = t.gettext
    gap = abs(score.distance)
    if gap < 0.01:
        closeness = _("very close to the threshold")
    elif gap < 0.05:
        closeness = _("close to the threshold")
    else:
        closeness = _("far from the threshold")
    values = {"p": t.percent(score.probability), "gap": t.points(gap),
              "threshold": t.percent(score.threshold), "closeness": closeness}
    if score.distance < 0:
        return _("The probability of default is {p}, {gap} points below the threshold of "
                 "{threshold} ({closeness}): the loan is granted.").format(**values)
    return _("The probability of default is {p}, {gap} points above the threshold of "
             "{threshold} ({closeness}): the loan is refused.").format(**values)


def reason_sentence(t: Language, reason: dict[str, Any]) -> str:
    """One contribution as a sentence, e.g. 'Age (52.3 years) lowered the risk slightly.'"""
    _ = t.gettext
    contribution = float(reason["contribution"])
    size = abs(contribution)
    label = feature_label(t, reason["feature"])
    value = format_value(t, reason["feature"], reason.get("value"))
    if contribution > 0:
        text = (_("{label} ({value}) raised the risk strongly.") if size >= 0.3 else
                _("{label} ({value}) raised the risk moderately.") if size >= 0.1 else
                _("{label} ({value}) raised the risk slightly."))
    else:
        text = (_("{label} ({value}) lowered the risk strongly.") if size >= 0.3 else
                _("{label} ({value}) lowered the risk moderately.") if size >= 0.1 else
                _("{label} ({value}) lowered the risk slightly."))
    return text.format(label=label, value=value)


def recourse_sentences(t: Language, curves: Curves) -> list[str]:
    """What single change of an actionable field would change the decision, in words."""
    _ = t.gettext
    out = []
    for change in curves.recourse():
        values = {"label": feature_label(t, change.field), "value": t.number(change.value),
                  "current": t.number(change.current)}
        if change.decision == "granted":
            out.append(_("{label}: with {value} instead of {current}, all else equal, the loan "
                         "would be granted.").format(**values))
        else:
            out.append(_("{label}: from {value} instead of {current}, all else equal, the loan "
                         "would be refused.").format(**values))
    if not out:
        out.append(_("No single change of the credit amount, the annuity or the goods price "
                     "(from a quarter to twice the current value) changes the decision.")
                   if curves.decision == "refused" else
                   _("No single change of the credit amount, the annuity or the goods price "
                     "(from a quarter to twice the current value) would make the loan "
                     "refused."))
    return out
