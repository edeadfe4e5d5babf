"""The decision service in-process (FastAPI's TestClient) on a real SQLite file and the
session's real model server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from decisions.app import create_app
from decisions.config import Settings

API_KEY = "test-system-key"
ADVISORS = {"alice": "alice-pw", "bob": "bob-pw"}
ALICE = ("alice", "alice-pw")
SYSTEM = {"X-API-Key": API_KEY}


def service_settings(db: Path, model_url: str, store: Path, **changes) -> Settings:
    return Settings(db_url=f"sqlite:///{db}", model_url=model_url, store=str(store),
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
