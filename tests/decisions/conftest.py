"""The decision service in-process (FastAPI's TestClient) on a real SQLite file (or a
throwaway PostgreSQL cluster) and the session's real model server."""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from decisions.app import create_app
from decisions.config import Settings
from tests.decisions.postgres import Cluster, cluster, server_bin

API_KEY = "test-system-key"
DASHBOARD_KEY = "test-dashboard-key"
ADVISORS = {"alice": "alice-pw", "bob": "bob-pw"}
ALICE = ("alice", "alice-pw")
BOB = ("bob", "bob-pw")
SUE = ("sue", "sue-supervises")  # a supervisor
SAM = ("sam", "sam-supervises")  # another supervisor
SYSTEM = {"X-API-Key": API_KEY}
#: The dashboard's key: a system that may act for a person (X-Acting-For).
DASHBOARD = {"X-API-Key": DASHBOARD_KEY}
#: A client's login: its client id is the first test client the champion refuses.
CLIENT_LOGIN = ("carla", "carla-reads-her-file")


@pytest.fixture(scope="session", autouse=True)
def cheap_argon2() -> Iterator[None]:
    """argon2id still, with the smallest cost: the tests hash many passwords on 2 shared
    cores (the service's default, RFC 9106's profile, takes 0.1 to 1 s a hash here)."""
    from argon2 import PasswordHasher

    from decisions import users

    saved = users._HASHER, users._DUMMY
    users._HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    users._DUMMY = users._HASHER.hash("dummy")
    yield
    users._HASHER, users._DUMMY = saved


def acting_for(name: str) -> dict[str, str]:
    return {**DASHBOARD, "X-Acting-For": name}


def users_file(path: Path, client_id: int) -> Path:
    """A users file with every role: advisors alice and bob, supervisors sue and sam, a
    client carla, the system crm and the dashboard (which may act for users)."""
    from decisions.users import hash_key, hash_password

    people = {"alice": ("advisor", ALICE[1]), "bob": ("advisor", BOB[1]),
              "sue": ("supervisor", SUE[1]), "sam": ("supervisor", SAM[1]),
              "carla": ("client", CLIENT_LOGIN[1])}
    users = {name: {"password": hash_password(pw), "role": role} for name, (role, pw)
             in people.items()}
    users["carla"]["client_id"] = client_id
    path.write_text(json.dumps({
        "users": users,
        "api_keys": {"crm": {"key": hash_key(API_KEY), "role": "system"},
                     "dashboard": {"key": hash_key(DASHBOARD_KEY), "role": "system",
                                   "act_for_users": True}}}))
    return path


@pytest.fixture(scope="session")
def users_json(scored_ids, tmp_path_factory) -> Path:
    """The users file, hashed once for the session (argon2 takes its time)."""
    return users_file(tmp_path_factory.mktemp("users") / "users.json", scored_ids["refused"][0])


def service_settings(db: Path | str, model_url: str, store: Path, users: Path | None = None,
                     **changes) -> Settings:
    """Test settings; ``db`` is an SQLite file or a database URL; people from ``users``
    (a users file), else alice and bob as the older DECISIONS_ADVISORS give them."""
    url = db if isinstance(db, str) else f"sqlite:///{db}"
    if users is not None:
        return Settings(db_url=url, model_url=model_url, store=str(store),
                        users_file=str(users), **changes)
    return Settings(db_url=url, model_url=model_url, store=str(store),
                    api_keys={"crm": API_KEY}, advisors=dict(ADVISORS), **changes)


@pytest.fixture
def service(system, model_server, users_json, tmp_path) -> Iterator[TestClient]:
    """A fresh service and database (``tmp_path/decisions.db``) per test, with every role."""
    app = create_app(service_settings(tmp_path / "decisions.db", model_server, system.store,
                                      users_json))
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
