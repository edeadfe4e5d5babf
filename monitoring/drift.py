"""Data drift of the model's main features: reference applications vs current ones (Evidently).

A sample is named by a word or a folder:

- ``train`` / ``test``: the feature store's training or test clients;
- ``log``: the prediction log (every application the model server scored, ``serving/predlog.py``);
- a folder: a prediction log (``part-*.parquet``), a feature store (``clients.parquet``) or a
  Kaggle-format data folder (its applications go through the feature code).

Both samples become model inputs (``to_model_frame``) and are compared on the champion's top
features by mean |SHAP| (its ``importance.csv`` artifact). The Evidently report is saved as HTML
and logged to MLflow as a run of the ``credit-scoring-monitoring`` experiment, with the share
of drifted features as the metric ``share_drifted_features`` and one ``drift_<feature>`` score
per feature. Beside it, the population stability index of the champion's score (``psi_score``)
and the characteristic stability index of each feature (``csi_<feature>``), with the usual
0.1 / 0.25 bands (``scoring/stability.py``), are logged in the same run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from scoring import features as F
from scoring import tracking
from scoring.names import CHAMPION, DEFAULT_STORE, MODEL_NAME, MONITORING_EXPERIMENT
from scoring.request import pack_history
from scoring.stability import stability_table
from scoring.store import read_store, store_path

EXPERIMENT = MONITORING_EXPERIMENT
SAMPLES = ("train", "test", "log")


class DriftError(Exception):
    """A sample cannot be read or is empty; the message names the file."""


@dataclass
class DriftConfig:
    """What to compare, and where to write."""

    reference: str = "train"
    current: str = "test"
    store: Path = Path(DEFAULT_STORE)
    prediction_log: Path = Path("data/predictions")
    top: int = 20
    features: list[str] = field(default_factory=list)
    max_rows: int = 50_000
    out: Path | None = None
    log_to_mlflow: bool = True
    seed: int = 0


@dataclass
class DriftResult:
    """The outcome: per-feature scores and where the report went."""

    share: float
    table: pd.DataFrame
    report: Path
    rows: tuple[int, int]
    run_id: str | None = None
    stability: pd.DataFrame | None = None  # PSI of the score, CSI of the features

    @property
    def drifted(self) -> list[str]:
        return self.table.loc[self.table["drifted"], "feature"].tolist()


def load_sample(name: str, store: Path, prediction_log: Path) -> pd.DataFrame:
    """The applications a sample name stands for (raw fields + history features)."""
    try:
        if name in ("train", "test"):
            rows = read_store(store)
            return rows[rows[F.DATASET] == name]
        path = prediction_log if name == "log" else Path(name)
        if name == "log" or any(path.glob("part-*.parquet")):
            from serving.predlog import read_log

            return read_log(path)
        if store_path(path).is_file():
            return read_store(path)
        if path.is_dir():
            return _from_tables(path)
    except FileNotFoundError as err:
        raise DriftError(str(err)) from err
    except Exception as err:  # a corrupt Parquet file: name it, say what the reader said
        source = store_path(store) if name in ("train", "test") else name
        raise DriftError(f"cannot read {source}: {str(err).splitlines()[0]}") from err
    raise DriftError(f"{name}: not one of {', '.join(SAMPLES)} nor an existing folder")


def _from_tables(folder: Path) -> pd.DataFrame:
    """The applications of a Kaggle-format folder, through the feature code."""
    from scoring.tables import find_file, read_tables

    tables = read_tables(folder)
    rows = F.build_features(tables).to_pandas()
    dataset = "test" if find_file(folder, "application_test") else "train"
    return rows[rows[F.DATASET] == dataset]


def champion_importance(top: int) -> tuple[list[str], str | None]:
    """The champion's ``top`` features by mean |SHAP|, and its version."""
    from mlflow import MlflowClient

    version = tracking.alias_version(CHAMPION)
    if version is None:
        raise DriftError(f"no @{CHAMPION} of {MODEL_NAME}: run `scoring promote`, or "
                         "give --feature")
    client = MlflowClient()
    run_id = client.get_model_version(MODEL_NAME, version).run_id
    table = pd.read_csv(client.download_artifacts(run_id, "importance.csv"))
    return table["feature"].head(top).tolist(), str(version)


def model_inputs(rows: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """The model's view of ``rows`` on ``features``; absent history columns become missing."""
    absent = [f for f in features if f not in rows.columns and f not in F.APPLICATION_FEATURES]
    if absent:
        rows = rows.assign(**{f: float("nan") for f in absent})
    return F.to_model_frame(rows.reset_index(drop=True), features)


def champion_scores(rows: pd.DataFrame) -> pd.Series | None:
    """The champion's probability for each row (the logged one for prediction-log rows), or
    None without a champion."""
    import mlflow

    if "probability" in rows:
        return rows["probability"].astype(float).reset_index(drop=True)
    if tracking.alias_version(CHAMPION) is None:
        return None
    model = mlflow.pyfunc.load_model(tracking.alias_uri(CHAMPION))
    out = model.predict(pack_history(rows.reset_index(drop=True)), params={"explain": "none"})
    return out["probability"].astype(float)


def stability(reference: pd.DataFrame, current: pd.DataFrame, inputs: list[pd.DataFrame],
              ) -> pd.DataFrame:
    """PSI of the champion's score (when there is one) and CSI of each compared feature."""
    frames = [frame.reset_index(drop=True) for frame in inputs]
    scores = [champion_scores(rows) for rows in (reference, current)]
    if scores[0] is not None and scores[1] is not None:
        frames = [frame.assign(score=score).loc[:, ["score", *frame.columns]]
                  for frame, score in zip(frames, scores, strict=True)]
    return stability_table(*frames)


def compare(reference: pd.DataFrame, current: pd.DataFrame):
    """Run Evidently's data-drift preset; returns (snapshot, per-feature table, share)."""
    _pandas3_shim()
    from evidently import Report
    from evidently.presets import DataDriftPreset

    snapshot = Report([DataDriftPreset()]).run(current, reference)
    rows, share = [], float("nan")
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config["type"].endswith("DriftedColumnsCount"):
            share = float(metric["value"]["share"])
        elif config["type"].endswith("ValueDrift"):
            score, threshold = float(metric["value"]), float(config["threshold"])
            p_value = "p_value" in config["method"]
            rows.append({"feature": config["column"], "method": config["method"],
                         "score": score, "threshold": threshold,
                         "drifted": score < threshold if p_value else score >= threshold})
    return snapshot, pd.DataFrame(rows), share


def _pandas3_shim() -> None:
    """Evidently 0.7 imports a helper that pandas 3 removed; put an equivalent back."""
    import pandas.core.dtypes.common as common

    if not hasattr(common, "infer_dtype_from_object"):
        common.infer_dtype_from_object = lambda dtype: common.pandas_dtype(dtype).type


def run_drift(config: DriftConfig, say: Callable[[str], None] = print) -> DriftResult:
    """Compare the two samples, save the HTML report and log it to MLflow."""
    tracking.configure(experiment=EXPERIMENT)
    features, version = (config.features, None) if config.features else \
        champion_importance(config.top)
    samples, raw = [], []
    for name in (config.reference, config.current):
        rows = load_sample(name, config.store, config.prediction_log)
        if rows.empty:
            raise DriftError(f"sample {name!r} holds no application")
        if len(rows) > config.max_rows:
            rows = rows.sample(config.max_rows, random_state=config.seed)
        samples.append(model_inputs(rows, features))
        raw.append(rows)
        say(f"{name}: {len(rows):,} applications")
    snapshot, table, share = compare(*samples)
    indices = stability(*raw, samples)
    out = config.out or Path("data/monitoring") / time.strftime("drift-%Y%m%d-%H%M%S.html")
    out.parent.mkdir(parents=True, exist_ok=True)
    snapshot.save_html(str(out))
    result = DriftResult(share, table, out, (len(samples[0]), len(samples[1])),
                         stability=indices)
    if config.log_to_mlflow:
        result.run_id = _log_run(config, result, version)
    return result


def _log_run(config: DriftConfig, result: DriftResult, version: str | None) -> str:
    """The drift run in the monitoring experiment: params, metrics, report and table."""
    import mlflow

    with mlflow.start_run(experiment_id=tracking.experiment_id(EXPERIMENT),
                          run_name=f"drift {config.reference} vs {config.current}") as run:
        mlflow.set_tags({"kind": "drift", "model_version": version or "none"})
        mlflow.log_params({"reference": config.reference, "current": config.current,
                           "features": len(result.table), "reference_rows": result.rows[0],
                           "current_rows": result.rows[1]})
        mlflow.log_metrics({"share_drifted_features": result.share,
                            "drifted_features": float(result.table["drifted"].sum()),
                            **{f"drift_{f}": s for f, s in
                               zip(result.table["feature"], result.table["score"],
                                   strict=True)}})
        indices = result.stability
        mlflow.log_metrics({("psi_" if c == "score" else "csi_") + c: v for c, v in
                            zip(indices["column"], indices["index"], strict=True)})
        mlflow.log_metric("stability_significant", float((indices["band"] == "significant")
                                                         .sum()))
        mlflow.log_artifact(str(result.report))
        tracking.log_table(result.table, "drift.csv")
        tracking.log_table(indices, "stability.csv")
    return run.info.run_id
