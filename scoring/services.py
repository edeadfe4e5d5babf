"""Always-on services under supervisord: tracking UI, model server, proxy, dashboard.

``up`` writes a run folder (``run/`` by default) and starts ``supervisord`` on it:

| program | what | URL |
|---|---|---|
| ``tracking`` | ``mlflow server`` on the tracking store | ``http://HOST:5000`` |
| ``model-1``, ``model-2`` | stock ``mlflow models serve`` replicas of the champion | 5011, 5012 |
| ``proxy`` | nginx, the stable model URL in front of the replicas | ``http://HOST:5001`` |
| ``dashboard`` | ``panel serve dashboard/app.py`` (left out while the file is absent) | ``:5006`` |
| ``healthcheck`` | ``scoring.health``: restarts a program whose URL stops answering | |

Supervisord restarts a program that exits; the health check restarts one that hangs. nginx
retries a failed request on the other replica, so a crashed model server costs no request,
and ``scoring reload`` (``scoring/deploy.py``) moves both replicas to a new champion without
failing any. Logs are in ``run/logs/``, one file per program. Nothing starts at import.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import xmlrpc.client
from dataclasses import asdict, dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
REPLICAS = ("model-1", "model-2")
SETTINGS_FILE = "settings.json"


class ServiceError(Exception):
    """Services cannot be started, reached or changed; the message says why."""


@dataclass
class Settings:
    """Where everything runs; saved as ``run/settings.json`` by ``up``."""

    tracking_uri: str
    run_dir: str = "run"
    host: str = "127.0.0.1"
    tracking_port: int = 5000
    model_port: int = 5001
    replica_ports: tuple[int, int] = (5011, 5012)
    dashboard_port: int = 5006
    store: str = "data/features"
    prediction_log: str | None = "data/predictions"
    workers: int = 1
    model_nice: int = 10
    model_name: str = "credit-scoring"
    dashboard_app: str = str(ROOT / "dashboard" / "app.py")
    health_interval: float = 5.0
    health_failures: int = 6
    health_grace: float = 300.0
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def run(self) -> Path:
        return Path(self.run_dir).resolve()

    @property
    def check_host(self) -> str:
        """The address health checks use: loopback when bound to every interface."""
        return "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host

    def url(self, port: int) -> str:
        return f"http://{self.check_host}:{port}"

    def save(self) -> None:
        self.run.mkdir(parents=True, exist_ok=True)
        (self.run / SETTINGS_FILE).write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, run_dir: Path | str = "run") -> Settings:
        """The settings of the services started in ``run_dir``."""
        path = Path(run_dir) / SETTINGS_FILE
        if not path.is_file():
            raise ServiceError(f"no services set up in {run_dir}/ (run `scoring up` first)")
        values = json.loads(path.read_text())
        values["replica_ports"] = tuple(values["replica_ports"])
        return cls(**values)


@dataclass
class ServiceStatus:
    """One program as ``scoring status`` shows it."""

    name: str
    state: str
    url: str
    health: str
    pid: int | None = None
    uptime: float | None = None
    detail: str = ""


# --- configuration files ---------------------------------------------------------------------

def health_urls(s: Settings) -> dict[str, str]:
    """The URL each program must answer with 200 to count as healthy."""
    urls = {"tracking": s.url(s.tracking_port) + "/health",
            "proxy": s.url(s.model_port) + "/nginx-health",
            "dashboard": s.url(s.dashboard_port) + "/liveness"}
    urls.update({name: s.url(port) + "/ping" for name, port in zip(REPLICAS, s.replica_ports,
                                                                     strict=True)})
    return urls


def public_urls(s: Settings) -> dict[str, str]:
    """The URL a person or a client uses for each program."""
    return {"tracking": s.url(s.tracking_port), "proxy": s.url(s.model_port) + "/invocations",
            "dashboard": s.url(s.dashboard_port) + "/app",
            **{name: s.url(port) for name, port in zip(REPLICAS, s.replica_ports, strict=True)}}


def dashboard_enabled(s: Settings) -> bool:
    return Path(s.dashboard_app).is_file()


def _environment(s: Settings, **extra: str) -> str:
    env = {"MLFLOW_TRACKING_URI": s.tracking_uri, "MLFLOW_DISABLE_TELEMETRY": "true",
           "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
           "DASHBOARD_MODEL_URL": s.url(s.model_port),
           "DASHBOARD_STORE": str(Path(s.store).resolve()),
           **s.extra_env, **extra}
    # supervisord reads %(name)s expansions: a literal % is written %%.
    return ",".join(f'{k}="{v}"'.replace("%", "%%") for k, v in env.items())


def _program(name: str, command: list[str], env: str, startsecs: int = 3,
             priority: int = 100) -> str:
    return "\n".join([
        f"[program:{name}]",
        "command=" + " ".join(_quote(part) for part in command),
        f"directory={ROOT}",
        f"environment={env}",
        f"priority={priority}",
        "autostart=true", "autorestart=true", f"startsecs={startsecs}", "startretries=5",
        "stopsignal=TERM", "stopwaitsecs=30", "stopasgroup=true", "killasgroup=true",
        "redirect_stderr=true",
        f"stdout_logfile=%(here)s/logs/{name}.log",
        "stdout_logfile_maxbytes=10MB", "stdout_logfile_backups=3", "",
    ])


def _quote(part: str) -> str:
    part = part.replace("%", "%%")
    return f'"{part}"' if any(c in part for c in " ;'") else part


def _tracking_command(s: Settings) -> list[str]:
    command = [str(BIN / "mlflow"), "server", "--backend-store-uri", s.tracking_uri,
               "--host", s.host, "--port", str(s.tracking_port), "--workers", "1"]
    if s.tracking_uri.startswith("sqlite:///"):
        artifacts = Path(s.tracking_uri.removeprefix("sqlite:///")).parent / "artifacts"
        command += ["--artifacts-destination", artifacts.as_uri()]
    return command


def _dashboard_command(s: Settings) -> list[str]:
    origin = f"{s.check_host}:{s.dashboard_port}"
    return [str(BIN / "panel"), "serve", s.dashboard_app, "--address", s.host,
            "--port", str(s.dashboard_port), "--allow-websocket-origin", origin,
            "--allow-websocket-origin", f"localhost:{s.dashboard_port}", "--liveness", "--warm"]


def supervisord_conf(s: Settings, nginx: str) -> str:
    """The supervisord.conf of the services: socket, logs and one section per program."""
    header = "\n".join([
        "[unix_http_server]", "file=%(here)s/supervisor.sock", "chmod=0700", "",
        "[supervisord]", "logfile=%(here)s/logs/supervisord.log",
        "pidfile=%(here)s/supervisord.pid",
        "childlogdir=%(here)s/logs", f"directory={ROOT}", "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface", "",
        "[supervisorctl]", "serverurl=unix://%(here)s/supervisor.sock", "",
    ])
    env = _environment(s)
    log = str(Path(s.prediction_log).resolve()) if s.prediction_log else ""
    sections = [_program("tracking", _tracking_command(s), env, priority=100)]
    for name in REPLICAS:
        sections.append(_program(name, [sys.executable, "-m", "scoring.launch",
                                        str(s.run / f"{name}.json")],
                                 _environment(s, SCORING_PREDICTION_LOG=log),
                                 startsecs=5, priority=200))
    sections.append(_program("proxy", [nginx, "-c", str(s.run / "nginx.conf"),
                                       "-p", str(s.run / "nginx")], env, priority=300))
    if dashboard_enabled(s):
        sections.append(_program("dashboard", _dashboard_command(s), env, priority=400))
    sections.append(_program("healthcheck", [sys.executable, "-m", "scoring.health",
                                             str(s.run)], env, priority=900))
    return header + "\n" + "\n".join(sections)


def nginx_conf(s: Settings) -> str:
    """nginx in the foreground: the model URL, retrying a failed request on the other replica.

    ``/invocations`` is a pure function of its input, so retrying it is safe (non_idempotent).
    ``X-Upstream`` tells which replica answered (``scoring reload`` watches it).
    """
    run = s.run
    return f"""# generated by `scoring up`; edits are lost at the next one
worker_processes 1;
daemon off;
pid {run}/nginx/nginx.pid;
error_log {run}/logs/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {run}/nginx/body;
    proxy_temp_path {run}/nginx/proxy;
    fastcgi_temp_path {run}/nginx/fastcgi;
    uwsgi_temp_path {run}/nginx/uwsgi;
    scgi_temp_path {run}/nginx/scgi;
    client_max_body_size 64m;
    # Bodies and answers stay in memory: no temp file for the worker user to write.
    client_body_buffer_size 4m;
    proxy_buffer_size 64k;
    proxy_buffers 64 64k;
    proxy_max_temp_file_size 0;
    include {run}/upstream.conf;
    server {{
        listen {s.host}:{s.model_port};
        location = /nginx-health {{ return 200 "ok\\n"; }}
        location / {{
            proxy_pass http://model;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_read_timeout 120s;
            proxy_next_upstream error timeout http_502 http_503 non_idempotent;
            proxy_next_upstream_tries 3;
            add_header X-Upstream $upstream_addr always;
        }}
    }}
}}
"""


def upstream_conf(s: Settings, primary: list[int], backup: list[int]) -> str:
    """The replica set nginx sends requests to: primaries, and backups if they all fail."""
    lines = [f"    server {s.check_host}:{port} max_fails=0;" for port in primary]
    lines += [f"    server {s.check_host}:{port} max_fails=0 backup;" for port in backup]
    # uvicorn closes idle connections after 5 s; nginx must drop them first.
    return "upstream model {\n" + "\n".join(lines) + "\n    keepalive 32;\n" \
        "    keepalive_timeout 4s;\n}\n"


def model_dir(s: Settings, version: str) -> Path:
    """Where the run folder keeps the model files of ``version``."""
    return s.run / "models" / str(version)


def fetch_model(s: Settings, version: str) -> Path:
    """Copy the files of model ``version`` from the registry into the run folder, once.

    Replicas serve this copy: a restart neither opens the tracking store nor downloads
    anything, and still works while the store is unreadable.
    """
    target = model_dir(s, version)
    if (target / "MLmodel").is_file():
        return target
    import tempfile

    from mlflow import MlflowClient
    from mlflow.artifacts import download_artifacts

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    target.parent.mkdir(parents=True, exist_ok=True)
    uri = f"models:/{s.model_name}/{version}"
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        try:
            # The registry is the tracking store: ask it for the version's files explicitly
            # (a models:/ URI alone would be looked up in MLflow's default registry).
            source = MlflowClient(s.tracking_uri, s.tracking_uri).get_model_version_download_uri(
                s.model_name, version)
            local = download_artifacts(artifact_uri=source, dst_path=tmp,
                                       tracking_uri=s.tracking_uri)
        except Exception as err:  # MlflowException, OSError, a database error
            raise ServiceError(f"cannot copy {uri} from {s.tracking_uri}: "
                               f"{str(err).splitlines()[0]}") from err
        Path(local).replace(target)
    return target


def prune_models(s: Settings, keep: str) -> None:
    """Remove the run folder's model copies other than version ``keep``."""
    for folder in model_dir(s, keep).parent.iterdir():
        if folder.name != str(keep):
            shutil.rmtree(folder, ignore_errors=True)


def write_replica(s: Settings, name: str, version: str) -> None:
    """The model version a replica serves and the command serving it, read by
    ``scoring.launch`` at each start: the stock ``mlflow models serve`` on the run folder's
    copy of that version (no tracking store to open at a restart).
    """
    path = fetch_model(s, version)
    port = s.replica_ports[REPLICAS.index(name)]
    command = ["mlflow", "models", "serve", "-m", str(path), "--env-manager", "local",
               "-h", s.host, "-p", str(port), "-w", str(s.workers)]
    (s.run / f"{name}.json").write_text(json.dumps({
        "model_uri": f"models:/{s.model_name}/{version}", "version": str(version),
        "model_path": str(path), "command": command, "nice": s.model_nice}, indent=2))


def replica_version(s: Settings, name: str) -> str | None:
    path = s.run / f"{name}.json"
    return str(json.loads(path.read_text())["version"]) if path.is_file() else None


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
                           "or `make ops`)")
    return found


# --- supervisord -----------------------------------------------------------------------------

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


# --- up, status, down ------------------------------------------------------------------------

def champion_version(tracking_uri: str, model_name: str = "credit-scoring") -> str:
    """The version carrying @champion; a clear error when the store is missing or unreadable."""
    if tracking_uri.startswith("sqlite:///"):
        path = Path(tracking_uri.removeprefix("sqlite:///"))
        if not path.is_file():
            raise ServiceError(f"tracking store {path} not found (run `scoring train` and "
                               "`scoring promote` first, or set MLFLOW_TRACKING_URI)")
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        return str(MlflowClient(tracking_uri, tracking_uri).get_model_version_by_alias(
            model_name, "champion").version)
    except MlflowException as err:
        if "RESOURCE_DOES_NOT_EXIST" in str(getattr(err, "error_code", "")) or \
                "not found" in str(err).lower():
            raise ServiceError(f"no @champion version of {model_name} in {tracking_uri} "
                               "(run `scoring promote`)") from err
        raise ServiceError(f"cannot read the tracking store {tracking_uri}: {err}") from err
    except Exception as err:  # a corrupt SQLite file surfaces as a database error
        raise ServiceError(f"cannot read the tracking store {tracking_uri}: "
                           f"{str(err).splitlines()[0]}") from err


def _check_ports_free(s: Settings) -> None:
    ports = [s.tracking_port, s.model_port, *s.replica_ports]
    if dashboard_enabled(s):
        ports.append(s.dashboard_port)
    for port in ports:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((s.check_host, port))
            except OSError as err:
                raise ServiceError(f"port {port} on {s.check_host} is in use ({err.strerror}); "
                                   "stop what uses it or choose another port") from None


def prepare(s: Settings, version: str) -> Path:
    """Write the run folder: settings, replicas, nginx and supervisord configs; returns the
    supervisord.conf path."""
    nginx = find_nginx()
    s.save()
    for sub in ("logs", "nginx"):
        (s.run / sub).mkdir(parents=True, exist_ok=True)
    for name in REPLICAS:
        write_replica(s, name, version)
    prune_models(s, version)
    (s.run / "nginx.conf").write_text(nginx_conf(s))
    (s.run / "upstream.conf").write_text(upstream_conf(s, list(s.replica_ports), []))
    conf = s.run / "supervisord.conf"
    conf.write_text(supervisord_conf(s, nginx))
    return conf


def up(s: Settings, wait: float = 240.0, foreground: bool = False) -> list[ServiceStatus]:
    """Start every service under supervisord and wait until each answers its health URL.

    With ``foreground`` supervisord replaces this process (for systemd) and nothing returns.
    Raises ServiceError when already running, a port is taken or the model cannot be found.
    """
    if supervisor_running(s.run):
        raise ServiceError(f"services already running in {s.run_dir}/ (`scoring down` first)")
    version = champion_version(s.tracking_uri, s.model_name)
    _check_ports_free(s)
    conf = prepare(s, version)
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
                for name in ("tracking", *REPLICAS, "proxy", "dashboard", "healthcheck")]
    out = []
    for info in rpc(run_dir).supervisor.getAllProcessInfo():
        name, state = info["name"], info["statename"]
        check = checks.get(name)
        health = "-" if check is None else ("ok" if healthy(check) else "failing")
        detail = f"v{replica_version(s, name)}" if name in REPLICAS else ""
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
