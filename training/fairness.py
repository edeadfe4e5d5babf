"""Fairness of decisions per group of each protected attribute (fairlearn ``MetricFrame``).

Pure: labels, probabilities, a threshold and group labels in; tables and metrics out. Works on
whichever predictions a run has (out-of-fold or a test part). The favourable outcome is a
granted loan, so the adverse-impact ratio (AIR) of a group is its approval rate over the
approval rate of the most favoured group; the four-fifths rule reads AIR >= 0.8.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

#: Groups smaller than this are reported but left out of the AIR minimum (too noisy to judge).
MIN_GROUP = 30
#: Bootstrap samples and interval quantiles.
N_BOOT = 100
QUANTILES = (0.025, 0.975)

COLUMNS = ("clients", "default_rate", "refusal_rate", "approval_rate", "tpr", "fpr", "roc_auc",
           "mean_predicted")


def _clients(y: np.ndarray, proba: np.ndarray) -> float:
    return float(len(y))


def _default_rate(y: np.ndarray, proba: np.ndarray) -> float:
    return float(np.mean(y))


def _refusal_rate(y: np.ndarray, proba: np.ndarray, threshold: float) -> float:
    return float(np.mean(np.asarray(proba) >= threshold))


def _approval_rate(y: np.ndarray, proba: np.ndarray, threshold: float) -> float:
    return float(np.mean(np.asarray(proba) < threshold))


def _tpr(y: np.ndarray, proba: np.ndarray, threshold: float) -> float:
    """Share of defaulters refused (a refusal is the positive decision)."""
    y = np.asarray(y).astype(bool)
    return float(np.mean(np.asarray(proba)[y] >= threshold)) if y.any() else np.nan


def _fpr(y: np.ndarray, proba: np.ndarray, threshold: float) -> float:
    """Share of good clients refused."""
    good = ~np.asarray(y).astype(bool)
    return float(np.mean(np.asarray(proba)[good] >= threshold)) if good.any() else np.nan


def _auc(y: np.ndarray, proba: np.ndarray) -> float:
    return float(roc_auc_score(y, proba)) if len(np.unique(y)) == 2 else np.nan


def _mean_predicted(y: np.ndarray, proba: np.ndarray) -> float:
    return float(np.mean(proba))


def _metrics(threshold: float) -> dict:
    at = functools.partial
    return {"clients": _clients, "default_rate": _default_rate,
            "refusal_rate": at(_refusal_rate, threshold=threshold),
            "approval_rate": at(_approval_rate, threshold=threshold),
            "tpr": at(_tpr, threshold=threshold), "fpr": at(_fpr, threshold=threshold),
            "roc_auc": _auc, "mean_predicted": _mean_predicted}


def group_table(y: np.ndarray, proba: np.ndarray, threshold: float,
                groups: np.ndarray | pd.Categorical,
                n_boot: int = N_BOOT, seed: int = 0) -> pd.DataFrame:
    """One row per group: each metric of ``COLUMNS`` (fairlearn ``MetricFrame``), its bootstrap
    interval (``_low``, ``_high``), and ``air``: approval rate / the highest approval rate among
    groups of at least ``MIN_GROUP`` clients (``judged``)."""
    from fairlearn.metrics import MetricFrame

    y = np.asarray(y).astype(int)
    proba = np.asarray(proba, dtype=float)
    if not (len(y) == len(proba) == len(groups)):
        raise ValueError(f"y, proba and groups differ in length: {len(y)}, {len(proba)}, "
                         f"{len(groups)}")
    # A categorical keeps its levels' order (age bands youngest first); others sort as text.
    groups = pd.Categorical(np.asarray(groups, dtype=object).astype(str),
                            categories=[str(c) for c in getattr(groups, "categories", [])]
                            or None)
    groups = groups.remove_unused_categories()
    frame = MetricFrame(metrics=_metrics(threshold), y_true=y, y_pred=proba,
                        sensitive_features=pd.Series(groups, name="group"))
    table = frame.by_group.astype(float).loc[list(groups.categories)]  # fairlearn sorts
    table["clients"] = table["clients"].astype(int)
    judged = (table["clients"] >= MIN_GROUP).to_numpy()
    table["air"] = _air(table["approval_rate"].to_numpy(), judged)
    if n_boot:
        samples = _bootstrap(y, proba, threshold, groups, list(table.index), judged, n_boot,
                             seed)
        for col, values in samples.items():
            with warnings.catch_warnings():  # all-NaN columns (one-class groups) stay NaN
                warnings.simplefilter("ignore", RuntimeWarning)
                low, high = np.nanquantile(values, QUANTILES, axis=0)
            table[f"{col}_low"], table[f"{col}_high"] = low, high
    table["judged"] = judged
    return table.reset_index()


def _air(approval: np.ndarray, judged: np.ndarray) -> np.ndarray:
    best = approval[judged].max() if judged.any() else np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        return approval / best


def _bootstrap(y: np.ndarray, proba: np.ndarray, threshold: float, groups: pd.Categorical,
               levels: list[str], judged: np.ndarray, n_boot: int, seed: int,
               ) -> dict[str, np.ndarray]:
    """Each metric per group over ``n_boot`` resamples of the clients (shape n_boot x groups).

    Counts with ``np.bincount``, so a resample costs milliseconds (fairlearn's own bootstrap
    rebuilds a MetricFrame per resample: seconds each at 20,000 clients)."""
    from scipy.stats import rankdata

    code = pd.Categorical(np.asarray(groups, dtype=object), categories=levels).codes
    k = len(levels)
    rng = np.random.default_rng(seed)
    out = {c: np.full((n_boot, k), np.nan) for c in COLUMNS[1:] + ("air",)}
    refused = proba >= threshold
    for b in range(n_boot):
        i = rng.integers(0, len(y), len(y))
        g, yb, rb, pb = code[i], y[i], refused[i], proba[i]
        n = np.bincount(g, minlength=k).astype(float)
        bad = np.bincount(g, yb, minlength=k)
        good = n - bad
        ref = np.bincount(g, rb, minlength=k)
        ref_bad = np.bincount(g, rb & (yb == 1), minlength=k)
        with np.errstate(divide="ignore", invalid="ignore"):
            out["default_rate"][b] = bad / n
            out["refusal_rate"][b] = ref / n
            out["approval_rate"][b] = 1 - ref / n
            out["tpr"][b] = ref_bad / bad
            out["fpr"][b] = (ref - ref_bad) / good
            out["mean_predicted"][b] = np.bincount(g, pb, minlength=k) / n
        out["air"][b] = _air(out["approval_rate"][b], judged)
        for j in np.flatnonzero((bad > 0) & (good > 0)):
            member = g == j
            ranks = rankdata(pb[member])
            positives = yb[member] == 1
            out["roc_auc"][b, j] = ((ranks[positives].sum() - bad[j] * (bad[j] + 1) / 2)
                                    / (bad[j] * good[j]))
    return out


def fairness_report(y: np.ndarray, proba: np.ndarray, threshold: float,
                    groups: Mapping[str, np.ndarray], n_boot: int = N_BOOT, seed: int = 0,
                    ) -> pd.DataFrame:
    """``group_table`` for every attribute in ``groups`` (name -> group labels), stacked with an
    ``attribute`` column first."""
    parts = [group_table(y, proba, threshold, labels, n_boot, seed).assign(attribute=name)
             for name, labels in groups.items()]
    table = pd.concat(parts, ignore_index=True)
    return table[["attribute"] + [c for c in table.columns if c != "attribute"]]


def fairness_metrics(table: pd.DataFrame) -> dict[str, float]:
    """Summary metrics of a ``fairness_report``: per attribute the lowest AIR among judged
    groups (``air_min_<attribute>``), the spread of refusal rates and of AUCs, and overall
    ``air_min``."""
    out = {}
    for name, part in table.groupby("attribute", sort=False):
        judged = part[part["judged"]]
        out[f"air_min_{name}"] = float(judged["air"].min()) if len(judged) else np.nan
        out[f"refusal_rate_gap_{name}"] = float(judged["refusal_rate"].max()
                                                - judged["refusal_rate"].min())
        out[f"roc_auc_gap_{name}"] = float(judged["roc_auc"].max() - judged["roc_auc"].min())
    airs = [v for k, v in out.items() if k.startswith("air_min_") and not np.isnan(v)]
    out["air_min"] = float(min(airs)) if airs else np.nan
    return out


def air_min(y: np.ndarray, proba: np.ndarray, threshold: float,
            groups: Mapping[str, np.ndarray]) -> float:
    """The lowest adverse-impact ratio over every attribute's judged groups (no bootstrap)."""
    return fairness_metrics(fairness_report(y, proba, threshold, groups, n_boot=0))["air_min"]


def to_html(table: pd.DataFrame, title: str = "Fairness by protected attribute") -> str:
    """A self-contained HTML page of a ``fairness_report``: one table per attribute, each value
    with its interval, AIR below 0.8 in red."""
    sections = []
    for name, part in table.groupby("attribute", sort=False):
        rows = []
        for _, r in part.iterrows():
            cells = [f"<td>{r['group']}</td>", f"<td>{int(r['clients']):,}</td>"]
            for col in COLUMNS[1:] + ("air",):
                value = r[col]
                text = "" if pd.isna(value) else f"{value:.3f}"
                if f"{col}_low" in r and not pd.isna(r[f"{col}_low"]):
                    text += f" <small>[{r[f'{col}_low']:.3f}, {r[f'{col}_high']:.3f}]</small>"
                alert = col == "air" and r["judged"] and value < 0.8
                cells.append(f"<td{' class=bad' if alert else ''}>{text}</td>")
            rows.append(f"<tr{'' if r['judged'] else ' class=small'}>{''.join(cells)}</tr>")
        head = "".join(f"<th>{c}</th>" for c in ("group",) + COLUMNS + ("air",))
        sections.append(f"<h2>{name}</h2><table><tr>{head}</tr>{''.join(rows)}</table>")
    style = ("body{font-family:sans-serif}table{border-collapse:collapse;margin-bottom:1em}"
             "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
             ".bad{color:#b00;font-weight:bold}.small{color:#888}")
    note = (f"<p>Intervals: {int(QUANTILES[0] * 1000) / 10}-{QUANTILES[1] * 100:g} % bootstrap. "
            f"AIR = approval rate / highest approval rate among groups of at least {MIN_GROUP} "
            "clients (grey rows are smaller and not judged); below 0.8 in red.</p>")
    return (f"<!doctype html><html><head><meta charset=utf-8><title>{title}</title>"
            f"<style>{style}</style></head><body><h1>{title}</h1>{note}"
            f"{''.join(sections)}</body></html>")
