"""What the dashboard reads from the MLflow registry: the champion's card and artifacts
(metrics, importance, plots, and the model card document written at training).

The only dashboard module that imports mlflow, and only its client for registry and artifact
reads: the dashboard never loads the model itself, scores come from the model server.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from scoring.names import CHAMPION, MODEL_NAME, tracking_uri

PLOTS = ("confusion_matrix", "roc_curve", "shap_summary")


@dataclass
class ModelCard:
    """The champion model as an advisor's page shows it."""

    version: str
    run_id: str
    trained_at: datetime
    data_source: str
    data_rows: int | None
    data_digest: str
    metrics: dict[str, float]
    params: dict[str, str]
    importance: pd.DataFrame
    plots: dict[str, bytes] = field(default_factory=dict)
    #: The ROC curve of the training's out-of-fold predictions (columns ``fpr``, ``tpr``) and
    #: its AUC, drawn in the page with translated labels; None for a run without them.
    roc: pd.DataFrame | None = None
    roc_auc: float | None = None
    document: str | None = None  # the model card logged at training (Markdown), if any

    @property
    def threshold(self) -> float:
        return self.metrics.get("threshold", self.metrics.get("test_threshold", float("nan")))

    @property
    def evaluated_on(self) -> str:
        """``test`` when the run kept an untouched test part, else ``oof``: every labelled
        client scored out of fold, by a model of the cross-validation that never saw it."""
        return "test" if "test_roc_auc" in self.metrics else "oof"

    def metric(self, name: str) -> float:
        """A reported metric (``roc_auc``, ``business_cost``...) of the evaluation clients."""
        return self.metrics.get(f"{self.evaluated_on}_{name}", float("nan"))

    def confusion(self) -> dict[str, int] | None:
        """Confusion counts of the evaluation clients at the threshold (TP, FP, FN, TN), or
        None. Recovered exactly from the logged precision, recall, accuracy and their number.
        """
        rows = "test_rows" if self.evaluated_on == "test" else "cv_rows"
        return confusion_counts(self.metric("precision"), self.metric("recall"),
                                self.metric("accuracy"), _int(self.params.get(rows)))


def confusion_counts(precision: float | None, recall: float | None, accuracy: float | None,
                     n: int | None) -> dict[str, int] | None:
    """TP, FP, FN, TN from precision, recall, accuracy and the number of rows, or None.

    With TP + FP + FN + TN = n: FP = TP (1 - p) / p, FN = TP (1 - r) / r and
    TP + TN = accuracy n give TP = n (1 - accuracy) / ((1 - p) / p + (1 - r) / r).
    """
    if None in (precision, recall, accuracy, n) or not precision or not recall:
        return None
    tp = n * (1 - accuracy) / ((1 - precision) / precision + (1 - recall) / recall)
    fp, fn = tp * (1 - precision) / precision, tp * (1 - recall) / recall
    tn = accuracy * n - tp
    return {k: round(v) for k, v in {"TP": tp, "FP": fp, "FN": fn, "TN": tn}.items()}


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def champion_card(name: str = MODEL_NAME, alias: str = CHAMPION,
                  uri: str | None = None) -> ModelCard:
    """The card of the model version carrying ``alias``: metrics, data, importance, plots.

    Raises mlflow's MlflowException when there is no such version.
    """
    from mlflow import MlflowClient

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    client = MlflowClient(tracking_uri=uri or tracking_uri(),
                          registry_uri=uri or tracking_uri())
    version = client.get_model_version_by_alias(name, alias)
    run = client.get_run(version.run_id)
    source, rows, digest = "unknown", None, ""
    for item in run.inputs.dataset_inputs:
        source, digest = item.dataset.source, item.dataset.digest
        rows = _rows(item.dataset.profile)
    with tempfile.TemporaryDirectory() as tmp:
        importance = pd.read_csv(client.download_artifacts(run.info.run_id, "importance.csv",
                                                           tmp))
        plots = {}
        for plot in PLOTS:
            try:
                path = client.download_artifacts(run.info.run_id, f"plots/{plot}.png", tmp)
            except Exception:  # an older run may lack a plot; the page says so
                continue
            plots[plot] = Path(path).read_bytes()
        roc, roc_auc = _roc(client, run.info.run_id, tmp)
        try:
            document = Path(client.download_artifacts(run.info.run_id, "model_card.md",
                                                      tmp)).read_text()
        except Exception:  # a run older than the governance reports has no card
            document = None
    return ModelCard(
        version=version.version, run_id=run.info.run_id,
        trained_at=datetime.fromtimestamp(run.info.start_time / 1000, tz=UTC),
        data_source=_source_path(source), data_rows=rows, data_digest=digest,
        metrics=dict(run.data.metrics), params=dict(run.data.params),
        importance=importance, plots=plots, roc=roc, roc_auc=roc_auc,
        document=document)


def _roc(client, run_id: str, tmp: str) -> tuple[pd.DataFrame | None, float | None]:
    """The ROC curve of the run's out-of-fold predictions (``oof_predictions.csv``: TARGET and
    the LightGBM probability), or (None, None) when the run has none."""
    try:
        path = client.download_artifacts(run_id, "oof_predictions.csv", tmp)
        oof = pd.read_csv(path, usecols=["TARGET", "lightgbm"]).dropna()
    except Exception:  # an older run, another model: the page shows the training's image
        return None, None
    return roc_points(oof["TARGET"].to_numpy(), oof["lightgbm"].to_numpy())


def roc_points(target: np.ndarray, proba: np.ndarray, points: int = 200
               ) -> tuple[pd.DataFrame, float]:
    """The ROC curve of labelled probabilities (at most ``points`` points, ``fpr``/``tpr``)
    and its AUC (on every threshold)."""
    order = np.argsort(-proba, kind="mergesort")
    y, p = target[order].astype("float64"), proba[order]
    last = np.r_[np.flatnonzero(np.diff(p)), y.size - 1]  # last row of each distinct score
    tp = np.cumsum(y)[last]
    fp = last + 1 - tp
    tpr = np.r_[0.0, tp / max(tp[-1], 1.0)]
    fpr = np.r_[0.0, fp / max(fp[-1], 1.0)]
    auc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
    keep = np.unique(np.linspace(0, fpr.size - 1, min(points, fpr.size)).round().astype(int))
    return pd.DataFrame({"fpr": fpr[keep], "tpr": tpr[keep]}), auc


def _rows(profile: str | None) -> int | None:
    import json

    try:
        return int(json.loads(profile or "{}")["num_rows"])
    except (ValueError, KeyError, TypeError):
        return None


def _source_path(source: str) -> str:
    import json

    try:
        return str(json.loads(source)["uri"])
    except (ValueError, KeyError, TypeError):
        return source
