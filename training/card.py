"""The model card of a model version: Markdown written at training, HTML rendered from it.

Pure: ``model_card(facts, assessment)`` returns the Markdown text; ``to_html`` renders it.
``track.log_card`` logs both with the run, ``track.card_text(version)`` reads a version's card
back (``scoring card``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from training.governance import Assessment

INTENDED_USE = (
    "Estimate the probability that a consumer-credit applicant of \"Prêt à dépenser\" defaults, "
    "and grant or refuse the application at the cost-optimal threshold, with the main reasons "
    "of each decision. Users: client advisors (who explain and may override a decision) and "
    "the credit-risk team (who monitors the model). Not for: pricing, collections, marketing, "
    "or any decision without a person able to review it (credit scoring is a high-risk use "
    "under the EU AI Act).")

KNOWN_LIMITS = (
    "Trained on the Home Credit Default Risk schema: applicants unlike the training clients "
    "(other products, countries or periods) are out of scope; watch the stability indices.",
    "The data holds no application date: the training period is unknown and time drift can "
    "only be seen by comparing later samples (`scoring drift`).",
    "Fairness figures are measured on labelled clients, i.e. those granted a loan in the past "
    "(selection bias); small groups have wide intervals and are not judged.",
    "Leaving a protected attribute out of the inputs does not remove proxies for it "
    "(e.g. income type for age); the fairness table is the check.",
    "Probabilities are calibrated on the training population; the refusal rate moves with the "
    "applicant mix.",
)


@dataclass
class Facts:
    """What the card states about a run besides its assessment."""

    version: str | None
    run_id: str
    dataset: str  # the training data set's name (its digest tells one version from another)
    clients: int
    default_rate: float
    digest: str
    features: int
    excluded: list[str]  # protected columns and the features computed from them
    used_protected: list[str]  # protected columns the model reads
    cost: tuple[float, float]  # fn_cost, fp_cost
    command: str
    code_version: str
    created: str
    params: dict[str, str] = field(default_factory=dict)
    stability: pd.DataFrame | None = None  # PSI / CSI of training vs test applications


def _table(frame: pd.DataFrame, floats: str = "{:.3f}") -> str:
    """A Markdown table of a small frame."""
    def cell(v: object) -> str:
        if isinstance(v, (float, np.floating)):
            return "" if np.isnan(v) else floats.format(v)
        return str(v)
    head = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(False)]
    return "\n".join([head, rule, *rows])


def _with_interval(value: float, interval: tuple[float, float] | None) -> str:
    return f"{value:.4f}" + (f" [{interval[0]:.4f}, {interval[1]:.4f}]" if interval else "")


def fairness_markdown(table: pd.DataFrame) -> str:
    """The fairness table: per attribute and group, the main figures with their intervals."""
    def iv(r: pd.Series, col: str) -> str:
        low, high = r.get(f"{col}_low"), r.get(f"{col}_high")
        value = r[col]
        if pd.isna(value):
            return ""
        return f"{value:.3f}" + ("" if low is None or pd.isna(low)
                                  else f" [{low:.3f}, {high:.3f}]")
    rows = [{"attribute": r["attribute"], "group": r["group"], "clients": int(r["clients"]),
             "default rate": iv(r, "default_rate"), "refusal rate": iv(r, "refusal_rate"),
             "AIR": iv(r, "air") + ("" if r["judged"] else " (not judged)"),
             "TPR": iv(r, "tpr"), "FPR": iv(r, "fpr"), "ROC AUC": iv(r, "roc_auc"),
             "mean predicted": iv(r, "mean_predicted")} for _, r in table.iterrows()]
    return _table(pd.DataFrame(rows))


def model_card(facts: Facts, assessment: Assessment) -> str:
    """The Markdown card of a version."""
    m, iv = assessment.metrics, assessment.intervals
    title = f"version {facts.version}" if facts.version else f"run {facts.run_id}"
    metric_rows = pd.DataFrame([
        {"metric": name, "value (95 % bootstrap interval)": _with_interval(m[key], iv.get(key))}
        for key, name in (("roc_auc", "ROC AUC"), ("pr_auc", "PR AUC"),
                          ("business_cost", "business cost per application"),
                          ("brier", "Brier score"), ("refusal_rate", "refusal rate"))])
    deciles = assessment.deciles[["bin", "clients", "predicted", "observed", "p_value",
                                  "flag"]].rename(columns={"flag": "p < 0.05"})
    lines = [
        f"# Model card: credit-scoring {title}", "",
        f"Created {facts.created} by `{facts.command}`, code version `{facts.code_version}`, "
        f"MLflow run `{facts.run_id}`.", "",
        "## Intended use and users", "", INTENDED_USE, "",
        "## Training data", "",
        f"- Data set: `{facts.dataset}` (the feature store, Home Credit Default Risk schema), "
        f"digest `{facts.digest}` (MLflow)",
        f"- Labelled clients: {facts.clients:,}; default rate {facts.default_rate:.4f}",
        "- Period: not recorded in the data (every date is relative to the application)", "",
        "## Features and protected attributes", "",
        f"- {facts.features} model inputs",
        f"- Left out (protected, and every feature computed from them): "
        f"{', '.join(facts.excluded) or 'none'}",
        f"- Protected attributes the model reads: {', '.join(facts.used_protected) or 'none'}",
        "", "## Performance", "",
        f"Measured on the {assessment.source} predictions of {assessment.clients:,} clients.",
        "", _table(metric_rows), "",
        "## Threshold and cost", "",
        f"Refuse when the probability is at least **{assessment.threshold:.4f}**: the threshold "
        f"that minimises {facts.cost[0]:g} x FN + {facts.cost[1]:g} x FP (a granted loan that "
        f"defaults costs {facts.cost[0]:g}, a wrongly refused client {facts.cost[1]:g}). "
        f"Business cost {m['business_cost']:.4f} per application, refusal rate "
        f"{m['refusal_rate']:.3f}.", "",
        "## Calibration", "",
        f"Expected calibration error {m['ece']:.4f}, Brier score {m['brier']:.4f}; mean "
        f"predicted {m['mean_predicted']:.4f} against observed {m['observed_rate']:.4f}. "
        f"{int(m['deciles_flagged'])} of {len(deciles)} score deciles differ from their "
        "predicted rate by an exact binomial test at 5 %.", "", _table(deciles, "{:.4f}"), "",
        "## Fairness", "",
        "Per group of each protected attribute (intervals: 95 % bootstrap). AIR is the "
        "adverse-impact ratio: the group's approval rate over the most favoured group's "
        "(four-fifths rule: at least 0.8). Lowest AIR: "
        + ", ".join(f"{k.removeprefix('air_min_')} {v:.3f}" for k, v in m.items()
                    if k.startswith("air_min_")) + ".", "",
        fairness_markdown(assessment.fairness), "",
        "## Stability at training time", "",
    ]
    if facts.stability is not None and len(facts.stability):
        lines += ["Population stability (PSI of the score, CSI of the top features), training "
                  "clients against the test applications of the store; below 0.1 stable, "
                  "0.1 to 0.25 moderate, above 0.25 significant.", "",
                  _table(facts.stability), ""]
    else:
        lines += ["No later sample in the store (no test applications).", ""]
    lines += ["## Known limits", "", *[f"- {limit}" for limit in KNOWN_LIMITS], ""]
    if facts.params:
        lines += ["## Training parameters", "",
                  _table(pd.DataFrame({"parameter": list(facts.params),
                                       "value": list(facts.params.values())})), ""]
    return "\n".join(lines)


def to_html(markdown_text: str) -> str:
    """The card as a self-contained HTML page."""
    import markdown

    body = markdown.markdown(markdown_text, extensions=["tables"])
    style = ("body{font-family:sans-serif;max-width:70em;margin:auto}table{border-collapse:"
             "collapse}td,th{border:1px solid #ccc;padding:2px 6px}")
    return (f"<!doctype html><html><head><meta charset=utf-8><title>Model card</title>"
            f"<style>{style}</style></head><body>{body}</body></html>")
