"""Recourse: small changes of actionable fields that would turn a refusal into a grant.

A constrained grid search: each kind of change (``recourse.toml``) scales a few amount fields
by decreasing factors; every candidate that stays within the rules' bounds travels with the
application in its one request to the model server (scored only when the application is
refused, ``decisions.assess``), and the smallest granted change of each kind is kept.
Immutable fields are never touched because only the fields a kind names are changed.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from serving.client import Score

RULES_FILE = Path(__file__).with_name("recourse.toml")
MUTABLE = ("AMT_CREDIT", "AMT_GOODS_PRICE", "AMT_ANNUITY")


@dataclass(frozen=True)
class Kind:
    """A kind of change: the fields it scales, the factors it tries, its sentences."""

    name: str
    scale: tuple[str, ...]
    factors: tuple[float, ...]
    en: str
    fr: str
    extra: tuple[tuple[str, float], ...] = ()  # fields multiplied once more


@dataclass(frozen=True)
class Rules:
    version: str
    max_proposals: int
    min_credit: float
    min_annuity_credit_ratio: float
    kinds: tuple[Kind, ...]


def load_rules(path: Path | str = RULES_FILE) -> Rules:
    """Read the recourse rules; a kind may only scale the fields in ``MUTABLE``."""
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    kinds = tuple(Kind(name, tuple(k["scale"]), tuple(float(f) for f in k["factors"]),
                       k["en"], k["fr"],
                       tuple((f, float(v)) for f, v in k.get("extra", {}).items()))
                  for name, k in data["kinds"].items())
    for kind in kinds:
        bad = [f for f in (*kind.scale, *dict(kind.extra)) if f not in MUTABLE]
        factors = (*kind.factors, *dict(kind.extra).values())
        if bad or not all(0 < f < 1 for f in factors):
            raise ValueError(f"{path}: kind {kind.name} may only scale {MUTABLE} by factors "
                             f"in (0, 1); got {bad or kind.factors}")
    return Rules(str(data["version"]), int(data["max_proposals"]), float(data["min_credit"]),
                 float(data["min_annuity_credit_ratio"]), kinds)


def candidates(row: dict[str, Any], rules: Rules) -> list[tuple[Kind, float, dict[str, float]]]:
    """(kind, factor, changed fields) of every variant within the bounds, smallest change
    first within a kind. Fields missing in the application are left alone."""
    out = []
    for kind in rules.kinds:
        extra = dict(kind.extra)
        # (field, current value, extra factor) of the fields this kind scales that are known
        known = [(f, float(row[f]), extra.get(f, 1.0)) for f in kind.scale
                 if _known(row.get(f))]
        if not known:
            continue
        for factor in kind.factors:
            changed = {f: value * factor * more for f, value, more in known}
            credit = changed.get("AMT_CREDIT", float(row["AMT_CREDIT"]))
            annuity = changed.get("AMT_ANNUITY", row.get("AMT_ANNUITY"))
            if credit < rules.min_credit:
                continue
            if _known(annuity) and annuity / credit < rules.min_annuity_credit_ratio:
                continue
            out.append((kind, factor, {f: round(v, 2) for f, v in changed.items()}))
    return out


def proposals(application: dict[str, Any], rules: Rules,
              found: list[tuple[Kind, float, dict[str, float]]], scores: list[Score],
              ) -> list[dict[str, Any]]:
    """Up to ``rules.max_proposals`` changes among the ``candidates`` ``found`` that their
    ``scores`` grant: the smallest of each kind, smallest relative change first."""
    best: dict[str, dict[str, Any]] = {}
    for (kind, factor, changed), s in zip(found, scores, strict=True):
        if s.decision == "granted" and kind.name not in best:
            best[kind.name] = _proposal(kind, factor, application, changed, s)
    ranked = sorted(best.values(), key=lambda p: p["change"])
    return ranked[:rules.max_proposals]


def _proposal(kind: Kind, factor: float, row: dict[str, Any], changed: dict[str, float],
              s: Score) -> dict[str, Any]:
    new = {f: changed.get(f, _value(row.get(f))) for f in MUTABLE}
    old = {f: _value(row.get(f)) for f in MUTABLE}
    values = {"credit": new["AMT_CREDIT"], "annuity": new["AMT_ANNUITY"],
              "goods": new["AMT_GOODS_PRICE"], "old_credit": old["AMT_CREDIT"],
              "old_annuity": old["AMT_ANNUITY"], "old_goods": old["AMT_GOODS_PRICE"],
              "down_payment": old["AMT_CREDIT"] - new["AMT_CREDIT"]}
    # the size of a change: the largest relative cut of a field
    size = max(1.0 - v / old[f] for f, v in changed.items() if old[f])
    return {"kind": kind.name, "change": round(size, 4),
            "fields": {f: {"current": old[f], "proposed": v} for f, v in changed.items()},
            "probability": s.probability, "decision": s.decision, "threshold": s.threshold,
            "en": kind.en.format(**{k: money(v, "en") for k, v in values.items()}),
            "fr": kind.fr.format(**{k: money(v, "fr") for k, v in values.items()})}


def money(value: float | None, language: str) -> str:
    """An amount as a client reads it: ``45,000`` in English, ``45 000`` in French."""
    if value is None:
        return "?"
    text = f"{value:,.0f}"
    return text.replace(",", "\u202f") if language == "fr" else text


def _known(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _value(value: Any) -> float | None:
    return float(value) if _known(value) else None
