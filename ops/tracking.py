"""Start the MLflow tracking server without its waiting parent: ``python -m ops.tracking ARGS``.

``mlflow server ARGS`` checks its options, creates or upgrades the backend store, then starts
uvicorn as a child process and only waits for it: about 150 MiB held for nothing on a 1 GiB
host. This runs the very same command (same options, same checks, same store set-up, same
server environment) and, at the point where MLflow would spawn the server, replaces itself
with it (``os.execve``), so supervisord watches the server process itself and a kill of it is
a kill of the program. The job runner that ``mlflow server`` would start next is off anyway
(``MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false``, set by ``ops.render``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence


def _exec_server(cmd: Sequence[str], extra_env: Mapping[str, str] | None = None, **_) -> None:
    """Stand-in for ``mlflow.utils.process._exec_cmd``: become the server instead of waiting."""
    os.execve(cmd[0], list(cmd), {**os.environ, **(extra_env or {})})


def main(args: Sequence[str]) -> None:
    """Run ``mlflow server ARGS`` and exec the uvicorn server it builds."""
    import mlflow.server
    from mlflow.cli import cli

    mlflow.server._exec_cmd = _exec_server  # the one name _run_server calls to spawn
    cli.main(["server", *args], prog_name="mlflow")


if __name__ == "__main__":
    main(sys.argv[1:])
