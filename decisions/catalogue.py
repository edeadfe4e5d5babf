"""The reason catalogue (``reasons.toml``) and the principal reasons of a refusal.

Only contributions that push toward default (positive SHAP values in log-odds) count; they
are summed per reason group, protected groups are dropped, and the largest groups are the
principal reasons. Every sentence a client reads comes from the catalogue file.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CATALOGUE_FILE = Path(__file__).with_name("reasons.toml")
TOP_GROUPS = 4


@dataclass(frozen=True)
class Group:
    """A reason group: the sentence a client reads, and how it may be used."""

    name: str
    actionable: bool
    protected: bool
    en: str
    fr: str
    en_missing: str = ""
    fr_missing: str = ""


@dataclass(frozen=True)
class Catalogue:
    """Feature -> reason group, and the groups, at one catalogue version."""

    version: str
    groups: dict[str, Group]
    features: dict[str, str]

    def group_of(self, feature: str) -> Group:
        """The group of a model input; KeyError naming it when the catalogue lacks it."""
        try:
            return self.groups[self.features[feature]]
        except KeyError:
            raise KeyError(f"reason catalogue {self.version}: no group for feature "
                           f"{feature!r}") from None


def load_catalogue(path: Path | str = CATALOGUE_FILE) -> Catalogue:
    """Read and check the catalogue file: each feature's group exists, texts are given for
    every group that can be shown."""
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    groups = {name: Group(name, bool(g["actionable"]), bool(g["protected"]), g["en"], g["fr"],
                          g.get("en_missing", ""), g.get("fr_missing", ""))
              for name, g in data["groups"].items()}
    features = dict(data["features"])
    unknown = sorted({g for g in features.values() if g not in groups})
    if unknown:
        raise ValueError(f"{path}: features point to undefined group(s) {unknown}")
    silent = [g.name for g in groups.values() if not g.protected and not (g.en and g.fr)]
    if silent:
        raise ValueError(f"{path}: group(s) {silent} lack an English or French sentence")
    return Catalogue(str(data["version"]), groups, features)


def principal_reasons(contributions: list[dict[str, Any]], catalogue: Catalogue,
                      top: int = TOP_GROUPS) -> list[dict[str, Any]]:
    """The ``top`` reason groups pushing hardest toward refusal, largest first.

    ``contributions``: the model server's reasons with ``explain=positive`` or ``all``
    (feature, label, value, contribution); only positive ones count. Each group holds its
    sentences, whether it is actionable, whether its values are all missing, its summed
    positive contribution and its features (largest first).
    """
    totals: dict[str, float] = {}
    members: dict[str, list[dict[str, Any]]] = {}
    for item in contributions:
        if item["contribution"] <= 0:
            continue
        group = catalogue.group_of(item["feature"])
        if group.protected:
            continue
        totals[group.name] = totals.get(group.name, 0.0) + item["contribution"]
        members.setdefault(group.name, []).append(item)
    ranked = sorted(totals, key=totals.__getitem__, reverse=True)[:top]
    return [_reason(catalogue.groups[name], totals[name], members[name]) for name in ranked]


def _reason(group: Group, total: float, members: list[dict[str, Any]]) -> dict[str, Any]:
    """A principal reason; the group's ``*_missing`` sentences when all its values are."""
    missing = all(m.get("value") is None for m in members) and bool(group.en_missing)
    return {"group": group.name, "en": group.en_missing if missing else group.en,
            "fr": group.fr_missing if missing else group.fr, "missing": missing,
            "actionable": group.actionable and not missing, "contribution": total,
            "features": sorted(members, key=lambda r: -r["contribution"])}
