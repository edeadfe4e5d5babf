"""Start one model-server replica: ``python -m ops.launch run/model-1.json``.

Reads the replica file written by ``scoring up`` / ``scoring reload`` (version, the server
command and environment of ``mlflow models serve`` on the run folder's copy of the model,
``ops.models.write_replica``), exports ``SCORING_MODEL_VERSION`` for the prediction log,
lowers its CPU priority (``nice``: the dashboard's page builds come first, scoring takes every
cycle left) and replaces itself with the server. The version is resolved before the start
(not ``@champion`` at start time), so a replica that supervisord restarts after a crash
serves the version that was deployed, not one promoted since.

A server left by a previous start (one from an earlier ``mlflow models serve``, which ran it
as a child that outlived the command) would hold the port: it is stopped first, gracefully.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path

from scoring.names import MODEL_VERSION_ENV

BIN = Path(sys.executable).parent


def leftovers(group: int) -> list[int]:
    """Processes of process group ``group`` that run MLflow's scoring server."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            pgrp = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[2])
            if pgrp == group and b"scoring_server" in (proc / "cmdline").read_bytes():
                found.append(int(proc.name))
        except (OSError, ValueError, IndexError):  # the process ended meanwhile
            continue
    return found


def stop_leftovers(pidfile: Path, grace: float = 10.0) -> None:
    """Stop what is left of the previous start (its process group, noted in ``pidfile``).

    SIGTERM first: when supervisord stopped the replica (a reload), it is the uvicorn child
    still finishing its requests, and they must not be cut. What is still there after
    ``grace`` seconds gets SIGKILL.
    """
    if not pidfile.is_file():
        return
    group = int(pidfile.read_text())
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        for pid in leftovers(group):
            with contextlib.suppress(ProcessLookupError):  # ended meanwhile
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while leftovers(group) and time.monotonic() < deadline:
            time.sleep(0.1)


def main(path: str) -> None:
    """Exec the model server described by the replica file ``path``."""
    replica = json.loads(Path(path).read_text())
    if "command" not in replica:
        sys.exit(f"{path} was written by an older `scoring up`: run `scoring down` and "
                 "`scoring up` again")
    pidfile = Path(path).with_suffix(".pid")
    stop_leftovers(pidfile)
    pidfile.write_text(str(os.getpgrp()))
    os.environ.update(replica.get("env", {}))
    os.environ[MODEL_VERSION_ENV] = str(replica["version"])
    if replica.get("nice"):
        os.nice(int(replica["nice"]))
    command = [str(BIN / replica["command"][0]), *replica["command"][1:]]
    print(f"version {replica['version']} from {replica['model_path']}: {' '.join(command)}",
          flush=True)
    os.execv(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1])
