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
    MODEL_NAME,
    MODEL_PORT,
    TRACKING_PORT,
)

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
    tracking_port: int = TRACKING_PORT
    model_port: int = MODEL_PORT
    replica_ports: tuple[int, int] = (5011, 5012)
    dashboard_port: int = DASHBOARD_PORT
    #: The decision service: nginx on ``decisions_port``, uvicorn on the backend port.
    decisions_port: int = DECISIONS_PORT
    decisions_backend_port: int = DECISIONS_PORT + 10
    decisions_db: str = DEFAULT_DECISIONS_DB_URL
    store: str = "data/features"
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
        """The decision service's credentials (``prepare`` writes one when absent)."""
        return self.run / "decisions-auth.json"

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


def health_urls(s: Settings) -> dict[str, str]:
    """The URL each program must answer with 200 to count as healthy."""
    urls = {"proxy": s.url(s.model_port) + "/nginx-health",
            "dashboard": s.url(s.dashboard_port) + "/liveness",
            "decisions": s.url(s.decisions_backend_port) + "/health"}
    if s.tracking_ui:
        urls["tracking"] = s.url(s.tracking_port) + "/health"
    urls.update({name: s.url(port) + "/ping" for name, port in s.replica_set})
    return urls


def public_urls(s: Settings) -> dict[str, str]:
    """The URL a person or a client uses for each program."""
    return {"tracking": s.url(s.tracking_port), "proxy": s.url(s.model_port) + "/invocations",
            "dashboard": s.url(s.dashboard_port) + "/app",
            "decisions": s.url(s.decisions_port) + "/docs",
            **{name: s.url(port) for name, port in s.replica_set}}


def dashboard_enabled(s: Settings) -> bool:
    return Path(s.dashboard_app).is_file()
