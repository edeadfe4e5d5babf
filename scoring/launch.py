"""Start one model-server replica: ``python -m scoring.launch run/model-1.json``.

Reads the replica file written by ``scoring up`` / ``scoring reload`` (model URI, version,
host, port, workers), exports ``SCORING_MODEL_VERSION`` for the prediction log, and replaces
itself with the stock ``mlflow models serve`` of that exact version. Resolving the version
before the start (not ``@champion`` at start time) means a replica that supervisord restarts
after a crash serves the version that was deployed, not one promoted since.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def serve_command(replica: dict) -> list[str]:
    """The ``mlflow models serve`` command line of a replica."""
    mlflow = str(Path(sys.executable).parent / "mlflow")
    return [mlflow, "models", "serve", "-m", replica["model_uri"], "--env-manager", "local",
            "-h", replica["host"], "-p", str(replica["port"]),
            "-w", str(replica.get("workers", 1))]


def main(path: str) -> None:
    """Exec the model server described by the replica file ``path``."""
    replica = json.loads(Path(path).read_text())
    os.environ["SCORING_MODEL_VERSION"] = str(replica["version"])
    command = serve_command(replica)
    print(" ".join(command), flush=True)
    os.execv(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1])
