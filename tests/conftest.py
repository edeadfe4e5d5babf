"""Shared fixtures: paths, and the real Kaggle samples when they are present."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from testkit import free_port, running, serve_command, server_env

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
REAL_DATA = ROOT.parent / "shared" / "data" / "homecredit"


#: Fixtures that start a real server (model server, services, browser): their tests are marked
#: ``server`` and left out of the fast tier (``make test-fast``).
SERVER_FIXTURES = {"model_server", "deployment", "app_url", "browser"}


#: Fixtures that train models (the session's trained system, a fresh registry): their tests
#: are marked ``slow``.
SLOW_FIXTURES = {"system", "registry"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if SERVER_FIXTURES & fixtures:
            item.add_marker(pytest.mark.server)
        if SLOW_FIXTURES & fixtures:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session", autouse=True)
def cheap_argon2() -> Iterator[None]:
    """argon2id still, with the smallest cost: the tests hash many passwords (the users files
    of the decision service and the dashboard) on 2 shared cores, where the service's default
    (RFC 9106's profile) takes 0.1 to 1 s a hash."""
    from argon2 import PasswordHasher

    from decisions import users

    saved = users._HASHER, users._DUMMY
    users._HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    users._DUMMY = users._HASHER.hash("dummy")
    yield
    users._HASHER, users._DUMMY = saved


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
    """Generate 4,000 clients, build the store, train (3 folds, no search) and promote a champion.

    Sets MLFLOW_TRACKING_URI for the session so every MLflow call of the tests uses it.
    """
    from scoring.store import build_store
    from synthetic.generator import generate
    from training.promote import promote
    from training.run import TrainConfig, train

    root = tmp_path_factory.mktemp("system")
    raw, store = root / "raw", root / "features"
    generate(4_000, seed=7, out_dir=raw)
    build_store(raw, store)
    uri = f"sqlite:///{root / 'mlruns' / 'mlflow.db'}"
    (root / "mlruns").mkdir()
    os.environ["MLFLOW_TRACKING_URI"] = uri
    train(TrainConfig(store=store, folds=3, trials=0, num_threads=1), say=lambda _: None)
    decision = promote(store)
    assert decision.promoted
    return System(raw, store, uri, decision.challenger)


@pytest.fixture(scope="session")
def model_server(system: System, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``mlflow models serve`` of the champion on a free loopback port; yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("server") / "server.log"
    with running(serve_command("models:/credit-scoring@champion", port), f"{url}/ping",
                 server_env(system.tracking_uri), log):
        yield url
