"""The decision service as `scoring up` runs it: behind nginx, restarted by supervisord."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
import requests
from sqlalchemy.orm import Session

from decisions import record
from decisions.database import make_engine
from ops import supervisor
from scoring.store import client_ids

pytestmark = pytest.mark.server


def _wait(condition, timeout: float) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            pytest.fail(f"condition not met in {timeout:.0f} s")
        time.sleep(0.2)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=3).ok
    except requests.RequestException:
        return False


def test_killed_decision_service_restarts_and_keeps_every_acknowledged_decision(
        deployment, system):
    auth = json.loads(deployment.decisions_auth.read_text())
    key = {"X-API-Key": auth["api_keys"]["ops"]}
    # the first advisor `scoring up` created on loopback, with its password shown once
    logins = (deployment.run / "first-logins.txt").read_text().splitlines()
    name, password = next(line.split(": ") for line in logins if "(advisor)" in line)
    advisor = (name.split(" ")[0], password)
    url = deployment.url(deployment.decisions_port)
    cid = client_ids(system.store, "test")[0]

    score = requests.get(f"{url}/clients/{cid}/score", headers=key, timeout=60)
    assert score.status_code == 200, score.text
    # the replicas say which version they serve
    assert score.json()["model"]["version"] == supervisor.replica_version(deployment, "model-1")
    first = requests.post(f"{url}/clients/{cid}/decisions", json={"action": "follow"},
                          auth=advisor, timeout=60)
    assert first.status_code == 201, first.text

    rpc = supervisor.rpc(deployment.run).supervisor
    pid = rpc.getProcessInfo("decisions")["pid"]
    os.kill(pid, signal.SIGKILL)
    _wait(lambda: rpc.getProcessInfo("decisions")["pid"] not in (0, pid)
          and _answers(f"{url}/health"), 90)

    second = requests.post(f"{url}/clients/{cid}/decisions", json={"action": "follow"},
                           auth=advisor, timeout=60)
    assert second.status_code == 201, second.text
    # an advisor reads a client's decisions (listing them all, and verifying, is for
    # supervisors: the record itself is checked below)
    listed = requests.get(f"{url}/decisions", params={"client_id": cid}, auth=advisor,
                          timeout=30).json()
    hashes = {d["id"]: d["record_hash"] for d in listed["decisions"]}
    assert hashes[first.json()["id"]] == first.json()["record_hash"]
    assert hashes[second.json()["id"]] == second.json()["record_hash"]
    engine = make_engine(deployment.decisions_db)
    with Session(engine) as session:
        verify = record.verify(session)
    engine.dispose()
    assert verify.ok and verify.records == len(hashes)
    # leave the shared deployment as found: supervisord calls the restart RUNNING after startsecs
    _wait(lambda: rpc.getProcessInfo("decisions")["statename"] == "RUNNING", 30)
