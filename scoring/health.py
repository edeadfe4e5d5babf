"""The health-check loop run by supervisord as the ``healthcheck`` program.

Supervisord restarts a program that exits, but not one that hangs. Every ``health_interval``
seconds this loop asks each RUNNING program's health URL (``services.health_urls``); after
``health_failures`` failures in a row it restarts the program through supervisord. A program
younger than ``health_grace`` seconds is left alone: a model server needs time to load.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

from scoring import services


def check_once(s: services.Settings, failures: Counter) -> list[str]:
    """One round of checks; returns the programs restarted."""
    server = services.rpc(s.run)
    urls = services.health_urls(s)
    restarted = []
    for info in server.supervisor.getAllProcessInfo():
        name, url = info["name"], urls.get(info["name"])
        if url is None or info["statename"] != "RUNNING" or \
                info["now"] - info["start"] < s.health_grace:
            failures.pop(name, None)
            continue
        if services.healthy(url, timeout=min(10.0, s.health_interval * 2)):
            failures.pop(name, None)
            continue
        failures[name] += 1
        if failures[name] >= s.health_failures:
            print(f"{name}: {url} failed {failures[name]} checks in a row, restarting",
                  flush=True)
            server.supervisor.stopProcess(name, True)
            server.supervisor.startProcess(name, False)
            failures.pop(name, None)
            restarted.append(name)
    return restarted


def main(run_dir: str) -> None:
    """Check forever (until supervisord stops this program)."""
    s = services.Settings.load(Path(run_dir))
    failures: Counter = Counter()
    print(f"checking every {s.health_interval:g} s: {services.health_urls(s)}", flush=True)
    while True:
        try:
            check_once(s, failures)
        except OSError as err:  # supervisord is shutting down
            print(f"health check skipped: {err}", flush=True)
        time.sleep(s.health_interval)


if __name__ == "__main__":
    main(sys.argv[1])
