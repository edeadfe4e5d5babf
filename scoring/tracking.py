"""Where MLflow keeps things: the tracking store, the artifacts beside it, the experiments and
the registered models' URIs. One place for each, below every package that reads or writes runs
(training, monitoring, operations).

The tracking store is ``MLFLOW_TRACKING_URI``, else an SQLite file under ``mlruns/`` whose
artifacts go to ``mlruns/artifacts``. MLflow is imported inside the functions that call it:
nothing happens at import.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from scoring.names import DEFAULT_TRACKING_DB, EXPERIMENT, MODEL_NAME, TRACKING_URI_ENV

_SQLITE = "sqlite:///"


def default_store() -> str:
    """The embedded store: an SQLite database under ``mlruns/`` (its folder created)."""
    path = DEFAULT_TRACKING_DB.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"{_SQLITE}{path}"


def sqlite_file(uri: str) -> Path | None:
    """The database file of an SQLite store URI, or None for any other store."""
    return Path(uri.removeprefix(_SQLITE)) if uri.startswith(_SQLITE) else None


def artifacts_root(uri: str) -> Path | None:
    """Where the artifacts of an SQLite store go (``artifacts/`` beside the database), or None
    for a server, which has its own."""
    database = sqlite_file(uri)
    return None if database is None else database.parent / "artifacts"


def experiment_id(name: str) -> str:
    """The id of experiment ``name`` in the current store, created when missing (artifacts
    beside an SQLite store)."""
    import mlflow

    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    root = artifacts_root(mlflow.get_tracking_uri())
    return mlflow.create_experiment(name, artifact_location=root.as_uri() if root else None)


def configure(uri: str | None = None, experiment: str = EXPERIMENT) -> str:
    """Point MLflow at ``uri``, else ``MLFLOW_TRACKING_URI``, else the embedded store, and make
    ``experiment`` the current one (created when missing). Returns the URI in use.

    Under ``mlflow run`` (``MLFLOW_RUN_ID`` set), the experiment is the one of that run.
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
    mlflow.set_experiment(experiment_id=experiment_id(experiment))
    return uri


def log_table(frame: Any, name: str) -> None:
    """Log a pandas frame as the CSV artifact ``name`` of the active run."""
    import tempfile

    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, name)
        frame.to_csv(path, index=False)
        mlflow.log_artifact(str(path))


def model_uri(version: str | int, name: str = MODEL_NAME) -> str:
    """The URI of a registered version: ``models:/NAME/VERSION``."""
    return f"models:/{name}/{version}"


def alias_uri(alias: str, name: str = MODEL_NAME) -> str:
    """The URI of the version carrying ``alias``: ``models:/NAME@ALIAS``."""
    return f"models:/{name}@{alias}"


def alias_version(alias: str, name: str = MODEL_NAME) -> str | None:
    """The registered version carrying ``alias``, or None."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        return MlflowClient().get_model_version_by_alias(name, alias).version
    except MlflowException:
        return None


def model_version(uri: str) -> str | None:
    """The registered version a ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION`` URI names,
    or None for any other URI (or an unknown alias)."""
    if not uri.startswith("models:/"):
        return None
    name, sep, alias = uri.removeprefix("models:/").partition("@")
    if sep:
        found = alias_version(alias, name)
        return None if found is None else str(found)
    version = uri.removeprefix("models:/").rpartition("/")[2]
    return version if version.isdigit() else None
