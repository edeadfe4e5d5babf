"""The health-check loop run by supervisord as the ``healthcheck`` program.

Supervisord restarts a program that exits, but not one that hangs. Every ``health_interval``
seconds this loop asks each RUNNING program's health URL (``settings.health_urls``); after
``health_failures`` failures in a row (6 by default: about a minute and a half without an
answer, so a merely overloaded program is left alone) it restarts the program through
supervisord. Only a
program that has answered once since it started is checked (loading a model takes a while,
longer on a busy machine), unless it is still silent ``health_grace`` seconds after its start.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ops import settings, supervisor


@dataclass
class Watch:
    """What the loop remembers between rounds."""

    failures: Counter = field(default_factory=Counter)
    answered: dict[str, int] = field(default_factory=dict)  # program -> pid that answered


def must_restart(s: settings.Settings, watch: Watch, info: dict, healthy: bool | None) -> bool:
    """The restart rule, for one program's supervisor ``info`` and its check (None: the
    program has no health URL). Updates ``watch``; True when the program must be restarted.

    A program that is not RUNNING, or answers, is left alone and its failures forgotten. One
    that has not answered since it started is not counted before ``health_grace`` seconds.
    Otherwise each failure counts, and ``health_failures`` in a row mean a restart.
    """
    name, pid = info["name"], info["pid"]
    if healthy is None or info["statename"] != "RUNNING":
        watch.failures.pop(name, None)
        return False
    if healthy:
        watch.failures.pop(name, None)
        watch.answered[name] = pid
        return False
    starting = watch.answered.get(name) != pid
    if starting and info["now"] - info["start"] < s.health_grace:
        return False
    watch.failures[name] += 1
    if watch.failures[name] < s.health_failures:
        return False
    watch.failures.pop(name, None)
    return True


def check_once(s: settings.Settings, watch: Watch) -> list[str]:
    """One round of checks; returns the programs restarted."""
    server = supervisor.rpc(s.run)
    urls = settings.health_urls(s)
    restarted = []
    for info in server.supervisor.getAllProcessInfo():
        name, url = info["name"], urls.get(info["name"])
        checkable = url is not None and info["statename"] == "RUNNING"
        healthy = supervisor.healthy(url, timeout=min(10.0, s.health_interval * 2)) \
            if checkable else None
        if must_restart(s, watch, info, healthy):
            print(f"{name}: {url} failed {s.health_failures} checks in a row, restarting",
                  flush=True)
            server.supervisor.stopProcess(name, True)
            server.supervisor.startProcess(name, False)
            restarted.append(name)
    return restarted


def main(run_dir: str) -> None:
    """Check forever (until supervisord stops this program)."""
    s = settings.Settings.load(Path(run_dir))
    watch = Watch()
    print(f"checking every {s.health_interval:g} s: {settings.health_urls(s)}", flush=True)
    while True:
        try:
            check_once(s, watch)
        except OSError as err:  # supervisord is shutting down
            print(f"health check skipped: {err}", flush=True)
        time.sleep(s.health_interval)


if __name__ == "__main__":
    main(sys.argv[1])
