"""The services of ``scoring up`` on free loopback ports, on the session's trained system."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from ops import settings, supervisor
from testkit import free_port, payloads


def ops_settings(system, run_dir, prediction_log) -> settings.Settings:
    """Settings of a test deployment: free ports, the session's store and tracking URI."""
    return settings.Settings(
        tracking_uri=system.tracking_uri, run_dir=str(run_dir), tracking_port=free_port(),
        model_port=free_port(), replica_ports=(free_port(), free_port()),
        dashboard_port=free_port(), dashboard_backend_port=free_port(),
        tracking_backend_port=free_port(), store=str(system.store),
        prediction_log=str(prediction_log), health_interval=2.0,
        decisions_port=free_port(), decisions_backend_port=free_port(),
        decisions_db=f"sqlite:///{Path(run_dir).parent / 'decisions.db'}",
        extra_env={"DASHBOARD_SAMPLE": "300"})


def _up(s: settings.Settings) -> None:
    states = supervisor.up(s, wait=240)
    bad = [st for st in states if st.state not in ("RUNNING", "ABSENT") or st.health == "failing"]
    if bad:
        logs = {p.name: p.read_text()[-1500:] for p in (s.run / "logs").glob("*.log")}
        supervisor.down(s.run)
        pytest.fail(f"services not healthy: {bad}\n{logs}")


@pytest.fixture
def deployment(services: settings.Settings) -> settings.Settings:
    """The session's services, started again if a test stopped them: no test depends on
    which ran before it."""
    if not supervisor.supervisor_running(services.run):
        _up(services)
    return services


@pytest.fixture(scope="session")
def services(system, tmp_path_factory) -> Iterator[settings.Settings]:
    """Every service running under supervisord; stopped (and checked stopped) afterwards."""
    if not shutil.which("nginx") and not Path("/usr/sbin/nginx").is_file():
        pytest.skip("nginx is not installed (make setup installs it: nginx-light)")
    root = tmp_path_factory.mktemp("ops")
    s = ops_settings(system, root / "run", root / "predictions")
    _up(s)
    try:
        yield s
    finally:
        supervisor.down(s.run)


@pytest.fixture(scope="session")
def bodies(system) -> list[str]:
    """Request bodies: one test application each, with reasons."""
    return payloads(system.store, count=20)


