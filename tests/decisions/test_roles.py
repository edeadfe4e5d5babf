"""Each role against each route of the real service (a real SQLite file, the session's model
server): 401 without credentials, 403 where the role does not belong, and acting for a
person only with a key that may."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from decisions.app import create_app
from tests.decisions.conftest import (
    ALICE,
    CLIENT_LOGIN,
    DASHBOARD,
    SUE,
    SYSTEM,
    acting_for,
    service_settings,
)

pytestmark = pytest.mark.server

#: How each caller authenticates (keyword arguments of the TestClient's request).
CALLERS = {
    "nobody": {},
    "system": {"headers": SYSTEM},
    "advisor": {"auth": ALICE},
    "advisor via dashboard": {"headers": acting_for("alice")},
    "supervisor": {"auth": SUE},
    "supervisor via dashboard": {"headers": acting_for("sue")},
    "client": {"auth": CLIENT_LOGIN},
}
#: route -> the status each caller gets (a client asks about their own file).
MATRIX = {
    "GET /clients/{own}": dict(nobody=401, system=200, advisor=200, supervisor=200, client=200),
    "GET /clients/{own}/score": dict(nobody=401, system=200, advisor=200, supervisor=200,
                                     client=200),
    "POST /applications/score": dict(nobody=401, system=200, advisor=200, supervisor=403,
                                     client=403),
    "POST /clients/{own}/decisions": dict(nobody=401, system=403, advisor=201, supervisor=403,
                                          client=403),
    "GET /decisions": dict(nobody=401, system=403, advisor=200, supervisor=200, client=200),
    "GET /decisions?status=pending": dict(nobody=401, system=403, advisor=200, supervisor=200,
                                          client=200),
    "GET /decisions/verify": dict(nobody=401, system=403, advisor=403, supervisor=200,
                                  client=403),
    "POST /decisions/{pending}/review": dict(nobody=401, system=403, advisor=403,
                                             supervisor=201, client=403),
    "GET /access": dict(nobody=401, system=403, advisor=403, supervisor=200, client=403),
    "POST /access": dict(nobody=401, system=204, advisor=204, supervisor=204, client=204),
}
CASES = [(route, caller) for route in MATRIX for caller in CALLERS]


@pytest.fixture(scope="module")
def roles_service(system, model_server, users_json, tmp_path_factory) -> Iterator[TestClient]:
    """One service for the whole table (the routes it writes to get fresh targets)."""
    db = tmp_path_factory.mktemp("roles") / "decisions.db"
    with TestClient(create_app(service_settings(db, model_server, system.store,
                                                users_json))) as client:
        yield client


@pytest.fixture(scope="module")
def application(system, scored_ids) -> dict:
    from scoring.store import read_clients
    from tests.decisions.test_api import _application

    return _application(read_clients([scored_ids["granted"][0]], system.store).iloc[0])


def _pending_override(service: TestClient, client_id: int) -> int:
    answer = service.post(f"/clients/{client_id}/decisions", auth=ALICE,
                          json={"action": "override", "reason_code": "DATA_ERROR",
                                "reason_text": "income typed without a zero"})
    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "pending"
    return answer.json()["id"]


@pytest.mark.parametrize(("route", "caller"), CASES, ids=[f"{r} as {c}" for r, c in CASES])
def test_each_role_on_each_route(roles_service, scored_ids, application, route, caller):
    own = scored_ids["refused"][0]  # the client login's own file
    method, path = route.split(" ")
    path = path.replace("{own}", str(own))
    if "{pending}" in path:
        path = path.replace("{pending}", str(_pending_override(roles_service, own)))
    body = {"POST /applications/score": application,
            "POST /clients/{own}/decisions": {"action": "follow"},
            "POST /decisions/{pending}/review": {"verdict": "confirm", "comment": "checked"},
            "POST /access": {"client_id": own, "what": "letter"}}.get(route)
    expected = MATRIX[route][caller.removesuffix(" via dashboard")]
    answer = roles_service.request(method, path.replace("score", "score?recourse=false")
                                   if path.endswith("/score") and method == "GET" else path,
                                   json=body, **CALLERS[caller])
    assert answer.status_code == expected, answer.text
    if expected == 403:
        assert "role" in answer.json()["detail"]


def test_a_client_reads_only_their_own_file(roles_service, scored_ids):
    own, other = scored_ids["refused"][0], scored_ids["granted"][0]
    for path in (f"/clients/{other}", f"/clients/{other}/score",
                 f"/decisions?client_id={other}"):
        answer = roles_service.get(path, auth=CLIENT_LOGIN)
        assert answer.status_code == 403 and "own" in answer.json()["detail"], path
    assert roles_service.post("/access", json={"client_id": other, "what": "page"},
                              auth=CLIENT_LOGIN).status_code == 403
    roles_service.post(f"/clients/{own}/decisions", json={"action": "follow"}, auth=ALICE)
    mine = roles_service.get("/decisions", auth=CLIENT_LOGIN).json()
    assert mine["total"] >= 1 and {d["client_id"] for d in mine["decisions"]} == {own}


def test_acting_for_a_person_needs_the_right(roles_service, scored_ids):
    cid = scored_ids["refused"][1]
    url = f"/clients/{cid}/decisions"
    follow = {"action": "follow"}
    # the dashboard (act_for_users) records alice's decision: the record names both
    answer = roles_service.post(url, json=follow, headers=acting_for("alice"))
    assert answer.status_code == 201, answer.text
    assert (answer.json()["advisor"], answer.json()["via"]) == ("alice", "dashboard")
    # a key without the right cannot name anyone
    crm = roles_service.post(url, json=follow, headers={**SYSTEM, "X-Acting-For": "alice"})
    assert crm.status_code == 403 and "act_for_users" in crm.json()["detail"]
    # nobody unknown or disabled, and no naming someone else with a password
    ghost = roles_service.post(url, json=follow, headers=acting_for("mallory"))
    assert ghost.status_code == 403 and "mallory" in ghost.json()["detail"]
    person = roles_service.post(url, json=follow, auth=ALICE, headers={"X-Acting-For": "bob"})
    assert person.status_code == 403
    # the key alone is a system: it may score, not decide
    assert roles_service.post(url, json=follow, headers=DASHBOARD).status_code == 403
    # an advisor lists their own decisions, or one client's, not a colleague's
    theirs = roles_service.get("/decisions", params={"advisor": "bob"}, auth=ALICE)
    assert theirs.status_code == 403
    mine = roles_service.get("/decisions", auth=ALICE).json()
    assert mine["total"] >= 1 and {d["advisor"] for d in mine["decisions"]} == {"alice"}
