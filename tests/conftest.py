"""Shared fixtures: paths, and the real Kaggle samples when they are present."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
REAL_DATA = ROOT.parent / "shared" / "data" / "homecredit"


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The folder of real Home Credit samples; skips the test when it is absent."""
    if not (REAL_DATA / "application_train.csv.gz").is_file():
        pytest.skip(f"real Home Credit samples not found at {REAL_DATA}")
    return REAL_DATA


@dataclass
class System:
    """A trained system on generated data: raw tables, feature store, MLflow store."""

    raw: Path
    store: Path
    tracking_uri: str
    champion: str


@pytest.fixture(scope="session")
def system(tmp_path_factory: pytest.TempPathFactory) -> System:
    """Generate 4,000 clients, build the store, train (no search) and promote a champion.

    Sets MLFLOW_TRACKING_URI for the session so every MLflow call of the tests uses it.
    """
    from scoring.store import build_store
    from training.promote import promote
    from training.run import TrainConfig, train
    from training.synthetic import generate

    root = tmp_path_factory.mktemp("system")
    raw, store = root / "raw", root / "features"
    generate(4_000, seed=7, out_dir=raw)
    build_store(raw, store)
    uri = f"sqlite:///{root / 'mlruns' / 'mlflow.db'}"
    (root / "mlruns").mkdir()
    os.environ["MLFLOW_TRACKING_URI"] = uri
    train(TrainConfig(store=store, trials=0, num_threads=1), say=lambda _: None)
    decision = promote(store)
    assert decision.promoted
    return System(raw, store, uri, decision.challenger)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running(command: list[str], url: str, env: dict[str, str], log: Path,
            timeout: float = 120.0) -> Iterator[subprocess.Popen]:
    """Run a server process until ``url`` answers, yield it, and stop it afterwards."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{command[0]} exited: {log.read_text()[-2000:]}")
            try:
                if requests.get(url, timeout=10).ok:  # a dashboard page on a busy machine
                    break
            except requests.RequestException:
                pass
            time.sleep(0.5)
        else:
            raise RuntimeError(f"{url} did not answer in {timeout:.0f} s: "
                               f"{log.read_text()[-2000:]}")
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def serve_command(model_uri: str, port: int) -> list[str]:
    """The stock MLflow model server, as a user starts it."""
    return [str(VENV_BIN / "mlflow"), "models", "serve", "-m", model_uri,
            "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)]


def server_env(tracking_uri: str) -> dict[str, str]:
    return {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri,
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


@pytest.fixture(scope="session")
def model_server(system: System, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``mlflow models serve`` of the champion on a free loopback port; yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("server") / "server.log"
    with running(serve_command("models:/credit-scoring@champion", port), f"{url}/ping",
                 server_env(system.tracking_uri), log):
        yield url
