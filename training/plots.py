"""Figures logged with every training run: curves, confusion matrix, SHAP summary.

Each function returns a matplotlib Figure; the caller logs and closes it.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # files only: training never opens a window

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from sklearn import metrics  # noqa: E402

from training.evaluate import CostModel  # noqa: E402

# Okabe-Ito: distinguishable with every common colour-vision deficiency.
BLUE, ORANGE, GREEN, VERMILION = "#0072B2", "#E69F00", "#009E73", "#D55E00"


def roc_curve(y: np.ndarray, proba: np.ndarray) -> Figure:
    """ROC curve with its AUC."""
    fpr, tpr, _ = metrics.roc_curve(y, proba)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(fpr, tpr, color=BLUE, label=f"model (AUC {metrics.auc(fpr, tpr):.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", label="chance")
    ax.set(xlabel="False positive rate", ylabel="True positive rate", title="ROC curve")
    ax.legend(loc="lower right")
    return fig


def pr_curve(y: np.ndarray, proba: np.ndarray) -> Figure:
    """Precision-recall curve with its average precision and the base rate."""
    precision, recall, _ = metrics.precision_recall_curve(y, proba)
    ap = metrics.average_precision_score(y, proba)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(recall, precision, color=BLUE, label=f"model (AP {ap:.3f})")
    ax.axhline(np.mean(y), color="grey", linestyle="--", label="default rate")
    ax.set(xlabel="Recall", ylabel="Precision", title="Precision-recall curve")
    ax.legend(loc="upper right")
    return fig


def cost_curve(y: np.ndarray, proba: np.ndarray, cost: CostModel, threshold: float,
               fold_thresholds: np.ndarray | None = None) -> Figure:
    """Business cost per application against the decision threshold, with the chosen
    threshold, the analytic one fp/(fp+fn) and, as ticks, each fold's own best threshold."""
    thresholds, values = cost.curve(y, proba)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(thresholds, values, color=BLUE)
    ax.axvline(threshold, color=VERMILION, linestyle="--", label=f"threshold {threshold:.3f}")
    ax.axvline(cost.analytic_threshold, color=GREEN, linestyle=":",
               label=f"fp/(fp+fn) = {cost.analytic_threshold:.3f}")
    if fold_thresholds is not None and len(fold_thresholds):
        ax.plot(fold_thresholds, np.full(len(fold_thresholds), np.min(values)), "|",
                color=ORANGE, markersize=14, label="each fold's best")
    ax.set(xlabel="Threshold (refuse when probability ≥ threshold)",
           ylabel="Cost per application",
           title=f"Business cost ({cost.fn_cost:g} × FN + {cost.fp_cost:g} × FP)")
    ax.set_xlim(0, 1)
    ax.legend()
    return fig


def calibration(y: np.ndarray, proba: np.ndarray, bins: int = 10) -> Figure:
    """Reliability diagram: observed default rate against mean probability, by decile."""
    from sklearn.calibration import calibration_curve

    observed, predicted = calibration_curve(y, proba, n_bins=bins, strategy="quantile")
    fig, ax = plt.subplots(figsize=(5, 5))
    top = max(float(np.max(predicted)), float(np.max(observed)))
    ax.plot([0, top], [0, top], color="grey", linestyle="--", label="perfect")
    ax.plot(predicted, observed, "o-", color=BLUE, label="model (deciles)")
    ax.set(xlabel="Mean predicted probability", ylabel="Observed default rate",
           title="Calibration (out of fold)")
    ax.legend(loc="upper left")
    return fig


def confusion(y: np.ndarray, proba: np.ndarray, threshold: float) -> Figure:
    """Confusion matrix at the threshold, with counts and row shares."""
    pred = (np.asarray(proba) >= threshold).astype(int)
    cm = metrics.confusion_matrix(y, pred, labels=[0, 1])
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.imshow(cm, cmap="Blues")
    names = ["repaid", "defaulted"]
    for (i, j), n in np.ndenumerate(cm):
        share = n / max(cm[i].sum(), 1)
        ax.text(j, i, f"{n:,}\n({share:.0%})", ha="center", va="center",
                color="white" if n > cm.max() / 2 else "black")
    ax.set_xticks([0, 1], ["granted", "refused"])
    ax.set_yticks([0, 1], names)
    ax.set(xlabel="Decision", ylabel="Outcome", title=f"Confusion matrix at {threshold:.3f}")
    return fig


def shap_summary(contributions: np.ndarray, frame: pd.DataFrame, max_display: int = 20,
                 ) -> Figure:
    """SHAP beeswarm of per-client contributions (LightGBM ``pred_contrib``, bias excluded)."""
    import shap

    data = frame.apply(lambda s: s.cat.codes.replace(-1, np.nan) if s.dtype == "category" else s)
    explanation = shap.Explanation(values=contributions, data=data.to_numpy(dtype=float),
                                   feature_names=list(frame.columns))
    plt.figure()  # shap draws on the current figure: never on another plot's
    shap.plots.beeswarm(explanation, max_display=max_display, show=False)
    fig = plt.gcf()
    fig.suptitle("Contributions to the default risk (log-odds)")
    return fig


def reliability_diagram(table: pd.DataFrame) -> Figure:
    """Observed against mean predicted default rate per score decile (``reliability.deciles``),
    flagged deciles (binomial test) in vermilion."""
    fig, ax = plt.subplots(figsize=(5, 5))
    top = float(max(table["predicted"].max(), table["observed"].max())) * 1.05
    ax.plot([0, top], [0, top], color="grey", linestyle="--", label="perfect calibration")
    ax.plot(table["predicted"], table["observed"], color=BLUE, marker="o", label="deciles")
    flagged = table[table["flag"]]
    if len(flagged):
        ax.scatter(flagged["predicted"], flagged["observed"], color=VERMILION, zorder=3,
                   label="binomial test p < 0.05")
    ax.set(xlabel="Mean predicted default rate", ylabel="Observed default rate",
           title="Reliability diagram", xlim=(0, top), ylim=(0, top))
    ax.legend(loc="upper left")
    return fig
