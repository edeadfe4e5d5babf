"""The only module that writes to MLflow: tracking store, runs, model logging, registry.

The tracking store is an SQLite file under ``mlruns/`` unless ``MLFLOW_TRACKING_URI`` is set
(for example a server backed by PostgreSQL). Nothing happens at import.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from scoring.names import (  # noqa: F401 (re-exported for the callers of track)
    CHALLENGER,
    CHAMPION,
    DEFAULT_TRACKING_DB,
    EXPERIMENT,
    MODEL_NAME,
    TRACKING_URI_ENV,
)

MODEL_CODE = Path(__file__).resolve().parents[1] / "serving" / "model.py"
#: What the logged model ships besides its code: the core package, and the prediction log
#: (imported as ``predlog`` where the project itself is not installed).
CODE_PATHS = [Path(__file__).resolve().parents[1] / "scoring",
              Path(__file__).resolve().parents[1] / "serving" / "predlog.py"]


def default_store() -> str:
    """The embedded store: an SQLite database under ``mlruns/`` (created if needed)."""
    path = DEFAULT_TRACKING_DB.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def configure(uri: str | None = None) -> str:
    """Point MLflow at ``uri``, else ``MLFLOW_TRACKING_URI``, else the embedded store.

    Returns the URI in use. Creates the experiment, with artifacts under ``mlruns/artifacts``
    for the embedded store.
    """
    import mlflow

    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    uri = uri or os.environ.get(TRACKING_URI_ENV) or default_store()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    if run_id := os.environ.get("MLFLOW_RUN_ID"):  # launched by `mlflow run`: log into its run
        mlflow.set_experiment(experiment_id=mlflow.get_run(run_id).info.experiment_id)
        return uri
    if mlflow.get_experiment_by_name(EXPERIMENT) is None:
        location = None
        if uri.startswith("sqlite:///"):
            location = (Path(uri.removeprefix("sqlite:///")).parent / "artifacts").as_uri()
        mlflow.create_experiment(EXPERIMENT, artifact_location=location)
    mlflow.set_experiment(EXPERIMENT)
    return uri


def pip_requirements() -> list[str]:
    """The served model's requirements, pinned to the versions training ran with.

    Given explicitly because inferring them costs seconds per logged model.
    """
    from importlib.metadata import version

    return [f"{pkg}=={version(pkg)}" for pkg in
            ("mlflow", "lightgbm", "pandas", "numpy", "scipy", "polars", "pyarrow")]


def alias_version(alias: str, name: str = MODEL_NAME) -> str | None:
    """The registered version carrying ``alias``, or None."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        return MlflowClient().get_model_version_by_alias(name, alias).version
    except MlflowException:
        return None


def model_version(model_uri: str) -> str | None:
    """The registered version a ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION`` URI names,
    or None for any other URI (or an unknown alias)."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    name, sep, rest = model_uri.removeprefix("models:/").partition("@")
    if not model_uri.startswith("models:/"):
        return None
    if sep:
        try:
            return str(MlflowClient().get_model_version_by_alias(name, rest).version)
        except MlflowException:
            return None
    version = model_uri.removeprefix("models:/").rpartition("/")[2]
    return version if version.isdigit() else None


def set_alias(alias: str, version: str, name: str = MODEL_NAME) -> None:
    from mlflow import MlflowClient

    MlflowClient().set_registered_model_alias(name, alias, version)


def log_figures(figures: dict[str, Any]) -> None:
    """Log matplotlib figures as PNG artifacts under ``plots/`` and close them."""
    import matplotlib.pyplot as plt
    import mlflow

    for name, fig in figures.items():
        mlflow.log_figure(fig, f"plots/{name}.png")
        plt.close(fig)


def signature():
    """The served model's signature and params.

    Raw application fields are columns typed from the schema, required when the schema says
    they are never empty and optional otherwise (an absent optional field is a missing value,
    so callers may leave out what they do not know). The history features travel as one
    optional ``history`` object (see ``scoring.request.pack_history``), which the model checks
    itself: a client without history simply leaves it out.
    """
    from mlflow.models import ModelSignature
    from mlflow.types.schema import AnyType, ColSpec, ParamSchema, ParamSpec, Schema

    from scoring.request import HISTORY
    from scoring.schema import APPLICATION_TEST

    kinds = {"int": "long", "float": "double", "category": "string"}
    inputs = [ColSpec(kinds[c.kind], c.name, required=not c.nullable)
              for c in APPLICATION_TEST.columns]
    inputs.append(ColSpec(AnyType(), HISTORY, required=False))
    params = ParamSchema([ParamSpec("explain", "string", "top-k"),
                          ParamSpec("top_k", "long", 10),
                          ParamSpec("threshold", "double", None)])
    return ModelSignature(inputs=Schema(inputs), params=params)


def log_model(booster_file: Path, config_file: Path, input_example: Any):
    """Log the pyfunc model (code in ``serving/model.py``) with its artifacts; returns its info."""
    import mlflow

    return mlflow.pyfunc.log_model(
        name="model",
        python_model=str(MODEL_CODE),
        artifacts={"booster": str(booster_file), "config": str(config_file)},
        code_paths=[str(p) for p in CODE_PATHS],
        signature=signature(),
        input_example=input_example,
        pip_requirements=pip_requirements(),
    )


def register(model_uri: str, run_id: str) -> str:
    """Register the model as a new version of ``credit-scoring`` with alias challenger."""
    import mlflow

    version = mlflow.register_model(model_uri, MODEL_NAME, tags={"run_id": run_id}).version
    set_alias(CHALLENGER, version)
    return version


@contextmanager
def start_run(config: Any, sizes: dict[str, Any], labelled: Any, source: Path,
              ) -> Iterator[str]:
    """A run with the config as params and the training data's identity; yields its id.

    On an exception the run is marked FAILED and nothing is registered.
    """
    import dataclasses

    import mlflow

    with mlflow.start_run() as run:
        given = run.data.params  # `mlflow run` has logged the entry point's own spelling
        mlflow.log_params({k: str(v) for k, v in dataclasses.asdict(config).items()
                           if k not in given})
        mlflow.log_params(sizes)
        mlflow.log_param("default_rate", round(float(labelled["TARGET"].mean()), 5))
        with warnings.catch_warnings():  # MLflow's hints on guessing a schema do not apply
            warnings.simplefilter("ignore", UserWarning)
            data = mlflow.data.from_pandas(labelled, source=str(source.resolve()),
                                           name="clients", targets="TARGET")
            mlflow.log_input(data, context="training")
        yield run.info.run_id


def log_candidate(name: str, params: dict[str, Any], scores: dict[str, float],
                  seconds: float) -> None:
    """One candidate as a nested run: its params and out-of-fold (OOF) metrics."""
    import mlflow

    with mlflow.start_run(run_name=name, nested=True):
        mlflow.log_params({k: str(v) for k, v in params.items()})
        mlflow.log_metrics({**{f"oof_{k}": v for k, v in scores.items()},
                            "cv_seconds": seconds})
    mlflow.log_metric(f"{name}_oof_roc_auc", scores["roc_auc"])
    mlflow.log_metric(f"{name}_oof_business_cost", scores["business_cost"])


def log_trial(number: int, auc: float) -> None:
    """One hyperparameter trial: its mean CV ROC AUC as a step of the parent run."""
    import mlflow

    mlflow.log_metric("search_cv_roc_auc", auc, step=number)


def log_params(values: dict[str, Any]) -> None:
    import mlflow

    mlflow.log_params({k: str(v) for k, v in values.items()})


def log_metrics(values: dict[str, float]) -> None:
    import mlflow

    mlflow.log_metrics(values)


def log_table(frame: Any, name: str) -> None:
    """Log a pandas frame as a CSV artifact."""
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, name)
        frame.to_csv(path, index=False)
        mlflow.log_artifact(str(path))


def log_promotion(challenger: str, champion: str | None, promoted: bool, reason: str,
                  new: dict[str, float], old: dict[str, float] | None) -> None:
    """Record a promotion decision as a run, and as tags on the challenger version."""
    import mlflow
    from mlflow import MlflowClient

    with mlflow.start_run(run_name=f"promote v{challenger}"):
        mlflow.set_tags({"kind": "promotion", "promoted": str(promoted), "reason": reason})
        mlflow.log_params({"challenger": challenger, "champion_before": champion or "none"})
        mlflow.log_metrics({f"challenger_{k}": v for k, v in new.items()})
        if old:
            mlflow.log_metrics({f"champion_{k}": v for k, v in old.items()})
    client = MlflowClient()
    client.set_model_version_tag(MODEL_NAME, challenger, "promotion",
                                 ("promoted: " if promoted else "refused: ") + reason)
