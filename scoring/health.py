"""The health-check loop run by supervisord as the ``healthcheck`` program.

Supervisord restarts a program that exits, but not one that hangs. Every ``health_interval``
seconds this loop asks each RUNNING program's health URL (``services.health_urls``); after
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

from scoring import services


@dataclass
class Watch:
    """What the loop remembers between rounds."""

    failures: Counter = field(default_factory=Counter)
    answered: dict[str, int] = field(default_factory=dict)  # program -> pid that answered


def check_once(s: services.Settings, watch: Watch) -> list[str]:
    """One round of checks; returns the programs restarted."""
    server = services.rpc(s.run)
    urls = services.health_urls(s)
    restarted = []
    for info in server.supervisor.getAllProcessInfo():
        name, url, pid = info["name"], urls.get(info["name"]), info["pid"]
        if url is None or info["statename"] != "RUNNING":
            watch.failures.pop(name, None)
            continue
        if services.healthy(url, timeout=min(10.0, s.health_interval * 2)):
            watch.failures.pop(name, None)
            watch.answered[name] = pid
            continue
        starting = watch.answered.get(name) != pid
        if starting and info["now"] - info["start"] < s.health_grace:
            continue
        watch.failures[name] += 1
        if watch.failures[name] >= s.health_failures:
            print(f"{name}: {url} failed {watch.failures[name]} checks in a row, restarting",
                  flush=True)
            server.supervisor.stopProcess(name, True)
            server.supervisor.startProcess(name, False)
            watch.failures.pop(name, None)
            restarted.append(name)
    return restarted


def main(run_dir: str) -> None:
    """Check forever (until supervisord stops this program)."""
    s = services.Settings.load(Path(run_dir))
    watch = Watch()
    print(f"checking every {s.health_interval:g} s: {services.health_urls(s)}", flush=True)
    while True:
        try:
            check_once(s, watch)
        except OSError as err:  # supervisord is shutting down
            print(f"health check skipped: {err}", flush=True)
        time.sleep(s.health_interval)


if __name__ == "__main__":
    main(sys.argv[1])
