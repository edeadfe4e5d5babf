"""The model versions the replicas serve: the champion's version in the registry, and the run
folder's copy of each served version (a replica restart opens no tracking store)."""

from __future__ import annotations

import json
import os
import shlex
import shutil
from pathlib import Path

from ops.settings import BACKEND_HOST, REPLICAS, ServiceError, Settings
from scoring.names import CHAMPION, MODEL_NAME
from scoring.tracking import model_uri, sqlite_file


def model_dir(s: Settings, version: str) -> Path:
    """Where the run folder keeps the model files of ``version``."""
    return s.run / "models" / str(version)


def fetch_model(s: Settings, version: str) -> Path:
    """Copy the files of model ``version`` from the registry into the run folder.

    Replicas serve this copy: a restart neither opens the tracking store nor downloads
    anything, and still works while the store is unreadable. The copy notes where it came from
    (``.source``): a run folder kept while the tracking store was replaced (a new demo, another
    ``MLFLOW_TRACKING_URI``) holds a "version 1" of another model, which is fetched again.
    """
    import tempfile

    from mlflow import MlflowClient
    from mlflow.artifacts import download_artifacts

    target = model_dir(s, version)
    uri = model_uri(version, s.model_name)
    try:
        # The registry is the tracking store: ask it for the version's files explicitly
        # (a models:/ URI alone would be looked up in MLflow's default registry).
        source = MlflowClient(s.tracking_uri, s.tracking_uri).get_model_version_download_uri(
            s.model_name, version)
        stamp = f"{s.tracking_uri} {source}"
        if (target / "MLmodel").is_file() and _read(target / ".source") == stamp:
            return target
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            local = Path(download_artifacts(artifact_uri=source, dst_path=tmp,
                                            tracking_uri=s.tracking_uri))
            (local / ".source").write_text(stamp)
            if target.exists():
                shutil.rmtree(target)
            local.replace(target)
    except Exception as err:  # MlflowException, OSError, a database error
        raise ServiceError(f"cannot copy {uri} from {s.tracking_uri}: "
                           f"{str(err).splitlines()[0]}") from err
    return target


def _read(path: Path) -> str | None:
    return path.read_text() if path.is_file() else None


def prune_models(s: Settings, keep: str) -> None:
    """Remove the run folder's model copies other than version ``keep``."""
    for folder in model_dir(s, keep).parent.iterdir():
        if folder.name != str(keep):
            shutil.rmtree(folder, ignore_errors=True)


#: uvicorn's own line per request, off (read by its command line from the environment): about
#: 0.1-0.2 ms of CPU a request in the model server's logging; nginx keeps no access log
#: either, the prediction log and the service's metrics count what was scored.
NO_ACCESS_LOG = {"UVICORN_ACCESS_LOG": "false"}


def write_replica(s: Settings, name: str, version: str) -> None:
    """The model version a replica serves and the command serving it, read by
    ``ops.launch`` at each start: MLflow's scoring server on the run folder's copy of that
    version (no tracking store to open at a restart).

    The command and its environment are the ones ``mlflow models serve -m PATH --env-manager
    local`` runs, as MLflow builds them (``scoring_server.get_cmd``): the same server, without
    the ``mlflow models serve`` process that only waits for it (200 MiB per replica) and, when
    an out-of-memory kill takes the server, exits seconds later, so a replica is one process
    that supervisord restarts at once. uvicorn's access log is off (``NO_ACCESS_LOG``).
    """
    from mlflow.pyfunc import scoring_server

    path = fetch_model(s, version)
    port = s.replica_ports[REPLICAS.index(name)]
    line, env = scoring_server.get_cmd(str(path), port, BACKEND_HOST, None, s.workers)
    env.update(NO_ACCESS_LOG)
    (s.run / f"{name}.json").write_text(json.dumps({
        "model_uri": model_uri(version, s.model_name), "version": str(version),
        "model_path": str(path), "command": shlex.split(line),
        "env": {k: v for k, v in env.items() if os.environ.get(k) != v},
        "nice": s.model_nice}, indent=2))


def replica_version(s: Settings, name: str) -> str | None:
    path = s.run / f"{name}.json"
    return str(json.loads(path.read_text())["version"]) if path.is_file() else None


def champion_version(tracking_uri: str, model_name: str = MODEL_NAME) -> str:
    """The version carrying @champion; a clear error when the store is missing or unreadable."""
    if (path := sqlite_file(tracking_uri)) is not None and not path.is_file():
        raise ServiceError(f"tracking store {path} not found (run `scoring train` and "
                           "`scoring promote` first, or set MLFLOW_TRACKING_URI)")
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        return str(MlflowClient(tracking_uri, tracking_uri).get_model_version_by_alias(
            model_name, CHAMPION).version)
    except MlflowException as err:
        if "RESOURCE_DOES_NOT_EXIST" in str(getattr(err, "error_code", "")) or \
                "not found" in str(err).lower():
            raise ServiceError(f"no @champion version of {model_name} in {tracking_uri} "
                               "(run `scoring promote`)") from err
        raise ServiceError(f"cannot read the tracking store {tracking_uri}: {err}") from err
    except Exception as err:  # a corrupt SQLite file surfaces as a database error
        raise ServiceError(f"cannot read the tracking store {tracking_uri}: "
                           f"{str(err).splitlines()[0]}") from err
