"""The decision service in-process (FastAPI's TestClient) on a real SQLite file (or a
throwaway PostgreSQL cluster) and the session's real model server."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from decisions.app import create_app
from decisions.config import Settings
from tests.decisions.postgres import Cluster, cluster, server_bin

API_KEY = "test-system-key"
ADVISORS = {"alice": "alice-pw", "bob": "bob-pw"}
ALICE = ("alice", "alice-pw")
SYSTEM = {"X-API-Key": API_KEY}


def service_settings(db: Path | str, model_url: str, store: Path, **changes) -> Settings:
    """Test settings; ``db`` is an SQLite file or a database URL."""
    url = db if isinstance(db, str) else f"sqlite:///{db}"
    return Settings(db_url=url, model_url=model_url, store=str(store),
                    api_keys={"crm": API_KEY}, advisors=dict(ADVISORS), **changes)


@pytest.fixture
def service(system, model_server, tmp_path) -> Iterator[TestClient]:
    """A fresh service and database (``tmp_path/decisions.db``) per test."""
    app = create_app(service_settings(tmp_path / "decisions.db", model_server, system.store))
    with TestClient(app) as client:
        yield client


@pytest.fixture(scope="session")
def scored_ids(system, model_server) -> dict[str, list[int]]:
    """Test clients the champion grants and refuses (a few of each)."""
    from scoring.store import client_ids, read_clients
    from serving.client import ScoringClient

    ids = client_ids(system.store, "test")[:60]
    rows = read_clients(ids, system.store).drop(columns=["TARGET", "DATASET"])
    scores = ScoringClient(model_server).score(rows, explain="none")
    out: dict[str, list[int]] = {"granted": [], "refused": []}
    for cid, s in zip(ids, scores, strict=True):
        out[s.decision].append(int(cid))
    assert out["granted"] and out["refused"], out
    return out


@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster]:
    """A PostgreSQL cluster for the session; skipped when its binaries are missing (CI
    installs them: then their absence is a failure)."""
    bin_dir = server_bin()
    if bin_dir is None:
        reason = ("PostgreSQL server binaries not found (initdb, pg_ctl in "
                  "/usr/lib/postgresql/*/bin, PG_BIN or PATH): apt-get install postgresql")
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    with cluster(bin_dir) as running:
        yield running


_DATABASES = itertools.count(1)


@pytest.fixture
def pg_url(postgres: Cluster) -> str:
    """A fresh, empty database owned by the service's role; its URL."""
    return postgres.create_database(f"decisions_{next(_DATABASES)}")
