"""Always-on services under supervisord: tracking UI, model server, proxy, dashboard.

``up`` writes a run folder (``run/`` by default) and starts ``supervisord`` on it:

| program | what | URL |
|---|---|---|
| ``tracking`` | ``mlflow server`` on the tracking store (``ops.tracking``) | ``http://HOST:5000`` |
| ``model-1``, ``model-2`` | stock ``mlflow models serve`` replicas of the champion | 5011, 5012 |
| ``proxy`` | nginx, the stable model URL in front of the replicas | ``http://HOST:5001`` |
| ``dashboard`` | ``panel serve dashboard/app.py`` (left out while the file is absent) | ``:5006`` |
| ``healthcheck`` | ``ops.health``: restarts a program whose URL stops answering | |

Supervisord restarts a program that exits; the health check restarts one that hangs. nginx
retries a failed request on the other replica, so a crashed model server costs no request,
and ``scoring reload`` (``ops/deploy.py``) moves both replicas to a new champion without
failing any. Logs are in ``run/logs/``, one file per program. Nothing starts at import.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import xmlrpc.client
from pathlib import Path

import requests

from ops import doors
from ops.models import champion_version, prune_models, replica_version, write_replica
from ops.render import LUA_MODULES, nginx_conf, supervisord_conf, upstream_conf
from ops.settings import (
    ROOT,
    ServiceError,
    ServiceStatus,
    Settings,
    dashboard_enabled,
    health_urls,
    public_urls,
)


def bytecode_compiled() -> bool:
    """True when mlflow's installed modules have compiled bytecode (``.pyc``) beside them.

    Without it (``uv sync`` without ``--compile-bytecode``, PYTHONDONTWRITEBYTECODE, a venv
    the services may not write to) each model-server start compiles mlflow, pandas... again.
    """
    import importlib.util

    spec = importlib.util.find_spec("mlflow")
    return bool(spec and spec.origin and
                any(Path(spec.origin).parent.glob("__pycache__/__init__.*.pyc")))


def find_nginx() -> str:
    """The nginx binary; a clear error when it is not installed."""
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).is_file()), None)
    if not found:
        raise ServiceError("nginx not found: install it (`apt-get install nginx-light`, "
                           "or `make setup`)")
    return found


def json_guard_available() -> bool:
    """True when nginx's Lua module is installed (Debian: libnginx-mod-http-lua), which the
    check of nested JSON bodies needs."""
    return all(path.is_file() for path in LUA_MODULES)


def rpc(run_dir: Path | str) -> xmlrpc.client.ServerProxy:
    """An XML-RPC client of the supervisord running in ``run_dir``."""
    from supervisor.xmlrpc import SupervisorTransport

    transport = SupervisorTransport(None, None, f"unix://{Path(run_dir).resolve()}/"
                                    "supervisor.sock")
    return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)


def supervisor_running(run_dir: Path | str) -> bool:
    """True when a supervisord answers on the run folder's socket."""
    try:
        return rpc(run_dir).supervisor.getState()["statename"] == "RUNNING"
    except (OSError, xmlrpc.client.Fault):
        return False


def _require_running(run_dir: Path | str) -> xmlrpc.client.ServerProxy:
    if not supervisor_running(run_dir):
        raise ServiceError(f"services are not running in {run_dir}/ (run `scoring up`)")
    return rpc(run_dir)


def healthy(url: str, timeout: float = 3.0) -> bool:
    """True when ``url`` answers 200."""
    try:
        return requests.get(url, timeout=timeout).status_code == 200
    except requests.RequestException:
        return False


def _check_ports_free(s: Settings) -> None:
    ports = [s.model_port, *s.replica_ports[:s.replicas], s.decisions_port,
             s.decisions_backend_port]
    if s.tracking_ui:
        ports += [s.tracking_port, s.tracking_backend_port]
    if dashboard_enabled(s):
        ports += [s.dashboard_port, s.dashboard_backend_port]
    for port in ports:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((s.check_host, port))
            except OSError as err:
                raise ServiceError(f"port {port} on {s.check_host} is in use ({err.strerror}); "
                                   "stop what uses it or choose another port") from None


def prepare(s: Settings, version: str, say=print) -> Path:
    """Write the run folder: settings, credentials (``ops.doors``), replicas, nginx and
    supervisord configs; returns the supervisord.conf path. Passwords created now are said
    once (``say``) and kept in files of mode 600."""
    nginx = find_nginx()
    s.save()
    for sub in ("logs", "nginx"):
        (s.run / sub).mkdir(parents=True, exist_ok=True)
    for name in s.replica_names:
        write_replica(s, name, version)
    prune_models(s, version)
    for name, password in doors.prepare_users(s).items():
        say(f"dashboard login created: {name} / {password} (also in {s.run}/first-logins.txt, "
            "mode 600; add people with `scoring users add`)")
    if s.tracking_ui and not s.loopback and doors.tracking_htpasswd(s):
        say(f"MLflow UI login created: {doors.TRACKING_USER} (password in "
            f"{s.run}/tracking.password, mode 600)")
    (s.run / "nginx.conf").write_text(nginx_conf(s, json_guard_available(),
                                                 dashboard_enabled(s)))
    (s.run / "upstream.conf").write_text(upstream_conf(s, [p for _, p in s.replica_set], []))
    conf = s.run / "supervisord.conf"
    doors.write_private(conf, supervisord_conf(s, nginx, doors.cookie_secret(s)))
    return conf


def up(s: Settings, wait: float = 240.0, foreground: bool = False, say=print
       ) -> list[ServiceStatus]:
    """Start every service under supervisord and wait until each answers its health URL.

    With ``foreground`` supervisord replaces this process (for systemd) and nothing returns.
    Raises ServiceError when already running, a port is taken, the model cannot be found, or
    a door beyond loopback would open without a login or TLS (``ops.doors.open_doors``).
    """
    if supervisor_running(s.run):
        raise ServiceError(f"services already running in {s.run_dir}/ (`scoring down` first)")
    problems = doors.open_doors(s)
    if problems:
        raise ServiceError(f"refusing to serve on {s.host} (beyond loopback):\n  - "
                           + "\n  - ".join(problems))
    version = champion_version(s.tracking_uri, s.model_name)
    _check_ports_free(s)
    conf = prepare(s, version, say)
    command = [sys.executable, "-m", "supervisor.supervisord", "-c", str(conf)]
    if foreground:
        os.execv(sys.executable, [*command, "--nodaemon"])
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if result.returncode != 0:
        raise ServiceError(f"supervisord did not start: {result.stderr or result.stdout}")
    return wait_healthy(s, wait)


def wait_healthy(s: Settings, timeout: float) -> list[ServiceStatus]:
    """Poll until every program is RUNNING and healthy; the last status either way."""
    deadline = time.monotonic() + timeout
    while True:
        states = status(s.run)
        if all(st.health in ("ok", "-") and st.state in ("RUNNING", "ABSENT")
               for st in states):
            return states
        if time.monotonic() > deadline:
            return states
        time.sleep(1.0)


def status(run_dir: Path | str = "run") -> list[ServiceStatus]:
    """Each program's supervisor state, URL and health (``ok``, ``failing`` or ``-``)."""
    s = Settings.load(run_dir)
    urls, checks = public_urls(s), health_urls(s)
    if not supervisor_running(run_dir):
        return [ServiceStatus(name, "STOPPED", urls.get(name, ""), "-")
                for name in ("tracking", *s.replica_names, "proxy", "dashboard", "decisions",
                             "healthcheck")
                if name != "tracking" or s.tracking_ui]
    out = []
    for info in rpc(run_dir).supervisor.getAllProcessInfo():
        name, state = info["name"], info["statename"]
        check = checks.get(name)
        health = "-" if check is None else ("ok" if healthy(check) else "failing")
        detail = f"v{replica_version(s, name)}" if name in s.replica_names else ""
        out.append(ServiceStatus(name, state, urls.get(name, ""), health,
                                 info["pid"] or None,
                                 info["now"] - info["start"] if info["pid"] else None, detail))
    if not dashboard_enabled(s):
        out.append(ServiceStatus("dashboard", "ABSENT", urls["dashboard"], "-",
                                 detail=f"{s.dashboard_app} not found"))
    return out


def down(run_dir: Path | str = "run", timeout: float = 60.0) -> bool:
    """Stop every program and supervisord; False when nothing was running."""
    if not supervisor_running(run_dir):
        return False
    pidfile = Path(run_dir) / "supervisord.pid"
    pid = int(pidfile.read_text()) if pidfile.is_file() else None
    rpc(run_dir).supervisor.shutdown()
    deadline = time.monotonic() + timeout
    while pid and _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
