"""The services of ``scoring up`` on free loopback ports, on the session's trained system."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from scoring import services
from tests.conftest import free_port


def ops_settings(system, run_dir, prediction_log) -> services.Settings:
    """Settings of a test deployment: free ports, the session's store and tracking URI."""
    return services.Settings(
        tracking_uri=system.tracking_uri, run_dir=str(run_dir), tracking_port=free_port(),
        model_port=free_port(), replica_ports=(free_port(), free_port()),
        dashboard_port=free_port(), store=str(system.store),
        prediction_log=str(prediction_log), health_interval=2.0,
        extra_env={"DASHBOARD_SAMPLE": "300"})


@pytest.fixture(scope="session")
def deployment(system, tmp_path_factory) -> Iterator[services.Settings]:
    """Every service running under supervisord; stopped (and checked stopped) afterwards."""
    if not shutil.which("nginx") and not Path("/usr/sbin/nginx").is_file():
        pytest.skip("nginx is not installed (make ops, or apt-get install nginx-light)")
    root = tmp_path_factory.mktemp("ops")
    settings = ops_settings(system, root / "run", root / "predictions")
    states = services.up(settings, wait=240)
    bad = [s for s in states if s.state not in ("RUNNING", "ABSENT") or s.health == "failing"]
    if bad:
        logs = {p.name: p.read_text()[-1500:] for p in (settings.run / "logs").glob("*.log")}
        services.down(settings.run)
        pytest.fail(f"services not healthy: {bad}\n{logs}")
    try:
        yield settings
    finally:
        services.down(settings.run)


@pytest.fixture(scope="session")
def bodies(system) -> list[str]:
    """Request bodies: one test application each, with reasons."""
    from benchmarks.bench_load import payloads

    return payloads(system.store, count=20)


@dataclass
class Traffic:
    """What a background request loop saw."""

    ok: int = 0
    failures: list[str] = field(default_factory=list)
    answered_by: set[str] = field(default_factory=set)


@contextmanager
def traffic(url: str, bodies: list[str], clients: int = 3,
            limit: float = 300.0) -> Iterator[Traffic]:
    """Clients posting applications to ``url`` until the block ends (``limit`` s at most)."""
    seen, stop, lock = Traffic(), threading.Event(), threading.Lock()

    def loop(k: int) -> None:
        session, end, i = requests.Session(), time.monotonic() + limit, k
        while not stop.is_set() and time.monotonic() < end:
            try:
                r = session.post(f"{url}/invocations", data=bodies[i % len(bodies)],
                                 headers={"Content-Type": "application/json"}, timeout=60)
                problem = None if r.status_code == 200 else f"{r.status_code} {r.text[:200]}"
                upstream = r.headers.get("X-Upstream", "")
            except requests.RequestException as err:
                problem, upstream = repr(err)[:200], ""
            with lock:
                if problem:
                    seen.failures.append(problem)
                else:
                    seen.ok += 1
                    seen.answered_by.add(upstream)
            i += clients

    threads = [threading.Thread(target=loop, args=(k,), daemon=True) for k in range(clients)]
    for thread in threads:
        thread.start()
    try:
        yield seen
    finally:
        stop.set()
        for thread in threads:
            thread.join(70)
