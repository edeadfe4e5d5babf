"""Zero-downtime model switch: ``scoring reload`` after ``scoring promote``.

The two replicas behind nginx are replaced one at a time, and nginx is told where to send new
requests with a graceful reload (``HUP``: old nginx workers finish their requests):

1. route to replica 2 only (replica 1 as backup), then restart replica 1 on the new version
   and wait for its ``/ping``;
2. route to replica 1 only: from here every new request gets the new version;
3. restart replica 2 on the new version, wait for it, and route to both again.

Each replica serves a copy of the model in ``run/models/VERSION`` (``models.fetch_model``),
made before anything changes; the copies of versions no longer served are removed at the end.
A replica is stopped with SIGTERM, which lets uvicorn finish the requests it holds, and nginx
retries a request that fails on one replica on the other, so no request fails. When the new
version does not start, replica 1 goes back to the old one and the error says why.
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import requests

from ops import models, render, settings, supervisor
from ops.settings import BACKEND_HOST, ServiceError, Settings, backend_url

#: Supervisor states of a replica whose process ended before it served. That, or a new pid
#: (supervisord restarted it), fails the switch at once: a version that does not load is not
#: waited for through supervisord's restarts until the timeout.
EXITED_WHILE_STARTING = ("BACKOFF", "FATAL", "EXITED")


@dataclass
class Switch:
    """What a reload did."""

    old: list[str | None]
    new: str
    seconds: float
    switched: bool


def reload(run_dir: str = "run", version: str | None = None, timeout: float = 240.0,
           say: Callable[[str], None] = lambda _: None) -> Switch:
    """Move the replicas to ``version`` (default: the current @champion), one at a time.

    With one replica (the small profile) the model URL does not answer while it restarts.
    """
    s = Settings.load(run_dir)
    server = supervisor._require_running(run_dir)
    version = version or models.champion_version(s.tracking_uri, s.model_name)
    old = [models.replica_version(s, name) for name in s.replica_names]
    start = time.monotonic()
    if all(v == version for v in old):
        return Switch(old, version, 0.0, switched=False)
    models.fetch_model(s, version)  # an unreadable registry fails here, before any change
    if s.replicas == 1:
        with _lock(s):
            say(f"{s.replica_names[0]}: starting version {version} (one replica: the model "
                "URL does not answer meanwhile)")
            try:
                replace(s, server, s.replica_names[0], version, timeout)
            except ServiceError:
                replace(s, server, s.replica_names[0], old[0] or version, timeout)
                raise
        models.prune_models(s, version)
        return Switch(old, version, time.monotonic() - start, switched=True)
    (first, second), (p1, p2) = s.replica_names, s.replica_ports
    with _lock(s):
        route(s, server, primary=[p2], backup=[p1])
        say(f"{first}: starting version {version}")
        try:
            replace(s, server, first, version, timeout)
        except ServiceError:
            replace(s, server, first, old[0] or version, timeout)
            route(s, server, primary=[p1, p2], backup=[])
            raise
        route(s, server, primary=[p1], backup=[p2])
        say(f"switched to version {version}; {second}: starting version {version}")
        replace(s, server, second, version, timeout)
        route(s, server, primary=[p1, p2], backup=[])
    models.prune_models(s, version)
    return Switch(old, version, time.monotonic() - start, switched=True)


@contextmanager
def _lock(s: Settings) -> Iterator[None]:
    with open(s.run / "reload.lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ServiceError("another `scoring reload` is running") from None
        yield


def route(s: Settings, server, primary: list[int], backup: list[int],
          timeout: float = 30.0) -> None:
    """Point nginx at ``primary`` (then ``backup``) and wait until new requests go there."""
    path = s.run / "upstream.conf"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(render.upstream_conf(s, primary, backup))
    tmp.replace(path)
    server.supervisor.signalProcess("proxy", "HUP")
    wanted = {f"{BACKEND_HOST}:{port}" for port in primary}
    deadline, in_a_row = time.monotonic() + timeout, 0
    while in_a_row < 3:
        if time.monotonic() > deadline:
            raise ServiceError(f"nginx did not switch to {sorted(wanted)} in {timeout:.0f} s; "
                               f"see {s.run}/logs/nginx-error.log")
        in_a_row = in_a_row + 1 if _answered_by(s) <= wanted else 0
        time.sleep(0.1)


def _answered_by(s: Settings) -> set[str]:
    """The replicas that answered one ``/ping`` through nginx (a fresh connection)."""
    try:
        header = requests.get(backend_url(s.model_port) + "/ping", timeout=5).headers.get(
            "X-Upstream", "")
    except requests.RequestException:
        return {"none"}
    # After a retry nginx lists every replica tried: "a:5011, b:5012".
    return {part.strip() for part in header.split(",")} if header else {"none"}


def replace(s: Settings, server, name: str, version: str, timeout: float) -> None:
    """Restart replica ``name`` on ``version`` and wait until it answers ``/ping``."""
    import xmlrpc.client

    from supervisor.xmlrpc import Faults

    models.write_replica(s, name, version)
    for attempt in range(3):
        try:
            if server.supervisor.getProcessInfo(name)["statename"] in ("RUNNING", "STARTING",
                                                                       "BACKOFF"):
                server.supervisor.stopProcess(name, True)
            server.supervisor.startProcess(name, True)
            break
        except xmlrpc.client.Fault as err:
            # A crashing replica (a version that does not load) is restarted by supervisord
            # itself, which can happen between our stop and our start: stop it again.
            if err.faultCode in (Faults.ALREADY_STARTED, Faults.NOT_RUNNING) and attempt < 2:
                continue
            raise ServiceError(f"{name} did not start version {version}: {err.faultString}; "
                               f"see {s.run}/logs/{name}.log") from err
    url = settings.health_urls(s)[name]
    deadline = time.monotonic() + timeout
    started = server.supervisor.getProcessInfo(name)["pid"]
    while not supervisor.healthy(url, timeout=2):
        info = server.supervisor.getProcessInfo(name)
        if info["statename"] in EXITED_WHILE_STARTING or info["pid"] != started:
            raise ServiceError(f"{name} did not start version {version}: its process exited "
                               f"before it answered; see {s.run}/logs/{name}.log")
        if time.monotonic() > deadline:
            raise ServiceError(f"{name} did not answer {url} in {timeout:.0f} s with version "
                               f"{version}; see {s.run}/logs/{name}.log")
        time.sleep(0.5)
