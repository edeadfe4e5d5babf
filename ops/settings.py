"""Where the services run: ``Settings`` (saved in the run folder), the programs' URLs and
states. Pure data, no process is started here."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from scoring.names import (
    DASHBOARD_PORT,
    DECISIONS_PORT,
    DEFAULT_DECISIONS_DB_URL,
    DEFAULT_STORE,
    MODEL_NAME,
    MODEL_PORT,
    TRACKING_PORT,
)

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
REPLICAS = ("model-1", "model-2")
SETTINGS_FILE = "settings.json"
#: Where the programs behind nginx listen, whatever interface the public doors bind.
BACKEND_HOST = "127.0.0.1"
#: How people log in to the dashboard: the project's user file, the bank's OIDC provider
#: (Panel's generic OAuth, ``PANEL_OAUTH_*``), or nobody (loopback development only).
LOGINS = ("users", "oidc", "none")


class ServiceError(Exception):
    """Services cannot be started, reached or changed; the message says why."""


@dataclass
class Settings:
    """Where everything runs; saved as ``run/settings.json`` by ``up``."""

    tracking_uri: str
    run_dir: str = "run"
    host: str = "127.0.0.1"
    tracking_port: int = TRACKING_PORT
    model_port: int = MODEL_PORT
    replica_ports: tuple[int, int] = (5011, 5012)
    dashboard_port: int = DASHBOARD_PORT
    #: The decision service: nginx on ``decisions_port``, uvicorn on the backend port.
    decisions_port: int = DECISIONS_PORT
    decisions_backend_port: int = DECISIONS_PORT + 10
    decisions_db: str = DEFAULT_DECISIONS_DB_URL
    store: str = DEFAULT_STORE
    prediction_log: str | None = "data/predictions"
    workers: int = 1
    model_nice: int = 10
    model_name: str = MODEL_NAME
    dashboard_app: str = str(ROOT / "dashboard" / "app.py")
    health_interval: float = 5.0
    health_failures: int = 6
    health_grace: float = 300.0
    extra_env: dict[str, str] = field(default_factory=dict)
    #: Model-server replicas behind nginx (1 or 2) and the MLflow tracking UI: the small
    #: profile (``scoring up --small``) runs one replica and no UI, for a 1 GiB host.
    replicas: int = 2
    tracking_ui: bool = True
    #: Panel and the MLflow UI behind nginx, on loopback.
    dashboard_backend_port: int = DASHBOARD_PORT + 10
    tracking_backend_port: int = TRACKING_PORT + 20
    #: Dashboard login: one of ``LOGINS``.
    login: str = "users"
    #: nginx's certificate and key (PEM); both empty: plain HTTP (loopback only).
    tls_cert: str = ""
    tls_key: str = ""
    #: The name people type to reach the services (the websocket origin the dashboard
    #: accepts); empty: the bound address.
    server_name: str = ""

    @property
    def loopback(self) -> bool:
        """True when every door is on this machine only."""
        return is_loopback(self.host)

    @property
    def tls(self) -> bool:
        return bool(self.tls_cert and self.tls_key)

    @property
    def public_name(self) -> str:
        return self.server_name or self.check_host

    def public_url(self, port: int) -> str:
        """A door's URL as people use it (https when nginx holds a certificate)."""
        return f"{'https' if self.tls else 'http'}://{self.public_name}:{port}"

    @property
    def users_file(self) -> Path:
        """The people and systems allowed in (``decisions.users``); the decision service and
        the dashboard read it (``prepare`` writes one when absent)."""
        return self.decisions_auth

    @property
    def tracking_htpasswd(self) -> Path:
        """nginx's basic-auth file in front of the MLflow UI (beyond loopback)."""
        return self.run / "tracking.htpasswd"

    @property
    def replica_names(self) -> tuple[str, ...]:
        """The replica programs this profile runs."""
        return REPLICAS[:self.replicas]

    @property
    def replica_set(self) -> list[tuple[str, int]]:
        """Each replica program with its port."""
        return list(zip(self.replica_names, self.replica_ports, strict=False))

    @property
    def run(self) -> Path:
        return Path(self.run_dir).resolve()

    @property
    def check_host(self) -> str:
        """The address health checks use: loopback when bound to every interface."""
        return "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host

    def url(self, port: int) -> str:
        return f"http://{self.check_host}:{port}"

    @property
    def decisions_auth(self) -> Path:
        """The decision service's credentials and the people's accounts (``users_file``)."""
        return self.run / "decisions-auth.json"

    @property
    def dashboard_key_file(self) -> Path:
        """The dashboard's own API key at the decision service (mode 600)."""
        return self.run / "dashboard.key"

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


def is_loopback(host: str) -> bool:
    return host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")


def backend_url(port: int) -> str:
    """A program behind nginx, as nginx and the health check reach it."""
    return f"http://{BACKEND_HOST}:{port}"


def health_urls(s: Settings) -> dict[str, str]:
    """The URL each program must answer with 200 to count as healthy (the programs
    themselves, on loopback; nginx by its own health URL)."""
    urls = {"proxy": backend_url(s.model_port) + "/nginx-health",
            "dashboard": backend_url(s.dashboard_backend_port) + "/liveness",
            "decisions": backend_url(s.decisions_backend_port) + "/health"}
    if s.tracking_ui:
        urls["tracking"] = backend_url(s.tracking_backend_port) + "/health"
    urls.update({name: backend_url(port) + "/ping" for name, port in s.replica_set})
    return urls


def public_urls(s: Settings) -> dict[str, str]:
    """The URL a person or a client uses for each program (the model URL stays on loopback
    beyond it: it has no login; clients go through the decision service)."""
    return {"tracking": s.public_url(s.tracking_port),
            "proxy": s.url(s.model_port) + "/invocations",
            "dashboard": s.public_url(s.dashboard_port) + "/app",
            "decisions": s.public_url(s.decisions_port) + "/docs",
            **{name: backend_url(port) for name, port in s.replica_set}}


def dashboard_enabled(s: Settings) -> bool:
    return Path(s.dashboard_app).is_file()
